// What happens around the purchases: a lock held too long, a shutdown in the
// middle of a stampede, and the schema on a database that has none yet.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { openAdapter } from '../adapters/open.js';
import { prepareStore } from '../adapters/store.js';
import { runCli, startServe } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';
import { readState } from './helpers/store.js';

for (const db of DATABASES) {
  describe(`server lifecycle on ${db.name}`, { skip: db.skip }, () => {
    test('a lock wait that times out answers 503 with Retry-After and sells nothing', async () => {
      const url = db.url();
      const sku = uniqueSku('locked');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', '10', '--lock-timeout', '1s']);
      const client = new Client(server.url, 4);
      // Another connection takes the row lock (on SQLite, the write lock)
      // and keeps it past the server's lock timeout.
      const holder = await openAdapter({ url });
      const session = await holder.acquire();
      try {
        await session.begin();
        await session.readStockForUpdate(sku);
        const answer = await client.buy({ buyer_id: 'waits', sku });
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.body.error, 'lock_timeout');
        assert.equal(answer.headers['retry-after'], '1');
      } finally {
        await session.rollback();
        holder.release(session);
        await holder.close();
      }
      const { inventory, ledger } = await readState(url, sku);
      assert.deepEqual([inventory.current_stock, ledger.length], [10, 0]);
      // Once the lock is free the same server sells again.
      assert.equal((await client.buy({ buyer_id: 'after', sku })).status, 200);
      await client.close();
      await server.stop();
    });

    test('SIGTERM mid-stampede: in-flight purchases finish, every 200 is in the ledger, exit 0', async () => {
      const url = db.url();
      const sku = uniqueSku('shutdown');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', '1000']);
      const client = new Client(server.url, 50);
      const settled = Array.from({ length: 400 }, (_, i) =>
        client.buy({ buyer_id: `b-${i}`, sku }, { 'idempotency-key': randomUUID() }).then(
          (answer) => answer.status,
          () => 'refused',
        ),
      );
      await Promise.race(settled);
      const exit = await server.stop('SIGTERM');
      const outcomes = await Promise.all(settled);
      await client.close();
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /stopped/);
      const sold = outcomes.filter((o) => o === 200).length;
      assert.ok(sold > 0);
      assert.ok(outcomes.every((o) => o === 200 || o === 'refused'), `unexpected outcomes: ${JSON.stringify(outcomes.filter((o) => o !== 200 && o !== 'refused'))}`);
      const { inventory, ledger } = await readState(url, sku);
      assert.equal(ledger.length, sold, 'every purchase answered 200 is in the ledger, and no other');
      assert.equal(inventory.current_stock, 1000 - sold);
    });

    test('--workers 3 shuts down cleanly on SIGINT', async () => {
      const server = await startServe(['--db', db.url(), '--sku', uniqueSku('workers'), '--workers', '3']);
      const client = new Client(server.url, 8);
      assert.equal((await client.call({ path: '/health' })).status, 200);
      await client.close();
      const exit = await server.stop('SIGINT');
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stdout, /workers {3}3/);
    });

    test('reset through the CLI restores the stock and empties the ledger', async () => {
      const url = db.url();
      const sku = uniqueSku('reset');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', '30']);
      const client = new Client(server.url, 4);
      for (let i = 0; i < 3; i++) await client.buy({ sku });
      await client.close();
      await server.stop();
      const run = await runCli(['reset', '--db', url, '--sku', sku, '--stock', '12']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /stock 27 -> 12, ledger emptied \(3 units/);
      const { inventory, ledger } = await readState(url, sku);
      assert.deepEqual([inventory.current_stock, inventory.initial_stock, ledger.length], [12, 12, 0]);
      const again = await runCli(['reset', '--db', url, '--sku', sku]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /stock 12 -> 12/);
    });

    test('the schema is created if absent and enforces stock >= 0 and unique request ids', async () => {
      const url = db.url();
      const sku = uniqueSku('schema');
      const adapter = await openAdapter({ url });
      try {
        await prepareStore(adapter, { sku, itemName: 'Schema test', stock: 3 });
        await adapter.migrate(); // a second run is harmless
        const session = await adapter.acquire();
        try {
          await assert.rejects(session.writeStock(sku, -1), 'stock below zero is refused by the database itself');
          const requestId = randomUUID();
          await session.insertPurchase({ sku, buyerId: 'b', quantity: 1, requestId, stockAfter: 2 });
          await assert.rejects(session.insertPurchase({ sku, buyerId: 'b', quantity: 1, requestId, stockAfter: 1 }), { code: 'FS_DUPLICATE_REQUEST' });
          assert.equal(await session.decrementIfAvailable(sku, 4), undefined);
          assert.equal(await session.decrementIfAvailable(sku, 3), 0);
          const version = (await session.readStock(sku))!.version;
          assert.equal(await session.compareAndSetStock(sku, version - 1, 5), false);
          assert.equal(await session.compareAndSetStock(sku, version, 5), true);
          assert.equal((await session.readStock(sku))!.stock, 5);
        } finally {
          adapter.release(session);
        }
      } finally {
        await adapter.close();
      }
    });
  });
}

describe('fresh server databases', () => {
  const servers = [
    { name: 'postgres', variable: 'FLASHSALE_PG_URL', create: 'CREATE DATABASE', drop: 'DROP DATABASE IF EXISTS' },
    { name: 'mysql', variable: 'FLASHSALE_MYSQL_URL', create: 'CREATE DATABASE', drop: 'DROP DATABASE IF EXISTS' },
  ];
  for (const server of servers) {
    const base = process.env[server.variable];
    test(`serve creates the schema in an empty ${server.name} database`, { skip: base ? false : `set ${server.variable} to run` }, async () => {
      const name = `flashsale_fresh_${randomUUID().slice(0, 8)}`;
      const admin = await import(server.name === 'postgres' ? 'pg' : 'mysql2/promise');
      const run = async (sql: string) => {
        if (server.name === 'postgres') {
          const client = new admin.default.Client({ connectionString: base });
          await client.connect();
          await client.query(sql);
          await client.end();
        } else {
          const connection = await admin.default.createConnection(base!);
          await connection.query(sql);
          await connection.end();
        }
      };
      await run(`${server.create} ${name}`);
      try {
        const url = base!.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
        const serve = await startServe(['--db', url, '--stock', '7']);
        const client = new Client(serve.url, 2);
        assert.equal((await client.buy()).body.remaining_stock, 6);
        await client.close();
        await serve.stop();
      } finally {
        await run(`${server.drop} ${name}`);
      }
    });
  }
});
