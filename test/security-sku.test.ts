// Skus compare exactly on MySQL/MariaDB as on the other two databases: the
// PAD SPACE collation (utf8mb4_bin) made "A " the same item as "A". Tables
// created by an earlier version are converted when serve starts, and a ledger
// row written as "A " under the old comparison stays in item A's ledger.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { Client } from './helpers/http.js';
import { readState } from './helpers/store.js';

const base = process.env.FLASHSALE_MYSQL_URL;

// The schema exactly as flashsale created it before this change.
const LEGACY_SCHEMA = [
  `CREATE TABLE inventory (
     sku VARCHAR(64) NOT NULL PRIMARY KEY, item_name VARCHAR(255) NOT NULL, initial_stock INT NOT NULL, stock INT NOT NULL,
     version BIGINT NOT NULL DEFAULT 0, updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT inventory_initial_stock_nonnegative CHECK (initial_stock >= 0), CONSTRAINT inventory_stock_nonnegative CHECK (stock >= 0)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE purchases (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, sku VARCHAR(64) NOT NULL, buyer_id VARCHAR(255) NOT NULL, quantity INT NOT NULL,
     request_id VARCHAR(255) NOT NULL, stock_after INT NOT NULL, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT purchases_quantity_positive CHECK (quantity > 0), UNIQUE KEY purchases_request_id (request_id), KEY purchases_sku (sku)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

describe('MySQL: skus compare exactly, and tables from earlier versions are converted', { skip: !base && 'set FLASHSALE_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run the mysql tests' }, () => {
  // A private database, so converting tables never touches what other tests share.
  const database = `fs_sku_${randomUUID().slice(0, 8)}`;
  const url = base ? Object.assign(new URL(base), { pathname: `/${database}` }).toString() : '';
  let admin: mysql.Connection;
  let server: ServeProcess;
  let client: Client;

  before(async () => {
    admin = await mysql.createConnection(base!);
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(`USE ${database}`);
    for (const statement of LEGACY_SCHEMA) await admin.query(statement);
    await admin.query("INSERT INTO inventory (sku, item_name, initial_stock, stock) VALUES ('A', 'legacy', 10, 7), ('b', 'lower', 5, 5)");
    // Three sales of A; the last was sent as "A " and recorded as sent.
    await admin.query(
      "INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES ('A', 'x', 1, 'r1', 9), ('A', 'y', 1, 'r2', 8), ('A ', 'z', 1, 'r3', 7)",
    );
    // Under the legacy collation the padded sku is the same item: what this test is about.
    const [[padded]] = (await admin.query("SELECT COUNT(*) AS n FROM inventory WHERE sku = 'A '")) as unknown as [[{ n: number }]];
    assert.equal(Number(padded.n), 1);

    server = await startServe(['--db', url, '--sku', 'A', '--stock', '10']);
    client = new Client(server.url, 4);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await admin?.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin?.end();
  });

  test('the sku, buyer id and request id columns now use a NO PAD binary collation', async () => {
    const [rows] = (await admin.query(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS collation FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND COLUMN_NAME IN ('sku', 'buyer_id', 'request_id') ORDER BY t, c`,
      [database],
    )) as unknown as [Array<{ t: string; c: string; collation: string }>];
    // The four columns of the tables made with the old collation, converted; the reservation tables come new with it.
    const legacy = rows.filter((row) => row.t === 'inventory' || row.t === 'purchases').map((row) => `${row.t}.${row.c}`);
    assert.deepEqual(legacy, ['inventory.sku', 'purchases.buyer_id', 'purchases.request_id', 'purchases.sku']);
    for (const row of rows) assert.match(row.collation, /^(utf8mb4_nopad_bin|utf8mb4_0900_bin)$/, `${row.t}.${row.c}`);
  });

  test('the sale recorded as "A " stays in item A\'s ledger, and the stock still adds up', async () => {
    const { inventory, ledger } = await readState(url, 'A');
    assert.deepEqual(ledger.map((row) => [row.sku, row.requestId]), [['A', 'r1'], ['A', 'r2'], ['A', 'r3']]);
    assert.equal(inventory.current_stock + ledger.reduce((sum, row) => sum + row.quantity, 0), inventory.initial_stock);
  });

  for (const variant of ['A ', 'A  ', ' A', 'a', 'B']) {
    test(`buying ${JSON.stringify(variant)} is 404 and sells nothing`, async () => {
      const before = await readState(url, 'A');
      const answer = await client.buy({ sku: variant });
      assert.equal(answer.status, 404, answer.text);
      assert.equal(answer.body.error, 'unknown_sku');
      assert.deepEqual((await readState(url, 'A')).inventory.current_stock, before.inventory.current_stock);
      assert.equal((await client.inventory(variant)).status, 404);
    });
  }

  test('the exact skus still sell, and a second start converts nothing twice', async () => {
    assert.equal((await client.buy({ sku: 'A' })).body.remaining_stock, 6);
    assert.equal((await client.buy({ sku: 'b' })).body.remaining_stock, 4);
    const again = await startServe(['--db', url, '--sku', 'A']);
    const second = new Client(again.url, 1);
    try {
      assert.equal((await second.buy({ sku: 'A' })).body.remaining_stock, 5);
    } finally {
      await second.close();
      await again.stop();
    }
  });
});
