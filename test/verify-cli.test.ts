// verify through bin/, as a user runs it: on the reference server, on a shop
// with its own schema and API, on merged shards, and every way it can be
// called wrong.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { freshSqliteUrl } from './helpers/databases.js';
import { startForeignShop } from './helpers/foreign-server.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-verify-'));

async function attack(args: string[]): Promise<void> {
  const run = await runCli(['attack', '--processes', '2', ...args]);
  assert.equal(run.code, 0, run.stderr);
}

describe('verify on the reference server', () => {
  const url = freshSqliteUrl();
  const history = join(scratch, 'reference.jsonl');
  let server: ServeProcess;

  before(async () => {
    server = await startServe(['--db', url, '--stock', '50']);
    await attack(['--target', `${server.url}/buy`, '--buyers', '300', '--history', history]);
  });
  after(async () => {
    await server?.stop();
  });

  test('every check passes and the exit code is 0', async () => {
    const run = await runCli(['verify', '--history', history, '--db', url]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (const id of ['H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'E1']) assert.match(run.stdout, new RegExp(`${id} [a-z-]+ +│ PASS`));
    assert.match(run.stdout, /verdict: PASS: 13 of 13 applicable checks passed, none failed/);
  });

  test('--json is the whole verdict and --junit one test case per check', async () => {
    const junit = join(scratch, 'reference.xml');
    const run = await runCli(['verify', '--history', history, '--db', url, '--json', '--junit', junit]);
    assert.equal(run.code, 0, run.stderr);
    const verdict = JSON.parse(run.stdout);
    assert.equal(verdict.status, 'PASS');
    assert.equal(verdict.checks.length, 13);
    assert.equal(verdict.inputs.ok, 50);
    const xml = readFileSync(junit, 'utf8');
    assert.equal(xml.match(/<testcase /g)?.length, 13);
    assert.match(xml, /failures="0"/);
  });

  test('without --db the verdict is INCONCLUSIVE (exit 3) and names --db; --history-only accepts that (exit 0)', async () => {
    const run = await runCli(['verify', '--history', history, '--initial-stock', '50']);
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, /verdict: INCONCLUSIVE: 6 of 13 checks could not run \(D1 D2 D3 D4 D5 D6\): the database was not read; give --db to decide them/);
    assert.match(run.stdout, /D2 conservation +│ UNKNOWN/);
    const strict = await runCli(['verify', '--history', history, '--initial-stock', '50', '--strict']);
    assert.equal(strict.code, 1);
    const historyOnly = await runCli(['verify', '--history', history, '--initial-stock', '50', '--history-only']);
    assert.equal(historyOnly.code, 0, historyOnly.stdout + historyOnly.stderr);
    assert.match(historyOnly.stdout, /verdict: PASS \(history only\): 7 of 7 applicable checks passed/);
  });

  test('shards of one machine merge exactly; shards of two machines skip the real-time checks', async () => {
    // Op lines only: an end line speaks for the whole run, not for a shard of it.
    const [meta, ...ops] = readFileSync(history, 'utf8').trim().split('\n').filter((line) => !line.startsWith('{"kind":"end"'));
    const half = Math.floor(ops.length / 2);
    const first = join(scratch, 'shard-a.jsonl');
    const second = join(scratch, 'shard-b.jsonl');
    writeFileSync(first, [meta, ...ops.slice(0, half)].join('\n') + '\n');
    writeFileSync(second, [meta, ...ops.slice(half)].join('\n') + '\n');
    const merged = await runCli(['verify', '--history', first, second, '--db', url]);
    assert.equal(merged.code, 0, merged.stdout);
    assert.match(merged.stdout, /H4 realtime-order +│ PASS/);

    const elsewhere = meta!.replace(/"host_id":"[^"]*"/, '"host_id":"other-machine/boot"');
    writeFileSync(second, [elsewhere, ...ops.slice(half)].join('\n') + '\n');
    const apart = await runCli(['verify', '--history', first, second, '--db', url]);
    assert.equal(apart.code, 0, apart.stdout);
    assert.match(apart.stdout, /H4 realtime-order +│ N\/A +│ real time cannot be compared: merged shards come from 2 machines/);
  });

  test('unknown outcomes fail E1 unless --max-errors allows them', async () => {
    const lines = readFileSync(history, 'utf8').trim().split('\n');
    const soldOutLine = lines.findIndex((line) => line.includes('"outcome":"sold_out"'));
    lines[soldOutLine] = lines[soldOutLine]!.replace('"type":"fail","outcome":"sold_out"', '"type":"info","outcome":"timeout"').replace(/"status":410/, '"status":null');
    const withTimeout = join(scratch, 'with-timeout.jsonl');
    writeFileSync(withTimeout, lines.join('\n') + '\n');
    const strict = await runCli(['verify', '--history', withTimeout, '--db', url]);
    assert.equal(strict.code, 1, strict.stdout);
    assert.match(strict.stdout, /E1 error-budget +│ FAIL/);
    const allowed = await runCli(['verify', '--history', withTimeout, '--db', url, '--max-errors', '1']);
    assert.equal(allowed.code, 0, allowed.stdout);
  });
});

describe('verify on a shop with its own schema and API', () => {
  for (const safe of [true, false]) {
    test(`${safe ? 'a safe shop passes' : 'a shop that loses updates fails'} with the user's SQL`, async () => {
      const dbPath = join(mkdtempSync(join(scratch, 'shop-')), 'shop.db');
      const shop = await startForeignShop(dbPath, 40, safe);
      const history = join(scratch, `shop-${safe}.jsonl`);
      try {
        await attack([
          '--target', shop.url, '--buyers', '200',
          '--body', '{"customer":"{{buyer}}","ref":"{{request_id}}"}',
          '--ok-body', '"ok":true', '--sold-out-body', '"reason":"gone"',
          '--remaining-field', 'order.left', '--purchase-id-field', '',
          '--history', history,
        ]);
      } finally {
        await shop.close();
      }
      const run = await runCli([
        'verify', '--history', history, '--db', `sqlite:${dbPath}`, '--initial-stock', '40',
        '--stock-sql', "SELECT seats_left FROM shows WHERE name = 'gala'",
        '--ledger-sql', 'SELECT booking_no AS id, ref AS request_id, seats AS quantity, left_after AS stock_after FROM bookings',
      ]);
      if (safe) {
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /verdict: PASS: 13 of 13/);
      } else {
        assert.equal(run.code, 1, run.stdout + run.stderr);
        assert.match(run.stdout, /H2 duplicate-remaining +│ FAIL/);
        assert.match(run.stdout, /one decrement was lost/);
      }
    });
  }

  test('a ledger with nothing to join on leaves the joined checks N/A, says why, and does not block', async () => {
    const dbPath = join(mkdtempSync(join(scratch, 'shop-')), 'shop.db');
    const shop = await startForeignShop(dbPath, 10, true);
    const history = join(scratch, 'shop-no-ids.jsonl');
    try {
      await attack(['--target', shop.url, '--buyers', '30', '--body', '{"customer":"{{buyer}}","ref":"{{request_id}}"}', '--ok-body', '"ok":true', '--sold-out-body', 'gone', '--remaining-field', 'order.left', '--history', history]);
    } finally {
      await shop.close();
    }
    const run = await runCli(['verify', '--history', history, '--db', `sqlite:${dbPath}`, '--initial-stock', '10', '--stock-sql', 'SELECT seats_left FROM shows', '--ledger-sql', 'SELECT seats AS quantity FROM bookings']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /D3 ledger-vs-responses +│ N\/A +│ nothing to join the ledger to the answers on: the ledger has no request_id column/);
    assert.match(run.stdout, /verdict: PASS: 10 of 10 applicable checks passed, none failed; 3 N\/A \(D3 D4 D6\)/);
    assert.match(run.stdout, /D2 conservation +│ PASS/);
  });
});

describe('verify called wrong: one line, exit 2', () => {
  const assertUsage = (run: { code: number | null; stderr: string }, pattern: RegExp) => {
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, pattern);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  };
  test('a missing history file', async () => assertUsage(await runCli(['verify', '--history', join(scratch, 'nope.jsonl')]), /nope\.jsonl.*ENOENT/));
  test('a malformed line is reported with its line number', async () => {
    const file = join(scratch, 'broken.jsonl');
    writeFileSync(file, '{"kind":"meta","schema":"flashsale-history/1","target":"http://x/buy","buyers":2,"started_at":"2026-01-01T00:00:00Z"}\n{"kind":"op"\n');
    assertUsage(await runCli(['verify', '--history', file]), /broken\.jsonl:2/);
  });
  test('a file that is not a history', async () => {
    const file = join(scratch, 'other.jsonl');
    writeFileSync(file, '{"hello":"world"}\n');
    assertUsage(await runCli(['verify', '--history', file]), /not a flashsale history/);
  });
  test('an unreachable database', async () => {
    const file = join(scratch, 'empty-run.jsonl');
    writeFileSync(file, '{"kind":"meta","schema":"flashsale-history/1","target":"http://x/buy","buyers":0,"started_at":"2026-01-01T00:00:00Z"}\n');
    assertUsage(await runCli(['verify', '--history', file, '--db', 'postgres://postgres@127.0.0.1:1/test']), /cannot reach postgres/);
  });
  test('SQL that fails', async () => {
    const file = join(scratch, 'empty-run.jsonl');
    // verify never creates a database, so this one must exist (and be empty).
    const url = freshSqliteUrl();
    new Database(url.slice('sqlite:'.length)).close();
    assertUsage(await runCli(['verify', '--history', file, '--db', url, '--stock-sql', 'SELECT x FROM nowhere']), /--stock-sql failed: no such table: nowhere/);
  });
});
