// What `verify` reads from any store, SQL or not: the final stock and the
// ledger, each by a query in the store's own language, and never a write.
// sql-reader.ts serves SQLite, PostgreSQL and MySQL through their adapters;
// redis.ts serves Redis. Interpreting the answers (one number, ledger
// columns) is verify's business (src/verify/final-state.ts).

import { ConfigError } from '../src/errors.js';
import type { AuditRow } from './adapter.js';
import { maskPassword } from './url.js';

/** Which language a store's queries are written in. */
export type StoreLanguage = 'sql' | 'redis';

/** What a bare Redis ledger member (not a JSON row) is: a request id, a buyer id or a purchase id. */
export type LedgerMember = 'request_id' | 'buyer_id' | 'id';

/** Rows as a query returned them, keyed by column (or JSON field) name. */
export interface QueryAnswer {
  /** The column names of a SQL answer; for Redis the one name each scalar is given (`value`). */
  columns: string[];
  /** One record per row (SQL) or per value, member or entry (Redis). */
  rows: Array<Record<string, unknown>>;
}

/** The queries one store answers in one read. */
export interface ReadRequest {
  /** Query for the final stock. */
  stock?: string | undefined;
  /** Query for the ledger. */
  ledger?: string | undefined;
  /** What a bare ledger member is (Redis). */
  member?: LedgerMember | undefined;
}

/** The reference schema's item as `verify` reads it. */
export interface ReferenceState {
  /** `inventory.stock`. */
  finalStock: number;
  /** `inventory.initial_stock`. */
  initialStock: number;
  /** The item's `purchases` rows, oldest first. */
  ledger: AuditRow[];
}

/** One store opened for reading only. */
export interface StoreReader {
  /** Which flags speak to it: `--stock`/`--ledger` (Redis) or `--stock-sql`/`--ledger-sql`. */
  readonly language: StoreLanguage;
  /** The URL with any password masked, for messages and the report. */
  readonly label: string;
  /** Runs the stock query, then the ledger query, as of one moment where the store allows it. */
  read(request: ReadRequest): Promise<{ stock?: QueryAnswer; ledger?: QueryAnswer }>;
  /** The reference schema's item and ledger; ConfigError on a store that has no reference schema. */
  reference(sku: string): Promise<ReferenceState>;
  /** Closes the connection(s). */
  close(): Promise<void>;
}

/** Which language a store URL speaks, or a one-line ConfigError naming the schemes verify reads. */
export function storeLanguage(url: string): StoreLanguage {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  if (scheme === 'redis:' || scheme === 'rediss:') return 'redis';
  if (scheme && ['sqlite:', 'postgres:', 'postgresql:', 'mysql:', 'mariadb:'].includes(scheme)) return 'sql';
  throw new ConfigError(`unsupported store URL ${JSON.stringify(maskPassword(url))}: use sqlite:PATH, postgres://…, mysql://… or redis://…`);
}

/** Opens the store a URL names for reading; the driver is loaded only when its store is used. */
export async function openReader(url: string): Promise<StoreReader> {
  if (storeLanguage(url) === 'redis') {
    const { RedisReader } = await import('./redis.js');
    return RedisReader.open(url);
  }
  const { SqlReader } = await import('./sql-reader.js');
  return SqlReader.open(url);
}
