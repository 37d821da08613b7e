// Hostile and malformed input, on every database: each request below must get
// its 4xx and a JSON error, change neither the stock nor the ledger, and leave
// the server answering the next good purchase. The cases are what a fuzzer, a
// careless script or a web page on another site would send.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, type Answer, type Call } from './helpers/http.js';
import { rawCall, type RawCall } from './helpers/raw-http.js';
import { comparable, readStateWith } from './helpers/store.js';

interface BadInput {
  name: string;
  status: number;
  /** The JSON `error` word the answer must carry. */
  error: string;
  send: (sku: string) => Call | { raw: RawCall };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const buy = (body: unknown, headers: Record<string, string> = {}): Call => ({ method: 'POST', path: '/buy', body, headers });
const buyText = (body: string, contentType?: string): Call => ({ method: 'POST', path: '/buy', body, headers: contentType ? { 'content-type': contentType } : {} });
const reset = (body: unknown, headers: Record<string, string> = {}): Call => ({ method: 'POST', path: '/reset', body, headers });
const rawBuy = (body: Buffer | string, headers: Array<[string, string]> = [['Content-Type', 'application/json']]) => ({ raw: { method: 'POST', path: '/buy', headers, body } });
const nested = (depth: number) => '{"sku":'.repeat(depth) + '"A"' + '}'.repeat(depth);

const BAD_INPUTS: BadInput[] = [
  // Not JSON, or JSON that is not an object.
  { name: 'malformed JSON', status: 400, error: 'invalid_request', send: () => buyText('{"quantity": 1', 'application/json') },
  { name: 'a JSON array', status: 400, error: 'invalid_request', send: () => buy([1]) },
  { name: 'JSON null', status: 400, error: 'invalid_request', send: () => buyText('null', 'application/json') },
  { name: 'a JSON string', status: 400, error: 'invalid_request', send: () => buyText('"buy"', 'application/json') },
  { name: 'a JSON number', status: 400, error: 'invalid_request', send: () => buyText('42', 'application/json') },
  { name: 'JSON true', status: 400, error: 'invalid_request', send: () => buyText('true', 'application/json') },
  { name: 'trailing garbage after the object', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}"} x`, 'application/json') },
  { name: 'two JSON objects', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}"}{"sku":"${sku}"}`, 'application/json') },
  { name: 'single-quoted pseudo-JSON', status: 400, error: 'invalid_request', send: (sku) => buyText(`{'sku':'${sku}'}`, 'application/json') },
  { name: 'a raw NUL byte inside a string', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","buyer_id":"a\u0000b"}`, 'application/json') },
  { name: 'bytes that are not UTF-8', status: 400, error: 'invalid_request', send: (sku) => rawBuy(Buffer.concat([Buffer.from(`{"sku":"${sku}","buyer_id":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])) },
  { name: 'nesting 2000 deep', status: 400, error: 'invalid_request', send: () => buyText(nested(2000), 'application/json') },
  { name: 'an array nested 5000 deep', status: 400, error: 'invalid_request', send: () => buyText('['.repeat(5000) + ']'.repeat(5000), 'application/json') },
  // quantity
  { name: 'quantity 0', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: 0 }) },
  { name: 'quantity negative', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: -3 }) },
  { name: 'quantity -1', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: -1 }) },
  { name: 'quantity fractional', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: 1.5 }) },
  { name: 'quantity absurdly large', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: 1e12 }) },
  { name: 'quantity one over the limit', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: 1001 }) },
  { name: 'quantity beyond 2^53', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","quantity":9007199254740993}`, 'application/json') },
  { name: 'quantity 1e400 (Infinity)', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","quantity":1e400}`, 'application/json') },
  { name: 'quantity -0.0000001', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","quantity":-1e-7}`, 'application/json') },
  { name: 'quantity as a string', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: '1' }) },
  { name: 'quantity null', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: null }) },
  { name: 'quantity true', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: true }) },
  { name: 'quantity as an array', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: [1] }) },
  { name: 'quantity as an object', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, quantity: { n: 1 } }) },
  // buyer ids
  { name: 'buyer_id as an object', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: { a: 1 } }) },
  { name: 'buyer_id null', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: null }) },
  { name: 'buyer_id true', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: true }) },
  { name: 'buyer_id negative number', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: -1 }) },
  { name: 'buyer_id fractional number', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: 1.5 }) },
  { name: 'buyer_id beyond 2^53', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: 2 ** 60 }) },
  { name: 'empty buyer_id', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: '' }) },
  { name: 'buyer_id with NUL', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: 'a\u0000b' }) },
  { name: 'buyer_id with a lone high surrogate', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","buyer_id":"x\\ud800y"}`, 'application/json') },
  { name: 'buyer_id with a lone low surrogate', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}","buyer_id":"\\udc00"}`, 'application/json') },
  { name: 'buyer_id too long', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: 'x'.repeat(201) }) },
  { name: 'customer_id as an object', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, customer_id: { id: 7 } }) },
  { name: 'conflicting buyer_id and customer_id', status: 400, error: 'invalid_request', send: (sku) => buy({ sku, buyer_id: 'a', customer_id: 'b' }) },
  // skus: wrong types, and names that are almost the item's
  { name: 'sku as a number', status: 400, error: 'invalid_request', send: () => buy({ sku: 7 }) },
  { name: 'sku null', status: 400, error: 'invalid_request', send: () => buy({ sku: null }) },
  { name: 'sku as an array', status: 400, error: 'invalid_request', send: (sku) => buy({ sku: [sku] }) },
  { name: 'empty sku', status: 400, error: 'invalid_request', send: () => buy({ sku: '' }) },
  { name: 'sku too long', status: 400, error: 'invalid_request', send: () => buy({ sku: 'S'.repeat(65) }) },
  { name: 'sku with NUL', status: 400, error: 'invalid_request', send: (sku) => buy({ sku: `${sku}\u0000` }) },
  { name: 'sku with a lone surrogate', status: 400, error: 'invalid_request', send: (sku) => buyText(`{"sku":"${sku}\\ud83d"}`, 'application/json') },
  { name: 'unknown sku', status: 404, error: 'unknown_sku', send: () => buy({ sku: `nope-${randomUUID()}` }) },
  { name: 'sku with a trailing space', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku} ` }) },
  { name: 'sku with two trailing spaces', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku}  ` }) },
  { name: 'sku with a leading space', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: ` ${sku}` }) },
  { name: 'sku with a trailing tab', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku}\t` }) },
  { name: 'sku with a trailing no-break space', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku}\u00a0` }) },
  { name: 'sku in upper case', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: sku.toUpperCase() }) },
  { name: 'sku with one letter capitalised', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: sku[0]!.toUpperCase() + sku.slice(1) }) },
  { name: 'sku with a LIKE wildcard', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku.slice(0, -1)}%` }) },
  { name: 'sku with a single-character wildcard', status: 404, error: 'unknown_sku', send: (sku) => buy({ sku: `${sku.slice(0, -1)}_` }) },
  { name: 'inventory of a padded sku', status: 404, error: 'unknown_sku', send: (sku) => ({ path: `/inventory/${encodeURIComponent(`${sku} `)}` }) },
  { name: 'inventory of an upper-case sku', status: 404, error: 'unknown_sku', send: (sku) => ({ path: `/inventory/${encodeURIComponent(sku.toUpperCase())}` }) },
  { name: 'inventory of an unknown sku', status: 404, error: 'unknown_sku', send: () => ({ path: `/inventory/nope-${randomUUID()}` }) },
  // sizes and content types
  { name: 'body over 16 KiB', status: 413, error: 'body_too_large', send: (sku) => buy({ sku, pad: 'x'.repeat(17 * 1024) }) },
  { name: 'body over 16 KiB, chunked', status: 413, error: 'body_too_large', send: (sku) => rawBuy(chunked(JSON.stringify({ sku, pad: 'x'.repeat(17 * 1024) })), [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']]) },
  { name: 'Content-Length of a gigabyte', status: 413, error: 'body_too_large', send: (sku) => rawBuy(`{"sku":"${sku}"}`, [['Content-Type', 'application/json'], ['Content-Length', '1000000000']]) },
  { name: 'text/plain body', status: 415, error: 'unsupported_media_type', send: (sku) => buyText(JSON.stringify({ sku }), 'text/plain') },
  { name: 'form body', status: 415, error: 'unsupported_media_type', send: () => buyText('quantity=1', 'application/x-www-form-urlencoded') },
  { name: 'multipart body', status: 415, error: 'unsupported_media_type', send: () => buyText('--x\r\nContent-Disposition: form-data; name="quantity"\r\n\r\n1\r\n--x--\r\n', 'multipart/form-data; boundary=x') },
  { name: 'XML body', status: 415, error: 'unsupported_media_type', send: () => buyText('<buy quantity="1"/>', 'application/xml') },
  { name: 'a JSON body with no content type', status: 415, error: 'unsupported_media_type', send: (sku) => rawBuy(JSON.stringify({ sku }), []) },
  { name: 'application/jsonp', status: 415, error: 'unsupported_media_type', send: (sku) => buyText(JSON.stringify({ sku }), 'application/jsonp') },
  // Idempotency-Key
  { name: 'empty Idempotency-Key', status: 400, error: 'invalid_request', send: (sku) => buy({ sku }, { 'idempotency-key': '' }) },
  { name: 'Idempotency-Key of 256 characters', status: 400, error: 'invalid_request', send: (sku) => buy({ sku }, { 'idempotency-key': 'k'.repeat(256) }) },
  { name: 'two Idempotency-Key headers', status: 400, error: 'invalid_request', send: (sku) => rawBuy(JSON.stringify({ sku }), [['Content-Type', 'application/json'], ['Idempotency-Key', `a-${randomUUID()}`], ['Idempotency-Key', `b-${randomUUID()}`]]) },
  { name: 'Idempotency-Key with Latin-1 bytes', status: 400, error: 'invalid_request', send: (sku) => rawBuy(JSON.stringify({ sku }), [['Content-Type', 'application/json'], ['Idempotency-Key', `caf\u00e9-${randomUUID()}`]]) },
  // routes and methods
  { name: 'unknown route', status: 404, error: 'not_found', send: () => ({ method: 'POST', path: '/purchase', body: {} }) },
  { name: '/buy with a trailing slash', status: 404, error: 'not_found', send: (sku) => ({ method: 'POST', path: '/buy/', body: { sku } }) },
  { name: '/BUY in upper case', status: 404, error: 'not_found', send: (sku) => ({ method: 'POST', path: '/BUY', body: { sku } }) },
  { name: 'a path climbing out', status: 404, error: 'not_found', send: () => ({ raw: { method: 'GET', path: '/../../etc/passwd' } }) },
  { name: 'a malformed %-escape in the sku path', status: 404, error: 'not_found', send: () => ({ path: '/inventory/%E0%A4%A' }) },
  { name: 'GET /buy', status: 405, error: 'method_not_allowed', send: () => ({ method: 'GET', path: '/buy' }) },
  { name: 'PUT /buy', status: 405, error: 'method_not_allowed', send: (sku) => ({ method: 'PUT', path: '/buy', body: { sku } }) },
  { name: 'DELETE /buy_ticket', status: 405, error: 'method_not_allowed', send: () => ({ method: 'DELETE', path: '/buy_ticket' }) },
  { name: 'DELETE /inventory', status: 405, error: 'method_not_allowed', send: () => ({ method: 'DELETE', path: '/inventory' }) },
  { name: 'POST /inventory', status: 405, error: 'method_not_allowed', send: (sku) => ({ method: 'POST', path: '/inventory', body: { sku } }) },
  { name: 'GET /reset', status: 405, error: 'method_not_allowed', send: () => ({ method: 'GET', path: '/reset' }) },
  { name: 'PATCH /reset', status: 405, error: 'method_not_allowed', send: (sku) => ({ method: 'PATCH', path: '/reset', body: { sku, stock: 0 } }) },
  { name: 'POST /health', status: 405, error: 'method_not_allowed', send: () => ({ method: 'POST', path: '/health' }) },
  { name: 'POST /', status: 405, error: 'method_not_allowed', send: () => ({ method: 'POST', path: '/' }) },
  // /reset: bad bodies, and what a web page on another site can send
  { name: 'reset with negative stock', status: 400, error: 'invalid_request', send: (sku) => reset({ sku, stock: -1 }) },
  { name: 'reset with fractional stock', status: 400, error: 'invalid_request', send: (sku) => reset({ sku, stock: 2.5 }) },
  { name: 'reset with stock as a string', status: 400, error: 'invalid_request', send: (sku) => reset({ sku, stock: '5' }) },
  { name: 'reset with stock over a billion', status: 400, error: 'invalid_request', send: (sku) => reset({ sku, stock: 1_000_000_001 }) },
  { name: 'reset with malformed JSON', status: 400, error: 'invalid_request', send: () => ({ method: 'POST', path: '/reset', body: '{"stock":', headers: JSON_TYPE }) },
  { name: 'reset with an array body', status: 400, error: 'invalid_request', send: () => reset([0]) },
  { name: 'reset of a padded sku', status: 404, error: 'unknown_sku', send: (sku) => reset({ sku: `${sku} `, stock: 0 }) },
  { name: 'reset of an upper-case sku', status: 404, error: 'unknown_sku', send: (sku) => reset({ sku: sku.toUpperCase(), stock: 0 }) },
  { name: 'reset by a cross-site form', status: 415, error: 'unsupported_media_type', send: () => ({ method: 'POST', path: '/reset', body: 'stock=0', headers: { 'content-type': 'application/x-www-form-urlencoded' } }) },
  { name: 'reset by an empty cross-site form', status: 415, error: 'unsupported_media_type', send: () => ({ raw: { method: 'POST', path: '/reset', headers: [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', '0']] } }) },
  { name: 'reset by a multipart form', status: 415, error: 'unsupported_media_type', send: () => ({ method: 'POST', path: '/reset', body: '--x\r\nContent-Disposition: form-data; name="stock"\r\n\r\n0\r\n--x--\r\n', headers: { 'content-type': 'multipart/form-data; boundary=x' } }) },
  { name: 'reset by text/plain JSON', status: 415, error: 'unsupported_media_type', send: (sku) => ({ method: 'POST', path: '/reset', body: JSON.stringify({ sku, stock: 0 }), headers: { 'content-type': 'text/plain' } }) },
  { name: 'reset from a foreign Origin', status: 403, error: 'cross_site_request', send: (sku) => reset({ sku, stock: 0 }, { origin: 'https://evil.example' }) },
  { name: 'reset from Origin null', status: 403, error: 'cross_site_request', send: (sku) => reset({ sku, stock: 0 }, { origin: 'null' }) },
  { name: 'reset from a look-alike localhost Origin', status: 403, error: 'cross_site_request', send: (sku) => reset({ sku, stock: 0 }, { origin: 'http://localhost.evil.example' }) },
  { name: 'reset without a body from a foreign Origin', status: 403, error: 'cross_site_request', send: () => ({ method: 'POST', path: '/reset', headers: { origin: 'https://evil.example' } }) },
];

/** A body in chunked transfer encoding, 4 KiB a chunk. */
function chunked(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += 4096) {
    const piece = text.slice(i, i + 4096);
    out += `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`;
  }
  return `${out}0\r\n\r\n`;
}

test('the bad-input table has at least 60 distinct cases', () => {
  assert.ok(BAD_INPUTS.length >= 60, `${BAD_INPUTS.length} cases`);
  assert.equal(new Set(BAD_INPUTS.map((bad) => bad.name)).size, BAD_INPUTS.length);
});

for (const db of DATABASES) {
  describe(`bad input on ${db.name}`, { skip: db.skip }, () => {
    const url = db.url();
    const sku = uniqueSku('bad');
    let server: ServeProcess;
    let client: Client;
    let adapter: Adapter;

    before(async () => {
      server = await startServe(['--db', url, '--sku', sku, '--stock', '100']);
      client = new Client(server.url, 8);
      adapter = await openAdapter({ url });
    });
    after(async () => {
      await client?.close();
      await adapter?.close();
      await server?.stop();
    });

    const send = (call: Call | { raw: RawCall }): Promise<Answer> => ('raw' in call ? rawCall(server.url, call.raw) : client.call(call));

    for (const bad of BAD_INPUTS) {
      test(`${bad.name} → ${bad.status} ${bad.error}, stock and ledger unchanged, server still sells`, async () => {
        assert.equal((await client.call({ method: 'POST', path: '/reset', body: { sku, stock: 20 } })).status, 200);
        assert.equal((await client.buy({ sku, buyer_id: 'before' })).status, 200);
        const state = await readStateWith(adapter, sku);

        const answer = await send(bad.send(sku));
        assert.equal(answer.status, bad.status, answer.text);
        assert.deepEqual([answer.body?.success, answer.body?.error], [false, bad.error], answer.text);
        assert.equal(typeof answer.body?.code, 'string');
        assert.equal(typeof answer.body?.message, 'string');
        if (bad.status === 405) assert.ok(answer.headers.allow, 'a 405 says which methods the route takes');
        assert.deepEqual(comparable(await readStateWith(adapter, sku)), comparable(state));

        const good = await client.buy({ sku, buyer_id: 'after' });
        assert.equal(good.status, 200, good.text);
        assert.equal(good.body.remaining_stock, 18);
      });
    }

    test('a body that stops halfway (client hangs up) changes nothing and costs one log line', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { sku, stock: 20 } });
      const before = server.output().stderr;
      const { connect } = await import('node:net');
      const { hostname, port } = new URL(server.url);
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => {
          const socket = connect(Number(port), hostname, () => {
            socket.write(`POST /buy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sku":"${sku}",`);
            setTimeout(() => socket.destroy(), 50);
          });
          socket.on('close', () => resolve());
        });
      }
      // The server logs when it notices the close; a good purchase after it is answered in order.
      assert.equal((await client.buy({ sku, buyer_id: 'after' })).status, 200);
      let logged = '';
      for (let wait = 0; wait < 100 && (logged.match(/\n/g)?.length ?? 0) < 3; wait++) {
        logged = server.output().stderr.slice(before.length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const lines = logged.split('\n').filter(Boolean);
      assert.equal(lines.length, 3, logged);
      for (const line of lines) assert.match(line, /^flashsale serve: POST \/buy: client disconnected after \d+ of 100 body bytes$/);
      assert.doesNotMatch(logged, /\n\s+at /, 'no stack trace');
      const { inventory, ledger } = await readStateWith(adapter, sku);
      assert.deepEqual([inventory.current_stock, ledger.map((row) => row.buyerId)], [19, ['after']]);
    });
  });
}
