// verify reads, and only reads: the user's SQL runs in a read-only
// transaction that is rolled back, the stock query must return exactly one
// number, a database without the reference tables is one line, and a SQLite
// path that does not exist is never created. On every configured database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openAdapter } from '../adapters/open.js';
import { prepareStore } from '../adapters/store.js';
import { withTransaction } from '../adapters/transaction.js';
import { runCli, type CliRun } from './helpers/cli.js';
import { DATABASES, uniqueSku, type TestDatabase } from './helpers/databases.js';
import { comparable, readState } from './helpers/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-readonly-'));
const history = join(scratch, 'empty-run.jsonl');
// No buyers: these tests are about reading the database, not about a run.
writeFileSync(history, '{"kind":"meta","schema":"flashsale-history/1","target":"http://127.0.0.1:1/buy","buyers":0,"started_at":"2026-01-01T00:00:00Z"}\n');

function assertOneLine(run: CliRun, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /internal error|\n\s+at /);
}

/** A database on the same server that has none of flashsale's tables; dropped by the returned function. */
async function emptyDatabase(db: TestDatabase): Promise<{ url: string; drop: () => Promise<void> }> {
  if (db.name === 'sqlite') {
    const url = db.url();
    // An existing, valid, empty SQLite file.
    const Database = (await import('better-sqlite3')).default;
    new Database(url.slice('sqlite:'.length)).close();
    return { url, drop: async () => {} };
  }
  const name = `fs_empty_${randomUUID().slice(0, 8)}`;
  const server = new URL(db.url());
  const url = Object.assign(new URL(db.url()), { pathname: `/${name}` }).toString();
  if (db.name === 'postgres') {
    const client = new pg.Client({ connectionString: server.toString() });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    return { url, drop: async () => void (await client.query(`DROP DATABASE IF EXISTS ${name}`), await client.end()) };
  }
  const connection = await mysql.createConnection({ uri: server.toString() });
  await connection.query(`CREATE DATABASE ${name}`);
  return { url, drop: async () => void (await connection.query(`DROP DATABASE IF EXISTS ${name}`), await connection.end()) };
}

for (const db of DATABASES) {
  describe(`verify is read-only and strict about --stock-sql (${db.name})`, { skip: db.skip }, () => {
    const sku = uniqueSku('readonly');
    const url = db.url();
    const where = `sku = '${sku}'`;
    const verify = (...args: string[]) => runCli(['verify', '--history', history, '--db', url, ...args]);

    before(async () => {
      const adapter = await openAdapter({ url });
      try {
        await prepareStore(adapter, { sku, itemName: sku, stock: 5 });
        for (const buyer of ['b-1', 'b-2']) {
          await withTransaction(adapter, (session) => session.sellIfAvailable({ sku, buyerId: buyer, quantity: 1, requestId: `${sku}-${buyer}` }));
        }
      } finally {
        await adapter.close();
      }
    });

    test('one row of one number is the final stock (the control for the cases below)', async () => {
      const run = await verify('--json', '--initial-stock', '3', '--stock-sql', `SELECT stock FROM inventory WHERE ${where}`);
      assert.notEqual(run.code, 2, run.stderr);
      const verdict = JSON.parse(run.stdout) as { inputs: { final_stock: number }; checks: Array<{ id: string; status: string }> };
      assert.equal(verdict.inputs.final_stock, 3);
      assert.equal(verdict.checks.find((check) => check.id === 'D1')!.status, 'PASS');
    });

    test('several rows, several columns, NULL or text: one line, exit 2', async () => {
      const stock = `SELECT stock FROM inventory WHERE ${where}`;
      assertOneLine(await verify('--stock-sql', `${stock} UNION ALL ${stock}`), /--stock-sql returned 2 rows: it must return exactly one row of one number/);
      assertOneLine(await verify('--stock-sql', `SELECT stock, stock FROM inventory WHERE ${where}`), /--stock-sql returned 2 columns/);
      assertOneLine(await verify('--stock-sql', `SELECT 1, 2`), /--stock-sql returned 2 columns/);
      assertOneLine(await verify('--stock-sql', `SELECT stock FROM inventory WHERE sku = 'no such sku'`), /--stock-sql returned no row/);
      assertOneLine(await verify('--stock-sql', 'SELECT NULL'), /--stock-sql returned NULL/);
      assertOneLine(await verify('--stock-sql', `SELECT sku FROM inventory WHERE ${where}`), /--stock-sql: the final stock must be a whole number, got text/);
    });

    test('writes fail read-only and change nothing', async () => {
      const before = comparable(await readState(url, sku));
      const stock = `SELECT stock FROM inventory WHERE ${where}`;
      assertOneLine(await verify('--stock-sql', stock, '--ledger-sql', `DELETE FROM purchases WHERE ${where} RETURNING request_id, quantity`), /--ledger-sql failed: /);
      assertOneLine(await verify('--stock-sql', `UPDATE inventory SET stock = 0 WHERE ${where}`), /--stock-sql (failed|returned)/);
      assertOneLine(await verify('--stock-sql', stock, '--ledger-sql', `COMMIT; DELETE FROM purchases WHERE ${where}`), /--ledger-sql failed: /);
      assertOneLine(await verify('--stock-sql', stock, '--ledger-sql', `DROP TABLE purchases`), /--ledger-sql failed: /);
      assert.deepEqual(comparable(await readState(url, sku)), before);
    });

    test('a database without the reference tables: one line, exit 2', async () => {
      const empty = await emptyDatabase(db);
      try {
        assertOneLine(await runCli(['verify', '--history', history, '--db', empty.url]), /has no flashsale tables .*inventory/);
      } finally {
        await empty.drop();
      }
    });
  });
}

describe('verify never creates a SQLite file', () => {
  test('a path that does not exist: one line, exit 2, no file', async () => {
    const typo = join(scratch, 'typo.db');
    assertOneLine(await runCli(['verify', '--history', history, '--db', `sqlite:${typo}`]), /cannot open sqlite:.*typo\.db: no such file \(verify never creates a database\)/);
    assert.equal(existsSync(typo), false);
    assert.equal(existsSync(`${typo}-wal`), false);
  });
});
