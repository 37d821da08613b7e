import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { existsSync } from 'node:fs';
import {
  DatabaseUnreachableError,
  DuplicateRequestError,
  FlashsaleError,
  LockTimeoutError,
  SchemaMissingError,
} from '../src/errors.js';
import type { Adapter, AdapterOptions, AuditRow, Inventory, NewPurchase, PurchaseRow, Sale, SelectResult, Session, StockRow } from './adapter.js';
import { toPurchaseRow, type PurchaseRecord } from './rows.js';
import { SQLITE_RESERVATION_SCHEMA } from './reservations/sqlite-schema.js';
import type { RawResult } from './reservations/contract.js';

// The few better-sqlite3 methods this adapter uses, so the rest of the code
// does not depend on the driver's whole surface.
interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Rows as arrays of column values rather than objects keyed by column name. */
  raw(toggle: boolean): Statement;
  /** The result columns, in order. */
  columns(): Array<{ name: string }>;
  /** True when the statement returns rows (a SELECT, or RETURNING). */
  readonly reader: boolean;
}
interface SqliteDatabase {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inventory (
  sku           TEXT    PRIMARY KEY,
  item_name     TEXT    NOT NULL,
  initial_stock INTEGER NOT NULL CHECK (initial_stock >= 0),
  stock         INTEGER NOT NULL CHECK (stock >= 0),
  version       INTEGER NOT NULL DEFAULT 0,
  updated_at    TEXT    NOT NULL DEFAULT (${NOW})
);
CREATE TABLE IF NOT EXISTS purchases (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  sku         TEXT    NOT NULL,
  buyer_id    TEXT    NOT NULL,
  quantity    INTEGER NOT NULL CHECK (quantity > 0),
  request_id  TEXT    NOT NULL UNIQUE,
  stock_after INTEGER NOT NULL,
  created_at  TEXT    NOT NULL DEFAULT (${NOW})
);
CREATE INDEX IF NOT EXISTS purchases_sku ON purchases (sku);
`;

const SQL = {
  begin: 'BEGIN IMMEDIATE',
  // Deferred: the read snapshot is taken at the first read and held to the end.
  beginReadOnly: 'BEGIN DEFERRED',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
  readStock: 'SELECT stock, version FROM inventory WHERE sku = ?',
  writeStock: `UPDATE inventory SET stock = ?, version = version + 1, updated_at = ${NOW} WHERE sku = ?`,
  compareAndSet: `UPDATE inventory SET stock = ?, version = version + 1, updated_at = ${NOW} WHERE sku = ? AND version = ?`,
  decrement: `UPDATE inventory SET stock = stock - ?, version = version + 1, updated_at = ${NOW}
              WHERE sku = ? AND stock >= ? RETURNING stock`,
  insertPurchase: 'INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES (?, ?, ?, ?, ?)',
  findPurchase: `SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE request_id = ?`,
  // One prepared statement for any number of ids: the list travels as one JSON array.
  findPurchases: `SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases
                  WHERE request_id IN (SELECT value FROM json_each(?))`,
  seedItem: 'INSERT INTO inventory (sku, item_name, initial_stock, stock) VALUES (?, ?, ?, ?) ON CONFLICT (sku) DO NOTHING',
  resetItem: `UPDATE inventory SET stock = ?, initial_stock = ?, version = version + 1, updated_at = ${NOW} WHERE sku = ?`,
  deletePurchases: 'DELETE FROM purchases WHERE sku = ?',
  inventory: `SELECT i.sku, i.item_name, i.stock AS current_stock, i.initial_stock,
                     (SELECT COALESCE(SUM(p.quantity), 0) FROM purchases p WHERE p.sku = i.sku) AS total_purchases,
                     i.updated_at AS last_updated
              FROM inventory i WHERE i.sku = ?`,
  purchases: `SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE sku = ? ORDER BY id`,
  auditLedger: `SELECT id, request_id, quantity, stock_after FROM purchases WHERE sku = ? ORDER BY id`,
} as const;



/** Maps better-sqlite3's errors onto the toolkit's typed errors. */
function translate(error: unknown): unknown {
  if (error instanceof FlashsaleError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return new DuplicateRequestError('request id already has a ledger row', { cause: error });
  if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
    return new LockTimeoutError('the SQLite write lock was not granted within the lock timeout', { cause: error });
  }
  const message = String((error as Error)?.message);
  if (/^no such table: (inventory|purchases)$/.test(message)) return new SchemaMissingError(message, { cause: error });
  return error;
}

/**
 * SQLite has one connection per process and better-sqlite3 runs statements
 * synchronously, so "acquiring a connection" means waiting for the previous
 * holder's transaction to end: a pool of size one, as a FIFO mutex.
 */
class SqliteSession implements Session {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: SqliteDatabase) {}

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translate(error));
    }
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  // BEGIN IMMEDIATE takes the database's write lock at once. A deferred BEGIN
  // would take it only at the first write, and two processes that both read
  // first would deadlock on the upgrade instead of queueing.
  begin(): Promise<void> {
    return this.run(() => void this.statement(SQL.begin).run());
  }
  commit(): Promise<void> {
    return this.run(() => void this.statement(SQL.commit).run());
  }
  rollback(): Promise<void> {
    return this.run(() => void this.statement(SQL.rollback).run());
  }
  beginReadOnly(): Promise<void> {
    return this.run(() => void this.statement(SQL.beginReadOnly).run());
  }

  readStock(sku: string): Promise<StockRow | undefined> {
    return this.run(() => this.statement(SQL.readStock).get(sku) as StockRow | undefined);
  }
  // Under BEGIN IMMEDIATE this connection already holds the only write lock.
  readStockForUpdate(sku: string): Promise<StockRow | undefined> {
    return this.readStock(sku);
  }
  writeStock(sku: string, stock: number): Promise<void> {
    return this.run(() => this.setStock(sku, stock));
  }
  compareAndSetStock(sku: string, expectedVersion: number, stock: number): Promise<boolean> {
    return this.run(() => this.statement(SQL.compareAndSet).run(stock, sku, expectedVersion).changes === 1);
  }
  decrementIfAvailable(sku: string, quantity: number): Promise<number | undefined> {
    return this.run(() => this.decrement(sku, quantity));
  }
  insertPurchase(purchase: NewPurchase): Promise<number> {
    return this.run(() => this.insert(purchase));
  }
  // No round trips to save in-process; one call instead of two still saves a turn of the connection's queue.
  writeSale(sale: NewPurchase): Promise<number> {
    return this.run(() => {
      this.setStock(sale.sku, sale.stockAfter);
      return this.insert(sale);
    });
  }
  sellIfAvailable(sale: Omit<NewPurchase, 'stockAfter'>): Promise<Sale | undefined> {
    return this.run(() => {
      const stockAfter = this.decrement(sale.sku, sale.quantity);
      return stockAfter === undefined ? undefined : { purchaseId: this.insert({ ...sale, stockAfter }), stockAfter };
    });
  }
  // One synchronous call: in-process there are no round trips for a
  // multi-row INSERT to save, and one prepared single-row INSERT run n times
  // costs less than building and parsing a new n-row statement per batch.
  writeSales(sku: string, stockAfter: number, sales: NewPurchase[]): Promise<number[]> {
    return this.run(() => {
      this.setStock(sku, stockAfter);
      return sales.map((sale) => this.insert(sale));
    });
  }
  findPurchases(requestIds: string[]): Promise<PurchaseRow[]> {
    return this.run(() => (this.statement(SQL.findPurchases).all(JSON.stringify(requestIds)) as PurchaseRecord[]).map(toPurchaseRow));
  }
  private setStock(sku: string, stock: number): void {
    this.statement(SQL.writeStock).run(stock, sku);
  }
  private decrement(sku: string, quantity: number): number | undefined {
    return (this.statement(SQL.decrement).get(quantity, sku, quantity) as { stock: number } | undefined)?.stock;
  }
  private insert({ sku, buyerId, quantity, requestId, stockAfter }: NewPurchase): number {
    return Number(this.statement(SQL.insertPurchase).run(sku, buyerId, quantity, requestId, stockAfter).lastInsertRowid);
  }
  findPurchase(requestId: string): Promise<PurchaseRow | undefined> {
    return this.run(() => {
      const record = this.statement(SQL.findPurchase).get(requestId) as PurchaseRecord | undefined;
      return record && toPurchaseRow(record);
    });
  }
  seedItem(sku: string, itemName: string, stock: number): Promise<boolean> {
    return this.run(() => this.statement(SQL.seedItem).run(sku, itemName, stock, stock).changes === 1);
  }
  resetItem(sku: string, stock: number): Promise<void> {
    return this.run(() => {
      this.statement(SQL.resetItem).run(stock, stock, sku);
      this.statement(SQL.deletePurchases).run(sku);
    });
  }
  inventory(sku: string): Promise<Inventory | undefined> {
    return this.run(() => this.statement(SQL.inventory).get(sku) as Inventory | undefined);
  }
  purchases(sku: string): Promise<PurchaseRow[]> {
    return this.run(() => (this.statement(SQL.purchases).all(sku) as PurchaseRecord[]).map(toPurchaseRow));
  }
  auditLedger(sku: string): Promise<AuditRow[]> {
    // Arrays, not objects keyed by column: better-sqlite3 builds them faster.
    return this.run(() => {
      const rows = this.statement(SQL.auditLedger).raw(true).all(sku) as Array<[number, string, number, number]>;
      return rows.map(([id, requestId, quantity, stockAfter]) => ({ id, requestId, quantity, stockAfter }));
    });
  }
  /**
   * The raw query hook of the reservation flow (adapters/reservations/): one
   * parameterised statement of its own SQL, prepared once, in the caller's
   * transaction; rows for a reader, the count of changed rows otherwise.
   */
  raw(sql: string, params: readonly unknown[]): Promise<RawResult> {
    return this.run(() => {
      const statement = this.statement(sql);
      if (statement.reader) return { rows: statement.all(...params) as Array<Record<string, unknown>>, changes: 0 };
      return { rows: [], changes: statement.run(...params).changes };
    });
  }
  // prepare() takes one statement only, and a read-only connection refuses writes.
  select(sql: string): Promise<SelectResult> {
    return this.run(() => {
      const statement = this.db.prepare(sql);
      return { columns: statement.columns().map((column) => column.name), rows: statement.all() as Array<Record<string, unknown>> };
    });
  }
}

export class SqliteAdapter implements Adapter {
  readonly dialect = 'sqlite' as const;
  readonly label: string;
  private readonly session: SqliteSession;
  private readonly waiting: Array<(session: Session) => void> = [];
  private held = false;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly path: string,
  ) {
    this.label = `sqlite:${path}`;
    this.session = new SqliteSession(db);
  }

  static open(path: string, options: AdapterOptions): SqliteAdapter {
    if (options.readOnly) return SqliteAdapter.openReadOnly(path);
    if (path !== ':memory:' && !existsSync(dirname(path))) {
      throw new DatabaseUnreachableError(`cannot open sqlite:${path}: directory ${dirname(path)} does not exist`);
    }
    let db: SqliteDatabase;
    try {
      // `timeout` is SQLite's busy timeout: how long BEGIN IMMEDIATE waits
      // for another process's write lock before failing with SQLITE_BUSY.
      db = new Database(path, { timeout: options.lockTimeoutMs ?? 5000 }) as unknown as SqliteDatabase;
      // WAL lets readers (GET /inventory, verify) proceed while a buyer
      // holds the write lock, and makes commits cheap.
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.sqliteSynchronous ?? 'NORMAL'}`);
    } catch (error) {
      throw new DatabaseUnreachableError(`cannot open sqlite:${path}: ${(error as Error).message}`, { cause: error });
    }
    return new SqliteAdapter(db, path);
  }

  // No pragmas: journal_mode and synchronous are the writer's business, and
  // setting them would write. fileMustExist: a typo must not leave a new,
  // empty database behind.
  private static openReadOnly(path: string): SqliteAdapter {
    if (!existsSync(path)) throw new DatabaseUnreachableError(`cannot open sqlite:${path}: no such file (verify never creates a database)`);
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true }) as unknown as SqliteDatabase;
      return new SqliteAdapter(db, path);
    } catch (error) {
      throw new DatabaseUnreachableError(`cannot open sqlite:${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  async migrate(): Promise<void> {
    // One process at a time: two servers starting on a new file must not
    // both try to create the tables.
    const session = await this.acquire();
    try {
      this.db.exec(`BEGIN IMMEDIATE; ${SCHEMA} ${SQLITE_RESERVATION_SCHEMA} COMMIT;`);
    } catch (error) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // Nothing was begun.
      }
      throw translate(error);
    } finally {
      this.release(session);
    }
  }

  acquire(): Promise<Session> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.session);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(_session: Session, _broken?: boolean): void {
    const next = this.waiting.shift();
    if (next) next(this.session);
    else this.held = false;
  }

  async serverVersion(): Promise<string> {
    const row = this.db.prepare('SELECT sqlite_version() AS version').get() as { version: string };
    return `SQLite ${row.version}`;
  }

  async close(): Promise<void> {
    const session = await this.acquire();
    this.db.close();
    this.release(session);
  }
}
