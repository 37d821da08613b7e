import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import {
  ConfigError,
  ConnectionLostError,
  DatabaseUnreachableError,
  DuplicateRequestError,
  FlashsaleError,
  LockTimeoutError,
  SchemaMissingError,
} from '../src/errors.js';
import type { Adapter, AdapterOptions, AuditRow, Inventory, NewPurchase, PurchaseRow, Sale, SelectResult, Session, StockRow } from './adapter.js';
import { connectError } from './connect-error.js';
import { idsInOrder, toPurchaseRow, type PurchaseRecord } from './rows.js';
import { maskPassword } from './url.js';
import { mysqlReservationSchema } from './reservations/mysql-schema.js';
import type { RawResult } from './reservations/contract.js';

// A binary NO PAD collation: any sku or id (emoji included) is stored
// verbatim and compared byte for byte, so `A`, `a` and `A ` are three items,
// as on PostgreSQL and SQLite. Plain utf8mb4_bin is PAD SPACE: it compares
// 'A ' equal to 'A', so {"sku":"A "} bought item A. The NO PAD binary
// collation is named differently by MariaDB (10.2+) and MySQL (8.0.17+).
const EXACT_COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'] as const;
// Text columns the reference code compares in SQL: they must compare exactly.
const EXACT_COLUMNS = ['sku', 'buyer_id', 'request_id'];

const schema = (collation: string) => [
  `CREATE TABLE IF NOT EXISTS inventory (
     sku           VARCHAR(64)  NOT NULL PRIMARY KEY,
     item_name     VARCHAR(255) NOT NULL,
     initial_stock INT          NOT NULL,
     stock         INT          NOT NULL,
     version       BIGINT       NOT NULL DEFAULT 0,
     updated_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT inventory_initial_stock_nonnegative CHECK (initial_stock >= 0),
     CONSTRAINT inventory_stock_nonnegative CHECK (stock >= 0)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
  `CREATE TABLE IF NOT EXISTS purchases (
     id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
     sku         VARCHAR(64)  NOT NULL,
     buyer_id    VARCHAR(255) NOT NULL,
     quantity    INT          NOT NULL,
     request_id  VARCHAR(255) NOT NULL,
     stock_after INT          NOT NULL,
     created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT purchases_quantity_positive CHECK (quantity > 0),
     UNIQUE KEY purchases_request_id (request_id),
     KEY purchases_sku (sku)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
];

const SQL = {
  readStock: 'SELECT stock, version FROM inventory WHERE sku = ?',
  readStockForUpdate: 'SELECT stock, version FROM inventory WHERE sku = ? FOR UPDATE',
  writeStock: 'UPDATE inventory SET stock = ?, version = version + 1, updated_at = CURRENT_TIMESTAMP(6) WHERE sku = ?',
  compareAndSet:
    'UPDATE inventory SET stock = ?, version = version + 1, updated_at = CURRENT_TIMESTAMP(6) WHERE sku = ? AND version = ?',
  decrement:
    'UPDATE inventory SET stock = stock - ?, version = version + 1, updated_at = CURRENT_TIMESTAMP(6) WHERE sku = ? AND stock >= ?',
  insertPurchase: 'INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES (?, ?, ?, ?, ?)',
  // Followed by one `(?, ?, ?, ?, ?)` group per row.
  insertPurchases: 'INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES',
  findPurchase: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE request_id = ?',
  // Followed by the parenthesised list of ids.
  findPurchasesIn: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE request_id IN',
  seedItem: 'INSERT IGNORE INTO inventory (sku, item_name, initial_stock, stock) VALUES (?, ?, ?, ?)',
  resetItem:
    'UPDATE inventory SET stock = ?, initial_stock = ?, version = version + 1, updated_at = CURRENT_TIMESTAMP(6) WHERE sku = ?',
  deletePurchases: 'DELETE FROM purchases WHERE sku = ?',
  inventory: `SELECT i.sku, i.item_name, i.stock AS current_stock, i.initial_stock,
                     CAST((SELECT COALESCE(SUM(p.quantity), 0) FROM purchases p WHERE p.sku = i.sku) AS SIGNED) AS total_purchases,
                     i.updated_at AS last_updated
              FROM inventory i WHERE i.sku = ?`,
  purchases: 'SELECT id, sku, buyer_id, quantity, request_id, stock_after, created_at FROM purchases WHERE sku = ? ORDER BY id',
  auditLedger: 'SELECT id, request_id, quantity, stock_after FROM purchases WHERE sku = ? ORDER BY id',
} as const;



const LOCK_CONFLICTS = new Set(['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK']);
// Failing to open a connection: the database is down, refuses us, or lacks the database.
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'PROTOCOL_CONNECTION_LOST',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_CON_COUNT_ERROR',
]);
// An open connection breaking: socket errors, `KILL <id>` (ER_CONNECTION_KILLED
// for the statement in flight, PROTOCOL_CONNECTION_LOST after), a server
// shutting down, and any later use of a connection that already failed.
const CONNECTION_LOST = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
]);

/**
 * Maps mysql2's errors onto the toolkit's typed errors. `phase` says what was
 * going on: a connection failing to open means the database cannot be
 * reached; an open one breaking means the transaction on it died with it.
 */
function translate(error: unknown, label: string, phase: 'connect' | 'query'): unknown {
  if (error instanceof FlashsaleError) return error;
  const code = (error as { code?: unknown }).code;
  const message = String((error as Error)?.message || code);
  if (code === 'ER_DUP_ENTRY') return new DuplicateRequestError('request id already has a ledger row', { cause: error });
  // A database that serve never set up.
  if (code === 'ER_NO_SUCH_TABLE') return new SchemaMissingError((error as Error).message, { cause: error });
  if (typeof code === 'string' && LOCK_CONFLICTS.has(code)) {
    return new LockTimeoutError(`MySQL: ${message}`, { cause: error });
  }
  if (phase === 'query' && ((typeof code === 'string' && CONNECTION_LOST.has(code)) || (error as { fatal?: boolean }).fatal === true)) {
    return new ConnectionLostError(`lost the connection to ${label} (${message}); its transaction was not committed`, { cause: error });
  }
  if (code === 'ETIMEDOUT') {
    // mysql2's connectTimeout: the database may be down, or this server too busy to finish the handshake.
    return new DatabaseUnreachableError(`could not open a connection to ${label} within 5 s (database down or slow, or this server overloaded)`, { cause: error });
  }
  if (typeof code === 'string' && CONNECT_FAILURES.has(code)) {
    return new DatabaseUnreachableError(`cannot reach ${label}: ${message}`, { cause: error });
  }
  return error;
}

class MysqlSession implements Session {
  constructor(
    readonly connection: PoolConnection,
    private readonly label: string,
    /** The server takes `INSERT … RETURNING` (MariaDB 10.5+). */
    private readonly insertReturning: boolean,
  ) {}

  /** Set once the connection broke; release() then destroys it instead of pooling it. */
  lost = false;

  private fail(error: unknown): unknown {
    const translated = translate(error, this.label, 'query');
    if (translated instanceof ConnectionLostError) this.lost = true;
    return translated;
  }

  // execute() prepares each statement once per connection and reuses it.
  private async execute<R extends RowDataPacket[] | ResultSetHeader>(sql: string, values: unknown[] = []): Promise<R> {
    try {
      const [result] = await this.connection.execute<R>(sql, values as never);
      return result;
    } catch (error) {
      throw this.fail(error);
    }
  }

  // Parameters escaped by the client, for statements whose shape changes with the batch size.
  private async query<R extends RowDataPacket[] | ResultSetHeader>(sql: string, values: unknown[]): Promise<R> {
    try {
      const [result] = await this.connection.query<R>(sql, values);
      return result;
    } catch (error) {
      throw this.fail(error);
    }
  }

  private async command(sql: string): Promise<void> {
    try {
      await this.connection.query(sql);
    } catch (error) {
      throw this.fail(error);
    }
  }

  begin(): Promise<void> {
    return this.command('BEGIN');
  }
  commit(): Promise<void> {
    return this.command('COMMIT');
  }
  rollback(): Promise<void> {
    return this.command('ROLLBACK');
  }
  // The sessions run READ COMMITTED (see the constructor); REPEATABLE READ for
  // this one transaction makes its consistent snapshot cover every statement,
  // so the stock and the ledger are read as of the same moment.
  async beginReadOnly(): Promise<void> {
    await this.command('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await this.command('START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT');
  }

  async readStock(sku: string): Promise<StockRow | undefined> {
    return stockRow((await this.execute<RowDataPacket[]>(SQL.readStock, [sku]))[0]);
  }
  async readStockForUpdate(sku: string): Promise<StockRow | undefined> {
    return stockRow((await this.execute<RowDataPacket[]>(SQL.readStockForUpdate, [sku]))[0]);
  }
  async writeStock(sku: string, stock: number): Promise<void> {
    await this.execute(SQL.writeStock, [stock, sku]);
  }
  async compareAndSetStock(sku: string, expectedVersion: number, stock: number): Promise<boolean> {
    return (await this.execute<ResultSetHeader>(SQL.compareAndSet, [stock, sku, expectedVersion])).affectedRows === 1;
  }
  async decrementIfAvailable(sku: string, quantity: number): Promise<number | undefined> {
    const result = await this.execute<ResultSetHeader>(SQL.decrement, [quantity, sku, quantity]);
    if (result.affectedRows !== 1) return undefined;
    // MySQL has no UPDATE … RETURNING. This transaction holds the row's
    // exclusive lock since the UPDATE, so reading it back sees exactly the
    // stock this decrement left.
    return (await this.readStock(sku))!.stock;
  }
  async insertPurchase(purchase: NewPurchase): Promise<number> {
    const { sku, buyerId, quantity, requestId, stockAfter } = purchase;
    return (await this.execute<ResultSetHeader>(SQL.insertPurchase, [sku, buyerId, quantity, requestId, stockAfter])).insertId;
  }
  // MySQL has no data-modifying WITH: the same statements as apart.
  async writeSale(sale: NewPurchase): Promise<number> {
    await this.writeStock(sale.sku, sale.stockAfter);
    return this.insertPurchase(sale);
  }
  async sellIfAvailable(sale: Omit<NewPurchase, 'stockAfter'>): Promise<Sale | undefined> {
    const stockAfter = await this.decrementIfAvailable(sale.sku, sale.quantity);
    if (stockAfter === undefined) return undefined;
    return { purchaseId: await this.insertPurchase({ ...sale, stockAfter }), stockAfter };
  }
  // The ids come back with the rows: on MariaDB 10.5+ the INSERT itself
  // returns them (INSERT … RETURNING), one round trip under the row lock
  // fewer. MySQL has no RETURNING, so there they are read back by request id
  // rather than computed from the insert id: a multi-row VALUES INSERT is a
  // "simple insert", which gets consecutive ids under innodb_autoinc_lock_mode
  // 0 and 1, but not necessarily under 2 (MySQL 8's default, "interleaved"),
  // nor with auto_increment_increment above 1 (Galera, multi-primary).
  // request_id is UNIQUE and the rows are this transaction's own, so the read
  // is exact under every setting. Matched on request_id either way.
  // query(), not execute(): a statement per batch size would fill the
  // prepared-statement cache of every connection.
  async writeSales(sku: string, stockAfter: number, sales: NewPurchase[]): Promise<number[]> {
    // A lone buyer costs what `lock` costs: a one-row insert's id is exact.
    if (sales.length === 1) return [await this.writeSale({ ...sales[0]!, stockAfter })];
    await this.writeStock(sku, stockAfter);
    const values = sales.flatMap((sale) => [sku, sale.buyerId, sale.quantity, sale.requestId, sale.stockAfter]);
    const insert = `${SQL.insertPurchases} ${sales.map(() => '(?, ?, ?, ?, ?)').join(', ')}`;
    type IdRows = Array<{ id: number | string; request_id: string } & RowDataPacket>;
    if (this.insertReturning) return idsInOrder(sales, await this.query<IdRows>(`${insert} RETURNING id, request_id`, values));
    await this.query(insert, values);
    const rows = await this.query<IdRows>(
      `SELECT id, request_id FROM purchases WHERE request_id IN (${sales.map(() => '?').join(', ')})`,
      sales.map((sale) => sale.requestId),
    );
    return idsInOrder(sales, rows);
  }
  async findPurchases(requestIds: string[]): Promise<PurchaseRow[]> {
    if (requestIds.length === 0) return [];
    const sql = `${SQL.findPurchasesIn} (${requestIds.map(() => '?').join(', ')})`;
    return (await this.query<Array<PurchaseRecord & RowDataPacket>>(sql, requestIds)).map(toPurchaseRow);
  }
  async findPurchase(requestId: string): Promise<PurchaseRow | undefined> {
    const record = (await this.execute<Array<PurchaseRecord & RowDataPacket>>(SQL.findPurchase, [requestId]))[0];
    return record && toPurchaseRow(record);
  }
  async seedItem(sku: string, itemName: string, stock: number): Promise<boolean> {
    return (await this.execute<ResultSetHeader>(SQL.seedItem, [sku, itemName, stock, stock])).affectedRows === 1;
  }
  async resetItem(sku: string, stock: number): Promise<void> {
    await this.execute(SQL.resetItem, [stock, stock, sku]);
    await this.execute(SQL.deletePurchases, [sku]);
  }
  async inventory(sku: string): Promise<Inventory | undefined> {
    const row = (await this.execute<RowDataPacket[]>(SQL.inventory, [sku]))[0];
    return (
      row && {
        sku: row.sku,
        item_name: row.item_name,
        current_stock: row.current_stock,
        initial_stock: row.initial_stock,
        total_purchases: Number(row.total_purchases),
        last_updated: (row.last_updated as Date).toISOString(),
      }
    );
  }
  async purchases(sku: string): Promise<PurchaseRow[]> {
    return (await this.execute<Array<PurchaseRecord & RowDataPacket>>(SQL.purchases, [sku])).map(toPurchaseRow);
  }
  async auditLedger(sku: string): Promise<AuditRow[]> {
    const rows = await this.execute<Array<{ id: number | string; request_id: string; quantity: number; stock_after: number } & RowDataPacket>>(SQL.auditLedger, [sku]);
    return rows.map((row) => ({ id: Number(row.id), requestId: row.request_id, quantity: row.quantity, stockAfter: row.stock_after }));
  }
  /**
   * The raw query hook of the reservation flow (adapters/reservations/): one
   * parameterised statement of its own SQL, prepared once per connection, in
   * the caller's transaction; rows for a query, affected rows otherwise.
   */
  async raw(sql: string, params: readonly unknown[]): Promise<RawResult> {
    const result = await this.execute<RowDataPacket[] | ResultSetHeader>(sql, [...params]);
    return Array.isArray(result) ? { rows: result, changes: 0 } : { rows: [], changes: result.affectedRows };
  }
  // mysql2 sends one statement per query unless multipleStatements is set,
  // which this adapter never does.
  async select(sql: string): Promise<SelectResult> {
    try {
      const [rows, fields] = await this.connection.query<RowDataPacket[]>(sql);
      // A statement that is not a query answers with a result header, not rows.
      if (!Array.isArray(rows) || !Array.isArray(fields)) return { columns: [], rows: [] };
      return { columns: fields.map((field) => field.name), rows };
    } catch (error) {
      throw this.fail(error);
    }
  }
}

/** The server's binary NO PAD collation; refuses a server that has none. */
async function exactCollation(connection: PoolConnection, label: string): Promise<string> {
  const [rows] = await connection.query<RowDataPacket[]>(
    `SHOW COLLATION WHERE Collation IN (${EXACT_COLLATIONS.map((name) => `'${name}'`).join(', ')})`,
  );
  const found = EXACT_COLLATIONS.find((name) => rows.some((row) => row.Collation === name));
  if (!found) {
    throw new ConfigError(
      `${label} has no NO PAD binary collation, so it would sell item "A" to a request for "A ": flashsale needs MariaDB 10.2+ or MySQL 8.0.17+`,
    );
  }
  return found;
}

/**
 * Tables created by earlier versions (utf8mb4_bin, PAD SPACE) are converted
 * once; CREATE TABLE IF NOT EXISTS alone would leave them as they were.
 * First, ledger rows written under the padded comparison (a purchase of
 * "A " recorded with the sku as sent) are given their item's exact sku,
 * or they would drop out of the item's ledger once comparisons are exact.
 * Going from PAD to NO PAD cannot break a unique key: values that were
 * distinct stay distinct.
 */
async function makeSkusExact(connection: PoolConnection, collation: string): Promise<void> {
  const [stale] = await connection.query<RowDataPacket[]>(
    `SELECT DISTINCT TABLE_NAME AS name FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('inventory', 'purchases')
       AND COLUMN_NAME IN (${EXACT_COLUMNS.map((name) => `'${name}'`).join(', ')}) AND COLLATION_NAME <> ?`,
    [collation],
  );
  const tables = stale.map((row) => String(row.name)).sort();
  if (tables.length === 0) return;
  await connection.query(
    `UPDATE purchases p JOIN inventory i ON p.sku = i.sku COLLATE utf8mb4_bin
     SET p.sku = i.sku WHERE CAST(p.sku AS BINARY) <> CAST(i.sku AS BINARY)`,
  );
  // A running server holds metadata locks only per statement; wait a while
  // for them, not MariaDB's default of a year.
  await connection.query('SET SESSION lock_wait_timeout = 60');
  try {
    for (const table of tables) await connection.query(`ALTER TABLE ${table} CONVERT TO CHARACTER SET utf8mb4 COLLATE ${collation}`);
  } finally {
    await connection.query('SET SESSION lock_wait_timeout = DEFAULT');
  }
}

/**
 * Whether a `SELECT VERSION()` answer names a server that takes
 * `INSERT … RETURNING`: MariaDB from 10.5 on. MySQL (any version) does not.
 */
export function takesInsertReturning(version: string): boolean {
  const match = /^(\d+)\.(\d+)\.\d+[^-]*-MariaDB/i.exec(version);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 10 || (major === 10 && minor >= 5);
}

/** Test-only choices of the adapter's SQL that the server would otherwise make. */
export interface MysqlDialectOverrides {
  /** false: read a batch's ids back with a SELECT, as on MySQL, even where RETURNING exists. */
  insertReturning?: boolean;
}

function stockRow(row: RowDataPacket | undefined): StockRow | undefined {
  return row && { stock: row.stock, version: Number(row.version) };
}

export class MysqlAdapter implements Adapter {
  readonly dialect = 'mysql' as const;
  readonly label: string;
  private readonly pool: Pool;
  private readonly poolSize: number;
  /** Settled by the first connection: whether the server takes INSERT … RETURNING. */
  private insertReturningKnown: Promise<boolean> | undefined;

  constructor(options: AdapterOptions, overrides: MysqlDialectOverrides = {}) {
    this.label = maskPassword(options.url);
    this.poolSize = options.poolSize ?? 10;
    if (overrides.insertReturning === false) this.insertReturningKnown = Promise.resolve(false);
    // InnoDB counts lock waits in whole seconds.
    const lockWaitSeconds = Math.max(1, Math.ceil((options.lockTimeoutMs ?? 5000) / 1000));
    this.pool = mysql.createPool({
      uri: options.url,
      connectionLimit: this.poolSize,
      connectTimeout: 5000,
      timezone: 'Z',
      waitForConnections: true,
    });
    // Each new connection is set up before its first use: READ COMMITTED so
    // a read after waiting for a lock sees what the lock holder committed,
    // and the lock wait that turns into a 503.
    // A query without a callback that fails emits 'error' on its command
    // object, where nobody listens: an uncaught exception. So each set-up
    // query gets a callback, and a connection that could not be set up (it
    // broke at once: KILL, a restart) is destroyed rather than lent out
    // with the wrong isolation level.
    this.pool.pool.on('connection', (connection) => {
      const destroyOnError = (error: Error | null) => {
        if (error) connection.destroy();
      };
      connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', destroyOnError);
      connection.query(`SET SESSION innodb_lock_wait_timeout = ${lockWaitSeconds}, time_zone = '+00:00'`, destroyOnError);
      // verify: every transaction of this session is read-only unless it says otherwise.
      if (options.readOnly) connection.query('SET SESSION TRANSACTION READ ONLY', destroyOnError);
    });
  }

  async migrate(): Promise<void> {
    const session = (await this.acquire()) as MysqlSession;
    const connection = session.connection;
    let broken = false;
    try {
      // Two servers starting at once take turns, as on PostgreSQL.
      await connection.query("SELECT GET_LOCK('flashsale_migrate', 30)");
      const collation = await exactCollation(connection, this.label);
      for (const statement of schema(collation)) await connection.query(statement);
      for (const statement of mysqlReservationSchema(collation)) await connection.query(statement);
      await makeSkusExact(connection, collation);
      await connection.query("SELECT RELEASE_LOCK('flashsale_migrate')");
    } catch (error) {
      broken = true;
      throw translate(error, this.label, 'query');
    } finally {
      this.release(session, broken);
    }
  }

  async acquire(): Promise<Session> {
    let connection: PoolConnection;
    try {
      connection = await this.pool.getConnection();
    } catch (error) {
      throw connectError(translate(error, this.label, 'connect'), error, this.label);
    }
    try {
      return new MysqlSession(connection, this.label, await this.insertReturning(connection));
    } catch (error) {
      connection.destroy();
      throw translate(error, this.label, 'query');
    }
  }

  /**
   * Whether this server takes INSERT … RETURNING, asked once, on the first
   * connection lent: the same URL reaches MariaDB or MySQL, and only the
   * server can say which. A failed question is asked again next time.
   */
  insertReturning(connection?: PoolConnection): Promise<boolean> {
    if (!this.insertReturningKnown) {
      const ask = async () => {
        const asked = connection ?? (await this.pool.getConnection());
        try {
          const [rows] = await asked.query<RowDataPacket[]>('SELECT VERSION() AS version');
          return takesInsertReturning(String(rows[0]!.version));
        } finally {
          if (!connection) asked.release();
        }
      };
      this.insertReturningKnown = ask();
      this.insertReturningKnown.catch(() => (this.insertReturningKnown = undefined));
    }
    return this.insertReturningKnown;
  }

  async warm(): Promise<void> {
    const opened = await Promise.allSettled(Array.from({ length: this.poolSize }, () => this.pool.getConnection()));
    for (const result of opened) if (result.status === 'fulfilled') result.value.release();
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw translate(failed.reason, this.label, 'connect');
  }

  release(session: Session, broken = false): void {
    const { connection, lost } = session as MysqlSession;
    if (broken || lost) connection.destroy();
    else connection.release();
  }

  async serverVersion(): Promise<string> {
    const session = (await this.acquire()) as MysqlSession;
    try {
      const [rows] = await session.connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
      const version = String(rows[0]!.version);
      return /mariadb/i.test(version) ? `MariaDB ${version.replace(/-MariaDB.*$/i, '')}` : `MySQL ${version}`;
    } finally {
      this.release(session);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
