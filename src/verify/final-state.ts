import type { Adapter } from '../../adapters/adapter.js';
import { openAdapter } from '../../adapters/open.js';
import { readAuditLedger, readInventory } from '../../adapters/store.js';
import { withSession } from '../../adapters/transaction.js';
import { ConfigError, FlashsaleError } from '../errors.js';
import type { FinalState, LedgerEntry } from './db-audit.js';

/** Where the final state lives: the reference schema, or the user's own with their SQL. */
export interface FinalStateSource {
  db: string;
  /** Item of the reference schema. */
  sku: string;
  /** One row, one number: the final stock (foreign schema). */
  stockSql?: string | undefined;
  /** The ledger rows: `quantity`, and optionally `request_id`, `stock_after` (foreign schema). */
  ledgerSql?: string | undefined;
}

/** The final state, and the initial stock when the database knows it. */
export interface ReadState {
  state: FinalState;
  initialStock: number | undefined;
}

export async function readFinalState(source: FinalStateSource): Promise<ReadState> {
  if (source.ledgerSql && !source.stockSql) throw new ConfigError('--ledger-sql needs --stock-sql as well (the final stock of your schema)');
  const adapter = await openAdapter({ url: source.db });
  try {
    return source.stockSql ? await readForeign(adapter, source.stockSql, source.ledgerSql) : await readReference(adapter, source.sku);
  } finally {
    await adapter.close();
  }
}

async function readReference(adapter: Adapter, sku: string): Promise<ReadState> {
  const inventory = await readInventory(adapter, sku);
  const ledger: LedgerEntry[] = await readAuditLedger(adapter, sku);
  return {
    state: { finalStock: inventory.current_stock, ledger, columns: { requestId: true, stockAfter: true }, source: `${adapter.label} sku ${sku}` },
    initialStock: inventory.initial_stock,
  };
}

async function readForeign(adapter: Adapter, stockSql: string, ledgerSql: string | undefined): Promise<ReadState> {
  const stockRows = await userQuery(adapter, '--stock-sql', stockSql);
  const first = stockRows[0];
  if (!first) throw new ConfigError('--stock-sql returned no row: it must return the final stock');
  const stockValue = 'stock' in first ? first.stock : Object.values(first)[0];
  const finalStock = wholeNumber(stockValue, '--stock-sql', 'stock');
  let ledger: LedgerEntry[] | undefined;
  const columns = { requestId: false, stockAfter: false };
  if (ledgerSql) {
    const rows = await userQuery(adapter, '--ledger-sql', ledgerSql);
    // An empty ledger has nothing to join, so it cannot lack a column.
    columns.requestId = rows.length === 0 || rows.every((row) => row.request_id !== undefined && row.request_id !== null);
    columns.stockAfter = rows.length === 0 || rows.every((row) => row.stock_after !== undefined && row.stock_after !== null);
    ledger = rows.map((row, index) => ({
      requestId: columns.requestId ? String(row.request_id) : undefined,
      quantity: row.quantity === undefined ? 1 : wholeNumber(row.quantity, '--ledger-sql', 'quantity'),
      stockAfter: columns.stockAfter ? wholeNumber(row.stock_after, '--ledger-sql', 'stock_after') : undefined,
      id: row.id !== undefined && row.id !== null ? String(row.id) : `#${index + 1}`,
      buyerId: row.buyer_id !== undefined && row.buyer_id !== null ? String(row.buyer_id) : undefined,
    }));
  }
  return { state: { finalStock, ledger, columns, source: `${adapter.label} (your SQL)` }, initialStock: undefined };
}

async function userQuery(adapter: Adapter, flag: string, sql: string): Promise<Array<Record<string, unknown>>> {
  try {
    return await withSession(adapter, (session) => session.select(sql));
  } catch (error) {
    if (error instanceof FlashsaleError) throw error;
    throw new ConfigError(`${flag} failed: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
}

// PostgreSQL returns BIGINT and NUMERIC as strings, MySQL SUM as DECIMAL text.
function wholeNumber(value: unknown, flag: string, column: string): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw new ConfigError(`${flag}: column ${column} must be a whole number, got ${JSON.stringify(String(value))}`);
  }
  return number;
}
