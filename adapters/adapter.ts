// The contract every database adapter implements. It knows no database: each
// of sqlite.ts, postgres.ts and mysql.ts supplies connection handling and its
// own SQL for the reference schema, and nothing outside adapters/ writes SQL.
// Transactions and purchase strategies are written once on top of it
// (transaction.ts, strategies/).

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

/** One row of `inventory`, as the purchase strategies need it. */
export interface StockRow {
  /** Units left. */
  stock: number;
  /** Bumped by every change of `stock`; the optimistic strategy compares it. */
  version: number;
}

/** What `GET /inventory` reports for one item. */
export interface Inventory {
  sku: string;
  item_name: string;
  current_stock: number;
  initial_stock: number;
  /** Units sold, summed over the ledger rows of this item. */
  total_purchases: number;
  /** ISO-8601 time of the last change of this item's row. */
  last_updated: string;
}

/** A ledger row as the purchase path writes it. */
export interface NewPurchase {
  sku: string;
  buyerId: string;
  quantity: number;
  requestId: string;
  /** Stock left by this purchase, written in the same transaction as the decrement. */
  stockAfter: number;
}

/** A ledger row as read back. */
/**
 * The ledger columns an audit reasons with. Reading only these (no sku, buyer
 * or time text) halves what half a million rows cost to read.
 */
export interface AuditRow {
  id: number;
  requestId: string;
  quantity: number;
  stockAfter: number;
}

/** A sale just written: its ledger row's id and the stock it left. */
export interface Sale {
  purchaseId: number;
  stockAfter: number;
}

export interface PurchaseRow extends NewPurchase {
  id: number;
  /** ISO-8601 time the row was written. */
  createdAt: string;
}

/**
 * One connection, held exclusively until released. All methods speak the
 * reference schema; none of them opens or closes a transaction on its own.
 */
export interface Session {
  /** Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock now). */
  begin(): Promise<void>;
  /** Commits the open transaction. */
  commit(): Promise<void>;
  /** Rolls back the open transaction. */
  rollback(): Promise<void>;
  /**
   * Starts a read-only transaction over one snapshot, for `verify`: the
   * database itself refuses any write the user's SQL attempts, and stock and
   * ledger are read as of one moment.
   */
  beginReadOnly(): Promise<void>;

  /** Reads an item's stock without locking; undefined when the sku is unknown. */
  readStock(sku: string): Promise<StockRow | undefined>;
  /**
   * Reads an item's stock and holds its row lock until the transaction ends
   * (`SELECT … FOR UPDATE`; on SQLite the `BEGIN IMMEDIATE` lock already covers it).
   */
  readStockForUpdate(sku: string): Promise<StockRow | undefined>;
  /** Sets the stock unconditionally and bumps the version. */
  writeStock(sku: string, stock: number): Promise<void>;
  /** Sets the stock only if the version is still `expectedVersion`; true when it did. */
  compareAndSetStock(sku: string, expectedVersion: number, stock: number): Promise<boolean>;
  /**
   * Decrements by `quantity` only if at least that much is left, in one
   * statement; returns the stock left, or undefined when nothing changed.
   */
  decrementIfAvailable(sku: string, quantity: number): Promise<number | undefined>;
  /** Appends a ledger row; throws DuplicateRequestError when the request id already has one. */
  insertPurchase(purchase: NewPurchase): Promise<number>;
  /**
   * The writes of a sale decided under the row lock: sets the stock to
   * `sale.stockAfter` and appends the ledger row; returns the purchase id.
   * One statement where the database allows (PostgreSQL), so the lock is held
   * for one round trip less. Throws DuplicateRequestError like insertPurchase.
   */
  writeSale(sale: NewPurchase): Promise<number>;
  /**
   * Decrements by `sale.quantity` only if that much is left and appends the
   * ledger row with the stock left, in one statement where the database
   * allows; undefined (and nothing written) when too little was left.
   */
  sellIfAvailable(sale: Omit<NewPurchase, 'stockAfter'>): Promise<Sale | undefined>;
  /** The ledger row written for a request id, if any. */
  findPurchase(requestId: string): Promise<PurchaseRow | undefined>;
  /**
   * The writes of a whole batch of sales decided under the row lock (the
   * `batch` strategy): sets the stock to `stockAfter` and appends every
   * ledger row in one INSERT. Returns the purchase ids in the order of
   * `sales`. Throws DuplicateRequestError when any request id already has a
   * row; the caller's transaction then undoes all of it.
   */
  writeSales(sku: string, stockAfter: number, sales: NewPurchase[]): Promise<number[]>;
  /** The ledger rows written for any of these request ids, in no particular order. */
  findPurchases(requestIds: string[]): Promise<PurchaseRow[]>;

  /** Creates the item unless it exists; true when it was created. */
  seedItem(sku: string, itemName: string, stock: number): Promise<boolean>;
  /** Sets stock and initial stock, and deletes the item's ledger rows. */
  resetItem(sku: string, stock: number): Promise<void>;
  /** The item as `GET /inventory` shows it. */
  inventory(sku: string): Promise<Inventory | undefined>;
  /** Every ledger row of an item, oldest first. */
  purchases(sku: string): Promise<PurchaseRow[]>;
  /** Every ledger row of an item, oldest first, with only the columns `verify` audits. */
  auditLedger(sku: string): Promise<AuditRow[]>;
  /**
   * Runs one statement the user wrote for their own schema (`verify
   * --stock-sql`, `--ledger-sql`) and returns its columns and its rows keyed
   * by column name. Never more than one statement, so none can end the
   * read-only transaction it runs in.
   */
  select(sql: string): Promise<SelectResult>;
}

/** What a user's SELECT returned. */
export interface SelectResult {
  /** Column names in order; two columns of one name are still two here. */
  columns: string[];
  rows: Array<Record<string, unknown>>;
}

/** A database behind one URL: a pool (or SQLite's single connection) of Sessions. */
export interface Adapter {
  readonly dialect: DialectName;
  /** The URL with any password masked, for logs and banners. */
  readonly label: string;
  /** Creates tables and indexes if absent; safe to run again and from several processes. */
  migrate(): Promise<void>;
  /** Waits for a free connection and hands it over exclusively. */
  acquire(): Promise<Session>;
  /** Gives a connection back; `broken` discards it instead of reusing it. */
  release(session: Session, broken?: boolean): void;
  /** The database server's version string, for banners and benchmark records. */
  serverVersion(): Promise<string>;
  /**
   * Opens the pool's connections now (PostgreSQL, MySQL), so that a stampede
   * does not have to open them while its requests crowd the event loop.
   */
  warm?(): Promise<void>;
  /** Closes every connection; waits for checked-out ones to be released first. */
  close(): Promise<void>;
}

/** How an adapter is configured; parsed from the `--db` URL and flags. */
export interface AdapterOptions {
  /** Connection URL: `sqlite:PATH`, `postgres://…`, `mysql://…`. */
  url: string;
  /** Connections in the pool (PostgreSQL, MySQL). */
  poolSize?: number;
  /** How long a purchase waits for a lock before failing with LockTimeoutError. */
  lockTimeoutMs?: number;
  /**
   * For `verify`: the connection may not write (SQLite opens the file
   * read-only and never creates it; PostgreSQL and MySQL sessions default to
   * read-only transactions).
   */
  readOnly?: boolean;
  /** SQLite `PRAGMA synchronous` level: the durability trade-off, see README. */
  sqliteSynchronous?: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
}
