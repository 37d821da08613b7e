import pg from 'pg';
import {
  ConnectionLostError,
  DatabaseUnreachableError,
  DuplicateRequestError,
  FlashsaleError,
  LockTimeoutError,
  SchemaMissingError,
  OverloadedError,
} from '../src/errors.js';
import type { Adapter, AdapterOptions, AuditRow, Inventory, NewPurchase, PurchaseRow, Sale, SelectResult, Session, StockRow } from './adapter.js';
import { connectError } from './connect-error.js';
import { idsInOrder, toPurchaseRow, type PurchaseRecord } from './rows.js';
import { maskPassword } from './url.js';
import { POSTGRES_RESERVATION_SCHEMA } from './reservations/postgres-schema.js';
import type { RawResult } from './reservations/contract.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inventory (
  sku           TEXT        PRIMARY KEY,
  item_name     TEXT        NOT NULL,
  initial_stock INTEGER     NOT NULL CHECK (initial_stock >= 0),
  stock         INTEGER     NOT NULL CHECK (stock >= 0),
  version       BIGINT      NOT NULL DEFAULT 0,
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS purchases (
  id          BIGSERIAL   PRIMARY KEY,
  sku         TEXT        NOT NULL,
  buyer_id    TEXT        NOT NULL,
  quantity    INTEGER     NOT NULL CHECK (quantity > 0),
  request_id  TEXT        NOT NULL UNIQUE,
  stock_after INTEGER     NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS purchases_sku ON purchases (sku);
`;

// Named statements: pg prepares each once per connection and afterwards
// sends only the name and the parameters.
const SQL = {
  readStock: { name: 'fs_read_stock', text: 'SELECT stock, version FROM inventory WHERE sku = $1' },
  readStockForUpdate: { name: 'fs_read_stock_for_update', text: 'SELECT stock, version FROM inventory WHERE sku = $1 FOR UPDATE' },
  writeStock: {
    name: 'fs_write_stock',
    text: 'UPDATE inventory SET stock = $1, version = version + 1, updated_at = now() WHERE sku = $2',
  },
  compareAndSet: {
    name: 'fs_compare_and_set',
    text: 'UPDATE inventory SET stock = $1, version = version + 1, updated_at = now() WHERE sku = $2 AND version = $3',
  },
  decrement: {
    name: 'fs_decrement',
    text: `UPDATE inventory SET stock = stock - $1, version = version + 1, updated_at = now()
           WHERE sku = $2 AND stock >= $1 RETURNING stock`,
  },
  insertPurchase: {
    name: 'fs_insert_purchase',
    text: 'INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES ($1, $2, $3, $4, $5) RETURNING id',
  },
  // Data-modifying WITH runs its UPDATE exactly once, whatever the INSERT
  // reads of it; a UNIQUE violation in the INSERT undoes both.
  writeSale: {
    name: 'fs_write_sale',
    text: `WITH stock AS (UPDATE inventory SET stock = $5, version = version + 1, updated_at = now() WHERE sku = $1)
           INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
  },
  sellIfAvailable: {
    name: 'fs_sell_if_available',
    text: `WITH sold AS (
             UPDATE inventory SET stock = stock - $3, version = version + 1, updated_at = now()
             WHERE sku = $1 AND stock >= $3 RETURNING stock)
           INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after)
           SELECT $1, $2, $3, $4, stock FROM sold RETURNING id, stock_after`,
  },
  // The batch strategy's writes: the stock and every ledger row in one
  // statement, the rows passed as parallel arrays so that one prepared
  // statement serves any batch size. RETURNING pairs each id with its
  // request id, since RETURNING promises no order.
  writeSales: {
    name: 'fs_write_sales',
    text: `WITH stock AS (UPDATE inventory SET stock = $2, version = version + 1, updated_at = now() WHERE sku = $1)
           INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after)
           SELECT $1, buyer_id, quantity, request_id, stock_after
           FROM unnest($3::text[], $4::int[], $5::text[], $6::int[]) AS sale(buyer_id, quantity, request_id, stock_after)
           RETURNING id, request_id`,
  },
  findPurchases: {
    name: 'fs_find_purchases',
    text: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE request_id = ANY($1::text[])',
  },
  findPurchase: {
    name: 'fs_find_purchase',
    text: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE request_id = $1',
  },
  seedItem: {
    name: 'fs_seed_item',
    text: 'INSERT INTO inventory (sku, item_name, initial_stock, stock) VALUES ($1, $2, $3, $3) ON CONFLICT (sku) DO NOTHING',
  },
  resetItem: {
    name: 'fs_reset_item',
    text: 'UPDATE inventory SET stock = $1, initial_stock = $1, version = version + 1, updated_at = now() WHERE sku = $2',
  },
  deletePurchases: { name: 'fs_delete_purchases', text: 'DELETE FROM purchases WHERE sku = $1' },
  inventory: {
    name: 'fs_inventory',
    text: `SELECT i.sku, i.item_name, i.stock AS current_stock, i.initial_stock,
                  (SELECT COALESCE(SUM(p.quantity), 0) FROM purchases p WHERE p.sku = i.sku)::int AS total_purchases,
                  i.updated_at AS last_updated
           FROM inventory i WHERE i.sku = $1`,
  },
  purchases: {
    name: 'fs_purchases',
    text: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE sku = $1 ORDER BY id',
  },
  auditLedger: {
    name: 'fs_audit_ledger',
    text: 'SELECT id, request_id, quantity, stock_after FROM purchases WHERE sku = $1 ORDER BY id',
  },
} as const;



// SQLSTATEs: 23505 unique_violation; 55P03 lock_not_available (lock_timeout);
// 40P01 deadlock_detected; 40001 serialization_failure.
const LOCK_CONFLICTS = new Set(['55P03', '40P01', '40001']);
// Failing to open a connection: the database is down, refuses us, or does not exist.
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', '57P03', '28P01', '28000', '3D000']);
// An open connection breaking: socket errors, and the server ending the
// session (57P01 admin_shutdown: pg_terminate_backend or a fast shutdown;
// 57P02 crash_shutdown; 57P03 cannot_connect_now).
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', '57P01', '57P02', '57P03']);
const LOST_MESSAGE = /Connection terminated|not queryable|terminating connection/i;
// pg-pool's words when no pooled client became free within connectionTimeoutMillis.
const POOL_WAIT_TIMEOUT = /timeout exceeded when trying to connect/i;

/**
 * Maps pg's errors onto the toolkit's typed errors. `phase` says what was
 * going on: a connection failing to open means the database cannot be
 * reached; an open one breaking means the transaction on it died with it.
 */
function translate(error: unknown, label: string, phase: 'connect' | 'query'): unknown {
  if (error instanceof FlashsaleError) return error;
  const code = (error as { code?: unknown }).code;
  const message = String((error as Error)?.message);
  if (code === '23505') return new DuplicateRequestError('request id already has a ledger row', { cause: error });
  // 42P01 undefined_table: a database that serve never set up.
  if (code === '42P01') return new SchemaMissingError((error as Error).message, { cause: error });
  if (typeof code === 'string' && LOCK_CONFLICTS.has(code)) {
    return new LockTimeoutError(`PostgreSQL: ${message}`, { cause: error });
  }
  if (phase === 'connect' && POOL_WAIT_TIMEOUT.test(message)) {
    // Every pooled connection stayed busy: the database is up, we are overloaded.
    return new OverloadedError(`no connection to ${label} became free in time (all of the pool's connections are busy)`, { cause: error });
  }
  if (phase === 'query' && ((typeof code === 'string' && CONNECTION_LOST.has(code)) || LOST_MESSAGE.test(message))) {
    return new ConnectionLostError(`lost the connection to ${label} (${message}); its transaction was not committed`, { cause: error });
  }
  if (/connection timeout/i.test(message)) {
    // Opening a connection took longer than connectionTimeoutMillis: the
    // database may be down, or this server too busy to finish the handshake.
    return new DatabaseUnreachableError(`could not open a connection to ${label} within 5 s (database down or slow, or this server overloaded)`, { cause: error });
  }
  if ((typeof code === 'string' && CONNECT_FAILURES.has(code)) || LOST_MESSAGE.test(message)) {
    return new DatabaseUnreachableError(`cannot reach ${label}: ${message}`, { cause: error });
  }
  return error;
}

class PostgresSession implements Session {
  constructor(
    readonly client: pg.PoolClient,
    private readonly label: string,
  ) {}

  /** Set once the connection broke; release() then discards it. */
  lost = false;

  private async query<R extends pg.QueryResultRow>(config: { name?: string; text: string }, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.client.query<R>({ ...config, values });
    } catch (error) {
      const translated = translate(error, this.label, 'query');
      if (translated instanceof ConnectionLostError) this.lost = true;
      throw translated;
    }
  }

  async begin(): Promise<void> {
    await this.query({ text: 'BEGIN' });
  }
  async commit(): Promise<void> {
    await this.query({ text: 'COMMIT' });
  }
  async rollback(): Promise<void> {
    await this.query({ text: 'ROLLBACK' });
  }
  // REPEATABLE READ: one snapshot for every statement of the transaction, so
  // the stock and the ledger are read as of the same moment.
  async beginReadOnly(): Promise<void> {
    await this.query({ text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' });
  }

  async readStock(sku: string): Promise<StockRow | undefined> {
    return stockRow((await this.query<{ stock: number; version: string }>(SQL.readStock, [sku])).rows[0]);
  }
  async readStockForUpdate(sku: string): Promise<StockRow | undefined> {
    return stockRow((await this.query<{ stock: number; version: string }>(SQL.readStockForUpdate, [sku])).rows[0]);
  }
  async writeStock(sku: string, stock: number): Promise<void> {
    await this.query(SQL.writeStock, [stock, sku]);
  }
  async compareAndSetStock(sku: string, expectedVersion: number, stock: number): Promise<boolean> {
    return (await this.query(SQL.compareAndSet, [stock, sku, expectedVersion])).rowCount === 1;
  }
  async decrementIfAvailable(sku: string, quantity: number): Promise<number | undefined> {
    return (await this.query<{ stock: number }>(SQL.decrement, [quantity, sku])).rows[0]?.stock;
  }
  async insertPurchase(purchase: NewPurchase): Promise<number> {
    const { sku, buyerId, quantity, requestId, stockAfter } = purchase;
    const result = await this.query<{ id: string }>(SQL.insertPurchase, [sku, buyerId, quantity, requestId, stockAfter]);
    return Number(result.rows[0]!.id);
  }
  async writeSale(sale: NewPurchase): Promise<number> {
    const { sku, buyerId, quantity, requestId, stockAfter } = sale;
    return Number((await this.query<{ id: string }>(SQL.writeSale, [sku, buyerId, quantity, requestId, stockAfter])).rows[0]!.id);
  }
  async sellIfAvailable(sale: Omit<NewPurchase, 'stockAfter'>): Promise<Sale | undefined> {
    const { sku, buyerId, quantity, requestId } = sale;
    const row = (await this.query<{ id: string; stock_after: number }>(SQL.sellIfAvailable, [sku, buyerId, quantity, requestId])).rows[0];
    return row && { purchaseId: Number(row.id), stockAfter: row.stock_after };
  }
  async writeSales(sku: string, stockAfter: number, sales: NewPurchase[]): Promise<number[]> {
    const rows = (
      await this.query<{ id: string; request_id: string }>(SQL.writeSales, [
        sku,
        stockAfter,
        sales.map((sale) => sale.buyerId),
        sales.map((sale) => sale.quantity),
        sales.map((sale) => sale.requestId),
        sales.map((sale) => sale.stockAfter),
      ])
    ).rows;
    return idsInOrder(sales, rows);
  }
  async findPurchases(requestIds: string[]): Promise<PurchaseRow[]> {
    return (await this.query<PurchaseRecord>(SQL.findPurchases, [requestIds])).rows.map(toPurchaseRow);
  }
  async findPurchase(requestId: string): Promise<PurchaseRow | undefined> {
    const record = (await this.query<PurchaseRecord>(SQL.findPurchase, [requestId])).rows[0];
    return record && toPurchaseRow(record);
  }
  async seedItem(sku: string, itemName: string, stock: number): Promise<boolean> {
    return (await this.query(SQL.seedItem, [sku, itemName, stock])).rowCount === 1;
  }
  async resetItem(sku: string, stock: number): Promise<void> {
    await this.query(SQL.resetItem, [stock, sku]);
    await this.query(SQL.deletePurchases, [sku]);
  }
  async inventory(sku: string): Promise<Inventory | undefined> {
    const row = (await this.query<Omit<Inventory, 'last_updated'> & { last_updated: Date }>(SQL.inventory, [sku])).rows[0];
    return row && { ...row, last_updated: row.last_updated.toISOString() };
  }
  async purchases(sku: string): Promise<PurchaseRow[]> {
    return (await this.query<PurchaseRecord>(SQL.purchases, [sku])).rows.map(toPurchaseRow);
  }
  async auditLedger(sku: string): Promise<AuditRow[]> {
    const rows = (await this.query<{ id: string; request_id: string; quantity: number; stock_after: number }>(SQL.auditLedger, [sku])).rows;
    // BIGSERIAL ids arrive as strings.
    return rows.map((row) => ({ id: Number(row.id), requestId: row.request_id, quantity: row.quantity, stockAfter: row.stock_after }));
  }
  /**
   * The raw query hook of the reservation flow (adapters/reservations/): one
   * parameterised statement of its own SQL, in the caller's transaction,
   * named so that pg prepares it once per connection.
   */
  async raw(sql: string, params: readonly unknown[]): Promise<RawResult> {
    const result = await this.query<Record<string, unknown>>({ name: rawStatementName(sql), text: sql }, [...params]);
    return { rows: result.rows, changes: result.rowCount ?? 0 };
  }
  // The extended protocol takes exactly one statement: `COMMIT; DELETE …`
  // cannot step out of the read-only transaction.
  async select(sql: string): Promise<SelectResult> {
    const result = await this.query<Record<string, unknown>>({ text: sql, queryMode: 'extended' } as { text: string });
    return { columns: (result.fields ?? []).map((field) => field.name), rows: result.rows ?? [] };
  }
}

// One name per distinct raw statement text; the texts are constants of the
// reservation flow, so the map stays small.
const rawStatementNames = new Map<string, string>();
function rawStatementName(sql: string): string {
  let name = rawStatementNames.get(sql);
  if (!name) rawStatementNames.set(sql, (name = `fs_raw_${rawStatementNames.size}`));
  return name;
}

function stockRow(row: { stock: number; version: string } | undefined): StockRow | undefined {
  return row && { stock: row.stock, version: Number(row.version) };
}

export class PostgresAdapter implements Adapter {
  readonly dialect = 'postgres' as const;
  readonly label: string;
  private readonly pool: pg.Pool;
  private readonly poolSize: number;

  constructor(options: AdapterOptions) {
    this.label = maskPassword(options.url);
    this.poolSize = options.poolSize ?? 10;
    const lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: this.poolSize,
      connectionTimeoutMillis: 5000,
      // A server keeps its warmed connections: the next stampede comes
      // without notice, and opening connections during one is what stalls it.
      idleTimeoutMillis: 0,
      // Sent in the startup packet, so it costs no extra round trip: a buyer
      // waiting longer than this for the row lock gets 55P03 and a 503.
      options: `-c lock_timeout=${lockTimeoutMs}${options.readOnly ? ' -c default_transaction_read_only=on' : ''}`,
    });
    // An idle client that loses its server emits 'error' on the pool; without
    // a listener the process would crash. The next acquire reconnects.
    this.pool.on('error', () => {});
    // A checked-out client has no pool listener (pg-pool removes it while the
    // client is lent out), and pg emits 'error' on the Client itself when its
    // connection ends, even when a query in flight already rejects with the
    // same error: with no listener that event is an uncaught exception that
    // kills the server. So every client gets its own listener for life, and
    // one that broke is remembered and discarded when it comes back.
    this.pool.on('connect', (client) => {
      client.on('error', () => this.broken.add(client));
    });
  }

  /** Clients whose connection broke while lent out; released as broken. */
  private readonly broken = new WeakSet<pg.PoolClient>();

  async migrate(): Promise<void> {
    const session = (await this.acquire()) as PostgresSession;
    try {
      // CREATE TABLE IF NOT EXISTS is not safe against itself run
      // concurrently (two servers starting at once); the advisory lock
      // makes them take turns.
      await session.client.query(`BEGIN; SELECT pg_advisory_xact_lock(8675309); ${SCHEMA} ${POSTGRES_RESERVATION_SCHEMA} COMMIT;`);
    } catch (error) {
      await session.client.query('ROLLBACK').catch(() => {});
      this.release(session, true);
      throw translate(error, this.label, 'query');
    }
    this.release(session);
  }

  async acquire(): Promise<Session> {
    try {
      return new PostgresSession(await this.pool.connect(), this.label);
    } catch (error) {
      throw connectError(translate(error, this.label, 'connect'), error, this.label);
    }
  }

  async warm(): Promise<void> {
    const opened = await Promise.allSettled(Array.from({ length: this.poolSize }, () => this.pool.connect()));
    for (const result of opened) if (result.status === 'fulfilled') result.value.release();
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw translate(failed.reason, this.label, 'connect');
  }

  release(session: Session, broken = false): void {
    const { client, lost } = session as PostgresSession;
    // release(true) destroys the client instead of pooling it, so the next
    // acquire opens a fresh connection (once the database is back).
    client.release(broken || lost || this.broken.has(client));
  }

  async serverVersion(): Promise<string> {
    const session = (await this.acquire()) as PostgresSession;
    try {
      const result = await session.client.query<{ server_version: string }>('SHOW server_version');
      return `PostgreSQL ${result.rows[0]!.server_version}`;
    } finally {
      this.release(session);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
