import { ConfigError, FlashsaleError } from '../src/errors.js';
import type { Adapter } from './adapter.js';
import { openAdapter } from './open.js';
import type { QueryAnswer, ReadRequest, ReferenceState, StoreReader } from './reader.js';
import { readReferenceState } from './store.js';
import { withReadOnlyTransaction } from './transaction.js';

/**
 * SQLite, PostgreSQL and MySQL for `verify`: the adapter opened read-only,
 * and every query inside one read-only transaction that is rolled back.
 */
export class SqlReader implements StoreReader {
  readonly language = 'sql' as const;
  readonly label: string;

  private constructor(private readonly adapter: Adapter) {
    this.label = adapter.label;
  }

  static async open(url: string): Promise<SqlReader> {
    return new SqlReader(await openAdapter({ url, readOnly: true, poolSize: 1 }));
  }

  read(request: ReadRequest): Promise<{ stock?: QueryAnswer; ledger?: QueryAnswer }> {
    return withReadOnlyTransaction(this.adapter, async (session) => {
      const answer: { stock?: QueryAnswer; ledger?: QueryAnswer } = {};
      if (request.stock !== undefined) answer.stock = await run(() => session.select(request.stock!), '--stock-sql');
      if (request.ledger !== undefined) answer.ledger = await run(() => session.select(request.ledger!), '--ledger-sql');
      return answer;
    });
  }

  async reference(sku: string): Promise<ReferenceState> {
    const { inventory, ledger } = await readReferenceState(this.adapter, sku);
    return { finalStock: inventory.current_stock, initialStock: inventory.initial_stock, ledger };
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}

/** The user's SQL failing is their query's fault: one line naming the flag. */
async function run<T>(query: () => Promise<T>, flag: string): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (error instanceof FlashsaleError && error.code === 'FS_DB_UNREACHABLE') throw error;
    throw new ConfigError(`${flag} failed: ${String((error as Error)?.message ?? error).split('\n')[0]}`, { cause: error });
  }
}
