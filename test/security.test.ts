// Secrets and the admin route: no password or token is ever printed (through
// the real bin/, stdout, stderr and --help), POST /reset refuses what a web
// page on another site can send, and the admin token is checked without
// telling its length.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { maskPassword, maskUrlsIn, parseDatabaseUrl } from '../adapters/url.js';
import { authorizeAdmin, refuseCrossSite, sameSecret, type AdminRequest } from '../reference-server/admin-guard.js';
import { runCli, startServe, type CliRun, type ServeProcess } from './helpers/cli.js';
import { freshSqliteUrl, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';

const SECRET = 'Hunter2Secret';

function assertNeverPrinted(run: CliRun, secret: string, context: string): void {
  assert.ok(!run.stdout.includes(secret), `${context}: stdout shows the secret:\n${run.stdout}`);
  assert.ok(!run.stderr.includes(secret), `${context}: stderr shows the secret:\n${run.stderr}`);
}

describe('maskPassword', () => {
  const cases: Array<[string, string]> = [
    ['postgres://u:Hunter2Secret@db.example:5432/x', 'postgres://u:***@db.example:5432/x'],
    ['postgres://u@db.example/x', 'postgres://u@db.example/x'],
    // A raw / or @ or ? in the password: the URL does not parse, the mask still holds.
    ['postgres://u:Hun/ter2Secret@db.example/x', 'postgres://u:***@db.example/x'],
    ['mysql://u:Hun@ter2@Secret@db.example/x', 'mysql://u:***@db.example/x'],
    ['mysql://u:Hun?ter#2Secret@db.example/x', 'mysql://u:***@db.example/x'],
    ['postgres://:Hunter2Secret@db.example/x', 'postgres://:***@db.example/x'],
    // Passwords in the query string.
    ['postgres://u@db.example/x?password=Hunter2Secret', 'postgres://u@db.example/x?password=***'],
    ['mysql://u@db.example/x?ssl=true&password=Hunter2Secret&charset=utf8mb4', 'mysql://u@db.example/x?ssl=true&password=***&charset=utf8mb4'],
    ['postgres://u@db.example/x?sslpassword=Hunter2Secret', 'postgres://u@db.example/x?sslpassword=***'],
    ['postgres://u@db.example/x?PASSWORD=Hunter2Secret', 'postgres://u@db.example/x?PASSWORD=***'],
    ['postgres://u:a@db.example/x?password=Hunter2Secret', 'postgres://u:***@db.example/x?password=***'],
    // No scheme separator: the whole userinfo is the secret.
    ['u:Hunter2Secret@db.example/x', 'u:***@db.example/x'],
    ['sqlite:./shop@home.db', 'sqlite:./shop@home.db'],
  ];
  for (const [url, masked] of cases) {
    test(`${url} → ${masked}`, () => {
      assert.equal(maskPassword(url), masked);
      assert.ok(!maskPassword(url).includes('Secret'));
      assert.equal(maskPassword(masked), masked, 'masking twice changes nothing');
    });
  }

  test('maskUrlsIn masks every URL in a sentence and keeps the punctuation around it', () => {
    assert.equal(
      maskUrlsIn('cannot reach postgres://u@h/x?password=Hunter2Secret: refused; also "mysql://r:Hunter2Secret@h/y".'),
      'cannot reach postgres://u@h/x?password=***: refused; also "mysql://r:***@h/y".',
    );
  });

  test('a malformed URL is refused with the password masked and a hint, before any driver sees it', () => {
    for (const url of ['postgres://u:Hun/ter2Secret@127.0.0.1/x', 'mysql://u:Hunter2%zzSecret@127.0.0.1/x']) {
      assert.throws(() => parseDatabaseUrl(url), (error: Error) => !error.message.includes('Secret') && /percent-encoded/.test(error.message));
    }
  });
});

describe('no password reaches the terminal through bin/', () => {
  const leaks: Array<[string, string[]]> = [
    ['a raw / in a PostgreSQL password', ['serve', '--db', `postgres://postgres:ab/${SECRET}@127.0.0.1:1/test`]],
    ['a raw / in a MySQL password', ['reset', '--db', `mysql://root:ab/${SECRET}@127.0.0.1:1/test`]],
    ['a raw @ in a PostgreSQL password', ['serve', '--db', `postgres://postgres:ab@${SECRET}@127.0.0.1:1/test`]],
    ['a raw @ in a MySQL password', ['serve', '--db', `mysql://root:ab@${SECRET}@127.0.0.1:1/test`]],
    ['?password= on PostgreSQL', ['serve', '--db', `postgres://postgres@127.0.0.1:1/test?password=${SECRET}`]],
    ['?password= on MySQL', ['serve', '--db', `mysql://root@127.0.0.1:1/test?password=${SECRET}`]],
    ['a malformed %-escape in a MySQL password', ['serve', '--db', `mysql://root:%zz${SECRET}@127.0.0.1:1/test`]],
    ['a URL without a scheme', ['serve', '--db', `root:${SECRET}@127.0.0.1/test`]],
    ['verify of an unreachable database', ['verify', '--history', '/nonexistent/history.jsonl', '--db', `postgres://postgres:${SECRET}@127.0.0.1:1/test`]],
    ['prove on an unreachable database', ['prove', '--db', `mysql://root:${SECRET}@127.0.0.1:1/test`, '--stock', '1']],
  ];
  for (const [name, args] of leaks) {
    test(`${name}: one line, exit 2, no secret`, async () => {
      const run = await runCli(args);
      assertNeverPrinted(run, SECRET, name);
      assert.notEqual(run.code, 0);
      assert.doesNotMatch(run.stderr, /internal error|\n\s+at /, 'no stack trace');
    });
  }

  for (const command of ['serve', 'reset']) {
    test(`${command} --help shows DATABASE_URL masked and never the admin token`, async () => {
      const run = await runCli([command, '--help'], {
        env: { DATABASE_URL: `postgres://postgres:${SECRET}@db.example/test?password=${SECRET}`, FLASHSALE_ADMIN_TOKEN: `tok-${SECRET}` },
      });
      assert.equal(run.code, 0);
      assertNeverPrinted(run, SECRET, `${command} --help`);
      const help = run.stdout.replace(/\s+/g, ' '); // commander wraps long defaults
      assert.match(help, /\$DATABASE_URL: postgres:\/\/postgres:\*\*\*@db\.example\/test\?password=\*\*\*/);
      if (command === 'serve') assert.match(help, /\$FLASHSALE_ADMIN_TOKEN \(set\)/);
    });
  }

  test('serve --help without the variables shows the built-in defaults', async () => {
    const env = { DATABASE_URL: '', FLASHSALE_ADMIN_TOKEN: '' };
    const run = await runCli(['serve', '--help'], { env });
    assert.match(run.stdout.replace(/\s+/g, ' '), /default: "?sqlite:\.\/flashsale\.db"?\)/);
    assert.doesNotMatch(run.stdout, /FLASHSALE_ADMIN_TOKEN \(set\)/);
  });

  const pg = process.env.FLASHSALE_PG_URL;
  test('a served PostgreSQL URL with passwords (trust auth accepts any) is masked in the banner and in reset', { skip: !pg && 'set FLASHSALE_PG_URL' }, async () => {
    const withSecrets = pg!.replace('://postgres@', `://postgres:${SECRET}@`) + `?password=${SECRET}`;
    assert.ok(withSecrets.includes(SECRET), 'FLASHSALE_PG_URL has the postgres@ form');
    const sku = uniqueSku('mask');
    const server = await startServe(['--db', withSecrets, '--sku', sku, '--stock', '3', '--admin-token', `tok-${SECRET}`]);
    const stopped = await server.stop();
    assertNeverPrinted(stopped, SECRET, 'serve banner');
    assert.match(stopped.stdout, /database {2}postgres:\/\/postgres:\*\*\*@.*\?password=\*\*\*/);
    const reset = await runCli(['reset', '--db', withSecrets, '--sku', sku]);
    assert.equal(reset.code, 0, reset.stderr);
    assertNeverPrinted(reset, SECRET, 'reset');
    assert.match(reset.stdout, /on postgres:\/\/postgres:\*\*\*@/);
  });
  test('verify\'s source line and prove\'s table show a PostgreSQL URL with passwords masked', { skip: !pg && 'set FLASHSALE_PG_URL' }, async () => {
    const withSecrets = pg!.replace('://postgres@', `://postgres:${SECRET}@`) + `?password=${SECRET}`;
    const sku = uniqueSku('mask');
    const server = await startServe(['--db', withSecrets, '--sku', sku, '--stock', '5']);
    const history = join(mkdtempSync(join(tmpdir(), 'flashsale-mask-')), 'history.jsonl');
    try {
      const attack = await runCli(['attack', '--target', `${server.url}/buy`, '--buyers', '8', '--processes', '1', '--body', `{"sku":"${sku}","buyer_id":"{{buyer}}"}`, '--history', history]);
      assert.equal(attack.code, 0, attack.stderr);
    } finally {
      await server.stop();
    }
    for (const format of [[], ['--json']]) {
      const verify = await runCli(['verify', '--history', history, '--db', withSecrets, '--sku', sku, ...format]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assertNeverPrinted(verify, SECRET, `verify ${format}`);
      // The JSON verdict names its source; the table does not print it at all.
      if (format.length) assert.match(verify.stdout, /postgres:\/\/postgres:\*\*\*@/);
    }

    const prove = await runCli(['prove', '--db', withSecrets, '--stock', '3', '--buyers', '6', '--processes', '1', '--workers', '2']);
    assertNeverPrinted(prove, SECRET, 'prove');
    assert.match(prove.stdout + prove.stderr, /postgres:\/\/postgres:\*\*\*@/);
  });
});

describe('POST /reset refuses cross-site requests', () => {
  const sku = uniqueSku('xsite');
  let server: ServeProcess;
  let client: Client;
  const stock = async () => (await client.inventory(sku)).body.current_stock as number;

  before(async () => {
    server = await startServe(['--db', freshSqliteUrl(), '--sku', sku, '--stock', '10']);
    client = new Client(server.url, 4);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  const refused: Array<[string, number, Record<string, string>, string | undefined]> = [
    ['a urlencoded form', 415, { 'content-type': 'application/x-www-form-urlencoded' }, 'stock=0'],
    ['an empty urlencoded form', 415, { 'content-type': 'application/x-www-form-urlencoded' }, undefined],
    ['a multipart form', 415, { 'content-type': 'multipart/form-data; boundary=z' }, '--z\r\nContent-Disposition: form-data; name="stock"\r\n\r\n0\r\n--z--\r\n'],
    ['text/plain JSON', 415, { 'content-type': 'text/plain' }, '{"stock":0}'],
    ['JSON from a foreign Origin', 403, { 'content-type': 'application/json', origin: 'https://shop.evil.example' }, '{"stock":0}'],
    ['JSON from a foreign Origin on the same port', 403, { 'content-type': 'application/json', origin: 'http://evil.example:3000' }, '{"stock":0}'],
  ];
  for (const [name, status, headers, body] of refused) {
    test(`${name} → ${status}, nothing reset`, async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 10 } });
      await client.buy({});
      const answer = await client.call({ method: 'POST', path: '/reset', headers, body: body ?? '' });
      assert.equal(answer.status, status, answer.text);
      assert.equal(answer.body.success, false);
      assert.equal(await stock(), 9);
    });
  }

  const allowed: Array<[string, Record<string, string>, string | undefined, number]> = [
    ['JSON from the server\'s own loopback origin', { 'content-type': 'application/json' }, '{"stock":4}', 4],
    ['JSON from a localhost origin', { 'content-type': 'application/json', origin: 'http://localhost:5173' }, '{"stock":5}', 5],
    ['no body and no content type (curl -X POST)', {}, undefined, 10],
    ['an empty body declared JSON', { 'content-type': 'application/json' }, '', 10],
  ];
  for (const [name, headers, body, expected] of allowed) {
    test(`${name} → 200, reset`, async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 10 } });
      await client.buy({});
      const own = new URL(server.url).origin;
      const answer = await client.call({ method: 'POST', path: '/reset', headers: { origin: own, ...headers }, body });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(await stock(), expected);
    });
  }
});

describe('the admin token', () => {
  const TOKEN = 'tok-3f9a1c77e2';
  const remote = (headers: Record<string, string>, remoteAddress = '10.0.0.7'): AdminRequest => ({
    headers,
    method: 'POST',
    url: '/reset',
    socket: { remoteAddress },
  });

  test('the right token lets a non-loopback client in; wrong, shorter, longer, empty and absent tokens do not', () => {
    assert.equal(authorizeAdmin(remote({ authorization: `Bearer ${TOKEN}` }), TOKEN), true);
    assert.equal(authorizeAdmin(remote({ authorization: `bearer ${TOKEN}` }), TOKEN), true);
    const refusedTokens = [
      TOKEN.replace(/.$/, 'x'),
      TOKEN.slice(0, -1),
      TOKEN.slice(0, 1),
      `${TOKEN}x`,
      `${TOKEN}${TOKEN}`,
      ` ${TOKEN}`,
      TOKEN.toUpperCase(),
    ];
    for (const presented of refusedTokens) {
      assert.throws(() => authorizeAdmin(remote({ authorization: `Bearer ${presented}` }), TOKEN), { code: 'FS_FORBIDDEN' }, presented);
    }
    assert.throws(() => authorizeAdmin(remote({ authorization: 'Bearer ' }), TOKEN), { code: 'FS_FORBIDDEN' });
    assert.throws(() => authorizeAdmin(remote({ authorization: TOKEN }), TOKEN), { code: 'FS_FORBIDDEN' });
    assert.throws(() => authorizeAdmin(remote({}), TOKEN), { code: 'FS_FORBIDDEN' });
    // No token configured: nobody gets in from elsewhere, whatever they present.
    assert.throws(() => authorizeAdmin(remote({ authorization: 'Bearer undefined' }), undefined), { code: 'FS_FORBIDDEN' });
    assert.throws(() => authorizeAdmin(remote({ authorization: 'Bearer ' }), ''), { code: 'FS_FORBIDDEN' });
  });

  test('loopback is let in without a token, IPv4, IPv6 and IPv4-mapped', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(authorizeAdmin(remote({}, address), TOKEN), false, address);
    assert.throws(() => authorizeAdmin(remote({}, '::ffff:10.0.0.7'), TOKEN), { code: 'FS_FORBIDDEN' });
  });

  test('sameSecret compares values, whatever their lengths', () => {
    assert.equal(sameSecret(TOKEN, TOKEN), true);
    assert.equal(sameSecret(TOKEN, `${TOKEN} `), false);
    assert.equal(sameSecret('', TOKEN), false);
    assert.equal(sameSecret('é', 'e\u0301'), false);
  });

  test('with the token, the server\'s own origin is allowed; without it, only loopback origins (DNS rebinding)', () => {
    const fromBrowser = (origin: string, host: string) => remote({ origin, host });
    assert.doesNotThrow(() => refuseCrossSite(fromBrowser('https://sale.example:8443', 'sale.example:8443'), true));
    assert.throws(() => refuseCrossSite(fromBrowser('https://sale.example:8443', 'sale.example:8443'), false), { code: 'FS_CROSS_SITE' });
    assert.throws(() => refuseCrossSite(fromBrowser('https://other.example', 'sale.example:8443'), true), { code: 'FS_CROSS_SITE' });
    for (const origin of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://app.localhost']) {
      assert.doesNotThrow(() => refuseCrossSite(fromBrowser(origin, '127.0.0.1:3000'), false), origin);
    }
    for (const origin of ['null', 'file://', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'garbage']) {
      assert.throws(() => refuseCrossSite(fromBrowser(origin, '127.0.0.1:3000'), false), { code: 'FS_CROSS_SITE' }, origin);
    }
  });
});
