import { parseRedisCommand } from '../../adapters/redis-command.js';
import { openReader, storeLanguage, type LedgerMember, type QueryAnswer, type StoreReader } from '../../adapters/reader.js';
import { ConfigError, FlashsaleError } from '../errors.js';
import type { FinalState, LedgerEntry } from './db-audit.js';

// Where verify's final state comes from. The stock and the ledger each come
// from a store (SQLite, PostgreSQL, MySQL, Redis) — the same one or two
// different ones — or the stock is given by value. Everything here is read
// through adapters/reader.ts, read-only.

/** The store flags of `flashsale verify`, as given. */
export interface StoreOptions {
  /** Default store for both the stock and the ledger. */
  db?: string | undefined;
  /** Item of the reference schema. */
  sku: string;
  /** Store the stock is read from (default: db). */
  stockDb?: string | undefined;
  /** Redis command returning the final stock. */
  stock?: string | undefined;
  /** SQL returning the final stock: one row, one number. */
  stockSql?: string | undefined;
  /** The final stock by value, read from any other system. */
  finalStock?: number | undefined;
  /** Store the ledger is read from (default: db). */
  ledgerDb?: string | undefined;
  /** Redis command returning the ledger. */
  ledger?: string | undefined;
  /** SQL returning the ledger rows: quantity, and request_id, buyer_id, stock_after, id if you have them. */
  ledgerSql?: string | undefined;
  /** What a bare Redis ledger member is (default request_id). */
  ledgerMember?: LedgerMember | undefined;
}

/** A user's query, and the flag that gave it (for messages). */
interface UserQuery {
  /** The store it runs against. */
  url: string;
  /** The SQL or the Redis command line. */
  text: string;
  /** The flag that gave it. */
  flag: '--stock' | '--stock-sql' | '--ledger' | '--ledger-sql';
}

/** What to read from where, decided from the flags before anything is opened. */
export interface ReadPlan {
  /** Item of the reference schema. */
  sku: string;
  /** The final stock: by value, from the reference schema of a store, or by the user's query. */
  stock: { value: number } | { reference: string } | { query: UserQuery };
  /** Undefined: no ledger is read (D2–D4, D6 say which flag would give one). */
  ledger: { reference: string } | { query: UserQuery; member: LedgerMember } | undefined;
}

/** The final state, and the initial stock when the store knows it. */
export interface ReadState {
  /** What the checks read. */
  state: FinalState;
  /** S, when the store knows it (the reference schema). */
  initialStock: number | undefined;
}

/**
 * Checks the store flags and says what will be read; undefined when no store
 * and no final stock was given (the history checks decide alone). A bad
 * combination is a one-line ConfigError, before any history is parsed.
 */
export function planFinalState(options: StoreOptions): ReadPlan | undefined {
  const stockQuery = oneOf(options.stock, '--stock', options.stockSql, '--stock-sql');
  const ledgerQuery = oneOf(options.ledger, '--ledger', options.ledgerSql, '--ledger-sql');
  const stockUrl = options.stockDb ?? options.db;
  const ledgerUrl = options.ledgerDb ?? options.db;
  if (options.finalStock !== undefined && (stockQuery || options.stockDb)) {
    throw new ConfigError('--final-stock gives the final stock by value: drop --stock-db/--stock/--stock-sql, or drop --final-stock');
  }
  if (options.ledgerDb && !ledgerQuery) throw new ConfigError("--ledger-db needs --ledger 'SMEMBERS key' (Redis) or --ledger-sql 'SELECT …' (SQL)");
  if (stockQuery && !stockUrl) throw new ConfigError(`${stockQuery.flag} needs a store to run against: give --stock-db URL or --db URL`);
  if (ledgerQuery && !ledgerUrl) throw new ConfigError(`${ledgerQuery.flag} needs a store to run against: give --ledger-db URL or --db URL`);

  let stock: ReadPlan['stock'];
  if (options.finalStock !== undefined) stock = { value: options.finalStock };
  else if (stockQuery) stock = { query: { url: stockUrl!, ...checkLanguage(stockUrl!, stockQuery) } };
  else if (stockUrl) stock = { reference: checkReference(stockUrl) };
  else if (ledgerQuery) throw new ConfigError('a ledger needs the final stock too: give --final-stock N, --stock-db URL with --stock/--stock-sql, or --db URL');
  else return undefined;

  let ledger: ReadPlan['ledger'];
  if (ledgerQuery) ledger = { query: { url: ledgerUrl!, ...checkLanguage(ledgerUrl!, ledgerQuery) }, member: options.ledgerMember ?? 'request_id' };
  // The reference ledger goes with the reference stock, read as of the same moment.
  else if ('reference' in stock) ledger = { reference: stock.reference };
  return { sku: options.sku, stock, ledger };
}

function oneOf(redis: string | undefined, redisFlag: '--stock' | '--ledger', sql: string | undefined, sqlFlag: '--stock-sql' | '--ledger-sql') {
  if (redis !== undefined && sql !== undefined) throw new ConfigError(`give ${redisFlag} (a Redis command) or ${sqlFlag} (SQL), not both`);
  if (redis !== undefined) return { text: redis, flag: redisFlag };
  if (sql !== undefined) return { text: sql, flag: sqlFlag };
  return undefined;
}

/** `--stock`/`--ledger` speak Redis and `--stock-sql`/`--ledger-sql` speak SQL; a mismatch is named at once. */
function checkLanguage(url: string, query: Omit<UserQuery, 'url'>): Omit<UserQuery, 'url'> {
  const language = storeLanguage(url);
  const isSql = query.flag.endsWith('-sql');
  if (language === 'redis' && isSql) {
    throw new ConfigError(`${query.flag} takes SQL, but the store is Redis: give ${query.flag.replace('-sql', '')} 'GET key' (a Redis read command) instead`);
  }
  if (language === 'sql' && !isSql) throw new ConfigError(`${query.flag} takes a Redis command, but the store is a SQL database: give ${query.flag}-sql 'SELECT …' instead`);
  // A write is refused now, before the store is opened: the user learns it even
  // when the store is unreachable or refuses the password, and nothing is sent.
  if (language === 'redis') parseRedisCommand(query.text, query.flag);
  return query;
}

function checkReference(url: string): string {
  if (storeLanguage(url) === 'redis') {
    throw new ConfigError("a Redis store has no reference schema: give --stock 'GET key' (and --ledger 'SMEMBERS key' …), or --final-stock N");
  }
  return url;
}

/** Reads what the plan says, each store opened once, and closes them all. */
export async function readFinalState(plan: ReadPlan): Promise<ReadState> {
  const readers = new Map<string, Promise<StoreReader>>();
  const open = (url: string) => {
    let reader = readers.get(url);
    if (!reader) readers.set(url, (reader = openReader(url)));
    return reader;
  };
  try {
    return await read(plan, open);
  } finally {
    for (const reader of readers.values()) await reader.then((r) => r.close()).catch(() => undefined);
  }
}

async function read(plan: ReadPlan, open: (url: string) => Promise<StoreReader>): Promise<ReadState> {
  const { stock, ledger } = plan;
  if ('reference' in stock) {
    const reader = await open(stock.reference);
    const reference = await readingReference(reader, plan.sku);
    let state: FinalState = {
      finalStock: reference.finalStock,
      ledger: reference.ledger,
      columns: { requestId: true, stockAfter: true },
      source: `${reader.label} sku ${plan.sku}`,
    };
    if (ledger && 'query' in ledger) {
      const answer = (await (await open(ledger.query.url)).read({ ledger: ledger.query.text, member: ledger.member })).ledger!;
      state = { ...state, ...ledgerState(answer, ledger.query.flag), source: `stock: ${reader.label} sku ${plan.sku}; ledger: ${await describe(ledger.query, open)}` };
    }
    return { state, initialStock: reference.initialStock };
  }

  let finalStock: number;
  let stockSource: string;
  let ledgerAnswer: QueryAnswer | undefined;
  const ledgerQuery = ledger && 'query' in ledger ? ledger : undefined;
  if ('value' in stock) {
    finalStock = stock.value;
    stockSource = `--final-stock ${stock.value}`;
  } else {
    const reader = await open(stock.query.url);
    // One store for both: one read, one snapshot where the store has one.
    const together = ledgerQuery && ledgerQuery.query.url === stock.query.url;
    const answer = await reader.read({ stock: stock.query.text, ...(together ? { ledger: ledgerQuery.query.text, member: ledgerQuery.member } : {}) });
    finalStock = stockValue(answer.stock!, stock.query.flag);
    stockSource = await describe(stock.query, open);
    if (together) ledgerAnswer = answer.ledger;
  }
  if (ledgerQuery && !ledgerAnswer) {
    ledgerAnswer = (await (await open(ledgerQuery.query.url)).read({ ledger: ledgerQuery.query.text, member: ledgerQuery.member })).ledger!;
  }
  if (!ledgerAnswer || !ledgerQuery) {
    return { state: { finalStock, ledger: undefined, columns: { requestId: false, stockAfter: false }, source: stockSource }, initialStock: undefined };
  }
  const ledgerSource = await describe(ledgerQuery.query, open);
  const source = ledgerSource === stockSource ? stockSource : `stock: ${stockSource}; ledger: ${ledgerSource}`;
  return { state: { finalStock, ...ledgerState(ledgerAnswer, ledgerQuery.query.flag), source }, initialStock: undefined };
}

async function describe(query: UserQuery, open: (url: string) => Promise<StoreReader>): Promise<string> {
  const reader = await open(query.url);
  return reader.language === 'sql' ? `${reader.label} (your SQL)` : `${reader.label} (your commands)`;
}

/** The reference schema's item, with a database that lacks it named in one line. */
async function readingReference(reader: StoreReader, sku: string) {
  try {
    return await reader.reference(sku);
  } catch (error) {
    if (error instanceof FlashsaleError && error.code === 'FS_NO_SCHEMA') {
      throw new ConfigError(
        `${reader.label} has no flashsale tables (${error.message}): point --db at the database serve used, or read your own schema with --stock-sql/--ledger-sql`,
        { cause: error },
      );
    }
    if (error instanceof FlashsaleError) throw error;
    throw new ConfigError(`cannot read ${reader.label}: ${String((error as Error)?.message ?? error).split('\n')[0]}`, { cause: error });
  }
}

/** Exactly one row of one whole number: anything else would be a guess, and a guess can be a false PASS. */
function stockValue(answer: QueryAnswer, flag: string): number {
  const redis = !flag.endsWith('-sql');
  const what = redis ? 'one number (the final stock)' : 'exactly one row of one number (the final stock)';
  if (answer.rows.length === 0) throw new ConfigError(`${flag} returned ${redis ? 'nothing (no such key or field?)' : 'no row'}: it must return ${what}`);
  if (answer.rows.length > 1) throw new ConfigError(`${flag} returned ${answer.rows.length} ${redis ? 'values' : 'rows'}: it must return ${what}`);
  if (answer.columns.length !== 1) throw new ConfigError(`${flag} returned ${answer.columns.length} columns (${answer.columns.join(', ')}): it must return ${what}`);
  const value = answer.rows[0]![answer.columns[0]!];
  if (value === null || value === undefined) throw new ConfigError(`${flag} returned NULL: it must return ${what}`);
  return wholeNumber(value, flag, 'the final stock');
}

/** Ledger rows (SQL rows, or Redis members and JSON rows) as the audit reads them. */
function ledgerState(answer: QueryAnswer, flag: string): Pick<FinalState, 'ledger' | 'columns'> {
  const rows = answer.rows;
  const field = (row: Record<string, unknown>, snake: string, camel: string) => {
    const value = row[snake] ?? row[camel];
    return value === null ? undefined : value;
  };
  // An empty ledger has nothing to join, so it cannot lack a column.
  // Said outright, so the audit never mistakes a made-up row number for a purchase id.
  const columns = {
    requestId: rows.every((row) => field(row, 'request_id', 'requestId') !== undefined),
    stockAfter: rows.every((row) => field(row, 'stock_after', 'stockAfter') !== undefined),
    buyerId: rows.every((row) => field(row, 'buyer_id', 'buyerId') !== undefined),
    purchaseId: rows.every((row) => row.id !== undefined && row.id !== null),
  };
  const ledger: LedgerEntry[] = rows.map((row, index) => {
    const requestId = field(row, 'request_id', 'requestId');
    const buyerId = field(row, 'buyer_id', 'buyerId');
    const quantity = row.quantity;
    const id = row.id;
    return {
      requestId: columns.requestId ? String(requestId) : undefined,
      quantity: quantity === undefined || quantity === null ? 1 : wholeNumber(quantity, flag, 'quantity'),
      stockAfter: columns.stockAfter ? wholeNumber(field(row, 'stock_after', 'stockAfter'), flag, 'stock_after') : undefined,
      id: id !== undefined && id !== null ? String(id) : `#${index + 1}`,
      buyerId: buyerId !== undefined ? String(buyerId) : undefined,
    };
  });
  return { ledger, columns };
}

// PostgreSQL returns BIGINT and NUMERIC as strings, MySQL SUM as DECIMAL
// text, Redis every value as a string: digits are a number, other text is not.
function wholeNumber(value: unknown, flag: string, what: string): number {
  const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw new ConfigError(`${flag}: ${what} must be a whole number, got ${typeof value === 'string' ? `text ${JSON.stringify(value)}` : JSON.stringify(String(value))}`);
  }
  return number;
}
