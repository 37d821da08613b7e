// The HTTP API as DESIGN.md gives it, on every database: happy paths, the
// aliases simple buy_ticket scripts use, and idempotency.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, countStatuses } from './helpers/http.js';
import { readState } from './helpers/store.js';

// The table of bad inputs (each a 4xx that changes nothing) is
// test/server-bad-input.test.ts.

for (const db of DATABASES) {
  describe(`HTTP API on ${db.name}`, { skip: db.skip }, () => {
    const url = db.url();
    const sku = uniqueSku('api');
    let server: ServeProcess;
    let client: Client;

    before(async () => {
      server = await startServe(['--db', url, '--sku', sku, '--stock', '100']);
      client = new Client(server.url, 32);
    });
    after(async () => {
      await client?.close();
      await server?.stop();
    });

    test('an empty POST /buy_ticket buys one unit of the default item for an anonymous buyer', async () => {
      await client.call({ method: 'POST', path: '/reset' });
      const answer = await client.call({ method: 'POST', path: '/buy_ticket' });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.success, true);
      assert.equal(answer.body.remaining_stock, 99);
      assert.equal(typeof answer.body.purchase_id, 'number');
      assert.equal(typeof answer.body.request_id, 'string');
      const { ledger } = await readState(url, sku);
      assert.deepEqual(ledger.map((row) => [row.buyerId, row.quantity, row.stockAfter, row.requestId]), [
        ['anonymous', 1, 99, answer.body.request_id],
      ]);
    });

    test('customer_id is accepted for buyer_id, numeric ids too, and quantity counts in units', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { sku, stock: 10 } });
      const answer = await client.call({ method: 'POST', path: '/buy_ticket', body: { customer_id: 42, quantity: 3 } });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.remaining_stock, 7);
      const refused = await client.buy({ sku, buyer_id: 'big', quantity: 8 });
      assert.equal(refused.status, 410);
      assert.deepEqual([refused.body.success, refused.body.error, refused.body.remaining_stock], [false, 'sold_out', 7]);
      const { ledger, inventory } = await readState(url, sku);
      assert.deepEqual(ledger.map((row) => [row.buyerId, row.quantity]), [['42', 3]]);
      assert.equal(inventory.current_stock, 7);
    });

    test('GET /inventory reports every field DESIGN.md names', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 5 } });
      await client.buy({ quantity: 2 });
      for (const answer of [await client.inventory(), await client.inventory(sku)]) {
        assert.equal(answer.status, 200);
        // held and confirmed: units in reservations (docs/reservations.md).
        assert.deepEqual(Object.keys(answer.body).sort(), ['confirmed', 'current_stock', 'held', 'initial_stock', 'item_name', 'last_updated', 'sku', 'total_purchases']);
        assert.deepEqual([answer.body.sku, answer.body.current_stock, answer.body.initial_stock, answer.body.total_purchases], [sku, 3, 5, 2]);
        assert.ok(!Number.isNaN(Date.parse(answer.body.last_updated)));
      }
    });

    test('POST /reset without a body returns to the initial stock and empties the ledger', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 4 } });
      await client.buy({});
      const answer = await client.call({ method: 'POST', path: '/reset' });
      assert.equal(answer.status, 200);
      const { inventory, ledger } = await readState(url, sku);
      assert.deepEqual([inventory.current_stock, inventory.initial_stock, ledger.length], [4, 4, 0]);
    });

    test('GET / answers 200 with an index of every route, as seed-style buy_ticket scripts expect', async () => {
      const answer = await client.call({ path: '/' });
      assert.equal(answer.status, 200);
      assert.match(String(answer.headers['content-type']), /^application\/json/);
      const routes = new Map<string, string[]>(answer.body.routes.map((route: { path: string; methods: string[] }) => [route.path, route.methods]));
      assert.deepEqual(routes.get('/buy_ticket'), ['POST']);
      assert.deepEqual(routes.get('/buy'), ['POST']);
      assert.deepEqual(routes.get('/reset'), ['POST']);
      assert.deepEqual(routes.get('/inventory/:sku'), ['GET', 'HEAD']);
      for (const route of answer.body.routes) assert.ok(route.description.length > 0, `${route.path} has a description`);
      assert.equal(answer.body.default_sku, sku);
      // Every route the index names exists: no "no route" 404 with the method it lists
      // (an unknown reservation id is a 404 of the route itself).
      for (const [path, methods] of routes) {
        const probe = await client.call({ method: methods.includes('GET') ? 'GET' : 'OPTIONS', path: path.replace(':sku', sku) });
        assert.ok(probe.status !== 404 || probe.body?.error !== 'not_found', path);
      }
      assert.equal((await client.call({ method: 'HEAD', path: '/' })).status, 200);
    });

    test('GET /health answers', async () => {
      const answer = await client.call({ path: '/health' });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.status, 'ok');
    });

    test('buyer ids with quotes, SQL and unicode are stored verbatim and harmless', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 10 } });
      const ids = [`O'Brien "the buyer"`, "x'); DROP TABLE purchases; --", 'Łódź 東京 🛒 \u00e9\u0301', '\\backslash\\ and %_ wildcards'];
      for (const buyer_id of ids) assert.equal((await client.buy({ buyer_id })).status, 200);
      const { ledger, inventory } = await readState(url, sku);
      assert.deepEqual(ledger.map((row) => row.buyerId), ids);
      assert.equal(inventory.current_stock, 6);
    });

    test('the same Idempotency-Key sent 20 times at once sells once and answers identically', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 50 } });
      const key = randomUUID();
      const answers = await Promise.all(Array.from({ length: 20 }, () => client.buy({ buyer_id: 'same', sku }, { 'idempotency-key': key })));
      assert.deepEqual(countStatuses(answers), { 200: 20 });
      assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'every answer is the same bytes');
      assert.equal(answers[0]!.body.request_id, key);
      const { ledger, inventory } = await readState(url, sku);
      assert.equal(ledger.length, 1);
      assert.equal(inventory.current_stock, 49);
    });

    test('a retry of the purchase that took the last unit gets its 200 again, not a 410', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 1 } });
      const key = randomUUID();
      const first = await client.buy({ buyer_id: 'last' }, { 'idempotency-key': key });
      const retry = await client.buy({ buyer_id: 'last' }, { 'idempotency-key': key });
      assert.equal(first.status, 200);
      assert.equal(retry.status, 200);
      assert.equal(retry.text, first.text);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
    });

    test('reusing an Idempotency-Key for a different purchase is refused with 422 and sells nothing', async () => {
      await client.call({ method: 'POST', path: '/reset', body: { stock: 10 } });
      const key = randomUUID();
      assert.equal((await client.buy({ buyer_id: 'a' }, { 'idempotency-key': key })).status, 200);
      const reused = await client.buy({ buyer_id: 'a', quantity: 2 }, { 'idempotency-key': key });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error, 'idempotency_key_reused');
      assert.equal((await readState(url, sku)).inventory.current_stock, 9);
    });
  });
}

// A proof script of the seed kind, as a user has it: it first checks that the
// server is up with GET / (and quietly does nothing when it is not), then
// buys through /buy_ticket with fetch's defaults and reads /inventory. It must
// run unchanged against the reference server.
const SEED_SCRIPT = `
const base = process.argv[1];
const index = await fetch(base + '/');
if (!index.ok) { console.log('server not ready: ' + index.status); process.exit(0); }
const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
  fetch(base + '/buy_ticket', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ customer_id: i, ticket_type: 'general' }) })
    .then((response) => response.json())));
const inventory = await (await fetch(base + '/inventory')).json();
console.log(JSON.stringify({ sold: answers.filter((a) => a.success).length, soldOut: answers.filter((a) => a.error === 'sold_out').length, left: inventory.current_stock }));
`;

test('a seed-style buy_ticket proof script that calls GET / first runs unchanged', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { freshSqliteUrl } = await import('./helpers/databases.js');
  const server = await startServe(['--db', freshSqliteUrl(), '--stock', '10']);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SEED_SCRIPT, server.url]);
    assert.deepEqual(JSON.parse(stdout), { sold: 10, soldOut: 2, left: 0 });
  } finally {
    await server.stop();
  }
});
