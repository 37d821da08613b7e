// The database's own single-row limit: how many one-buyer purchase
// transactions per second one hot row takes, measured by PostgreSQL's native
// tool, pgbench, with no flashsale code in the path. Each transaction is the
// `lock` purchase: BEGIN, SELECT … FOR UPDATE, UPDATE the stock, INSERT the
// ledger row, COMMIT — with the server's own durability (no
// synchronous_commit=off). Every buyer queues on the row lock until the
// previous one's commit has flushed, which is the ceiling `batch` is there to
// break. (For SQLite and MySQL the table's `lock` limit column is the same
// transaction through the driver, with no HTTP.)

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openAdapter } from '../adapters/open.js';
import { prepareStore, resetStock } from '../adapters/store.js';

const run = promisify(execFile);

export interface HotRowFigures {
  tool: string;
  clients: number;
  seconds: number;
  /** 0 when pgbench failed; then `error` says why (e.g. the server's max_connections). */
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
