// The database's own single-row limit: how many one-buyer purchase
// transactions per second one hot row takes, measured by PostgreSQL's native
// tool, pgbench, with no flashsale code in the path. Each transaction is the
// `lock` purchase: BEGIN, SELECT … FOR UPDATE, UPDATE the stock, INSERT the
// ledger row, COMMIT — with the server's own durability (no
// synchronous_commit=off). Every buyer queues on the row lock until the
// previous one's commit has flushed, which is the ceiling `batch` is there to
// break. MariaDB/MySQL has no pgbench: the same transaction is looped by
// bare mysql2 connections (no pool, no flashsale code), and SQLite's by
// better-sqlite3 on one connection, since SQLite has one writer at a time.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { openAdapter } from '../adapters/open.js';
import { parseDatabaseUrl } from '../adapters/url.js';
import { prepareStore, resetStock } from '../adapters/store.js';

const run = promisify(execFile);

export interface HotRowFigures {
  /** `pgbench`, `mysql2` or `better-sqlite3`. */
  tool: string;
  clients: number;
  seconds: number;
  /** 0 when the run failed; then `error` says why (e.g. the server's max_connections). */
  transactions_per_second: number;
  error?: string;
}

/** pgbench on one hot row, once per client count; throws when pgbench is absent or fails. */
export async function measurePostgresHotRow(url: string, clientCounts: number[], seconds: number, scratchDir: string): Promise<HotRowFigures[]> {
  const sku = 'bench-postgres-hot-row';
  const adapter = await openAdapter({ url, poolSize: 1 });
  try {
    // Enough stock that no run sells out: the limit is the lock, not the stock.
    await prepareStore(adapter, { sku, itemName: 'pgbench hot row', stock: 0 });
    const script = join(scratchDir, 'hot-row.sql');
    await writeFile(
      script,
      [
        'BEGIN;',
        `SELECT stock FROM inventory WHERE sku = '${sku}' FOR UPDATE \\gset`,
        `UPDATE inventory SET stock = :stock - 1, version = version + 1, updated_at = now() WHERE sku = '${sku}';`,
        `INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES ('${sku}', 'pgbench', 1, gen_random_uuid()::text, :stock - 1);`,
        'COMMIT;',
        '',
      ].join('\n'),
    );
    const figures: HotRowFigures[] = [];
    for (const clients of clientCounts) {
      await resetStock(adapter, sku, 100_000_000);
      try {
        const { stdout } = await run('pgbench', ['-n', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), url], {
          timeout: (seconds + 60) * 1000,
        });
        const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout) ?? /tps = ([\d.]+)/.exec(stdout);
        if (!match) throw new Error(`pgbench printed no tps: ${stdout.trim().split('\n').pop()}`);
        figures.push({ tool: 'pgbench', clients, seconds, transactions_per_second: Number(match[1]) });
      } catch (error) {
        // One client count failing (a shared server out of connections) keeps the others.
        const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n')[0];
        figures.push({ tool: 'pgbench', clients, seconds, transactions_per_second: 0, error: stderr });
      }
    }
    // The ledger rows of a hot-row run are not kept in a shared database.
    await resetStock(adapter, sku, 0);
    return figures;
  } finally {
    await adapter.close();
  }
}

/** Stock high enough that no run sells out: the limit is the lock, not the stock. */
const ENDLESS_STOCK = 100_000_000;

/**
 * The lock purchase on one MariaDB/MySQL row, `clients` bare mysql2
 * connections each looping BEGIN, SELECT … FOR UPDATE, UPDATE, INSERT,
 * COMMIT for `seconds`, with the server's own durability
 * (innodb_flush_log_at_trx_commit as configured). One figure per client count.
 */
export async function measureMysqlHotRow(url: string, clientCounts: number[], seconds: number): Promise<HotRowFigures[]> {
  const sku = 'bench-mysql-hot-row';
  const adapter = await openAdapter({ url, poolSize: 1 });
  try {
    await prepareStore(adapter, { sku, itemName: 'mysql2 hot row', stock: 0 });
    const figures: HotRowFigures[] = [];
    for (const clients of clientCounts) {
      await resetStock(adapter, sku, ENDLESS_STOCK);
      try {
        const committed = await loopMysql(url, sku, clients, seconds * 1000);
        figures.push({ tool: 'mysql2', clients, seconds, transactions_per_second: committed / seconds });
      } catch (error) {
        figures.push({ tool: 'mysql2', clients, seconds, transactions_per_second: 0, error: (error as Error).message.split('\n')[0]! });
      }
    }
    await resetStock(adapter, sku, 0);
    return figures;
  } finally {
    await adapter.close();
  }
}

async function loopMysql(url: string, sku: string, clients: number, durationMs: number): Promise<number> {
  const connections = await Promise.all(Array.from({ length: clients }, () => mysql.createConnection(url)));
  let committed = 0;
  try {
    // The same isolation level as the reference server's sessions.
    await Promise.all(connections.map((connection) => connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')));
    const stopAt = performance.now() + durationMs;
    await Promise.all(
      connections.map(async (connection, client) => {
        for (let i = 0; performance.now() < stopAt; i++) {
          await connection.query('BEGIN');
          const [rows] = await connection.execute<mysql.RowDataPacket[]>('SELECT stock FROM inventory WHERE sku = ? FOR UPDATE', [sku]);
          const stockAfter = Number(rows[0]!.stock) - 1;
          await connection.execute('UPDATE inventory SET stock = ?, version = version + 1, updated_at = CURRENT_TIMESTAMP(6) WHERE sku = ?', [stockAfter, sku]);
          await connection.execute('INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES (?, ?, 1, ?, ?)', [
            sku,
            `mysql2-${client}`,
            `${randomUUID()}-${i}`,
            stockAfter,
          ]);
          await connection.query('COMMIT');
          committed++;
        }
      }),
    );
    return committed;
  } finally {
    await Promise.all(connections.map((connection) => connection.end().catch(() => undefined)));
  }
}

/**
 * The lock purchase on one SQLite row through better-sqlite3 alone: one
 * connection (SQLite has one writer), BEGIN IMMEDIATE, SELECT, UPDATE,
 * INSERT, COMMIT in a loop for `seconds`, in WAL mode with the reference
 * server's default synchronous = NORMAL, on the schema the server creates.
 */
export async function measureSqliteHotRow(url: string, seconds: number): Promise<HotRowFigures[]> {
  const sku = 'bench-sqlite-hot-row';
  const adapter = await openAdapter({ url });
  try {
    await prepareStore(adapter, { sku, itemName: 'better-sqlite3 hot row', stock: 0 });
    await resetStock(adapter, sku, ENDLESS_STOCK);
  } finally {
    await adapter.close();
  }
  const db = new Database(parseDatabaseUrl(url).location, { timeout: 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    const read = db.prepare('SELECT stock FROM inventory WHERE sku = ?').pluck();
    const write = db.prepare("UPDATE inventory SET stock = ?, version = version + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE sku = ?");
    const insert = db.prepare("INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES (?, 'better-sqlite3', 1, ?, ?)");
    const run = randomUUID();
    let committed = 0;
    const stopAt = performance.now() + seconds * 1000;
    while (performance.now() < stopAt) {
      begin.run();
      const stockAfter = (read.get(sku) as number) - 1;
      write.run(stockAfter, sku);
      insert.run(sku, `${run}-${committed}`, stockAfter);
      commit.run();
      committed++;
    }
    db.prepare('DELETE FROM purchases WHERE sku = ?').run(sku);
    return [{ tool: 'better-sqlite3', clients: 1, seconds, transactions_per_second: committed / seconds }];
  } finally {
    db.close();
  }
}
