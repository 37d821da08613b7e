import {
  CommitUnknownError,
  DatabaseUnreachableError,
  DuplicateRequestError,
  FlashsaleError,
  UnknownSkuError,
} from '../../src/errors.js';
import type { Adapter, NewPurchase, PurchaseRow, Session } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import { Batcher, type BatchOptions } from './batcher.js';
import { lockStrategy } from './lock.js';
import { replayOf, sold, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/**
 * Measured (README, Performance; PostgreSQL, 256 buyers in flight): batches
 * of at most 8, 64 and 512 sold 1,003, 1,915 and 2,712 purchases/s over
 * HTTP. 512 is above what one process is sent between two commits at the
 * concurrencies measured, so it bounds memory, not throughput. No wait by
 * default: a lone buyer must not pay for company that is not coming.
 */
export const DEFAULT_BATCH_OPTIONS: BatchOptions = { maxSize: 512, maxWaitMs: 0 };

let processOptions: BatchOptions = DEFAULT_BATCH_OPTIONS;
// One batcher per adapter (per pool) in a process: every server process
// batches on its own, and the database's row lock orders the batches of
// all processes.
const batchers = new WeakMap<Adapter, Batcher>();

/** Sets this process's batch bounds (`serve --batch-size --batch-wait`); call before the first purchase. */
export function configureBatching(options: Partial<BatchOptions>): void {
  processOptions = { ...DEFAULT_BATCH_OPTIONS, ...options };
}

/**
 * Transaction merging: the purchases of one item waiting at one moment are
 * sold in ONE transaction — lock the row once, decide every sale, write the
 * stock once and all ledger rows in one statement, commit once — and each
 * buyer is answered with its own stock_after only after that commit. Buyers
 * of a hot item stop paying one commit (one log flush) each.
 */
export function batchStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  let batcher = batchers.get(adapter);
  if (!batcher) {
    batcher = new Batcher((requests, committing) => sellBatch(adapter, requests, committing), processOptions);
    batchers.set(adapter, batcher);
  }
  return batcher.submit(request);
}

type Settled = PromiseSettledResult<PurchaseOutcome>;

/**
 * Sells one item's batch. A request id that already has a ledger row makes
 * the multi-row INSERT fail and the whole transaction roll back; the batch is
 * then sold once more, this time looking every id up first, so replays get
 * their original answer and the rest still sell together. Should that fail
 * too (the id was written meanwhile for another item, outside this row's
 * lock), each request is sold alone with `lock`. Any other error before the
 * commit rolls everything back and reaches every buyer alike: nothing sold.
 * `committing` is told when a transaction's writes are done and only its
 * COMMIT is left (see Batcher).
 */
export async function sellBatch(adapter: Adapter, requests: PurchaseRequest[], committing: () => void = () => {}): Promise<Settled[]> {
  try {
    return await attempt(adapter, requests, false, committing);
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
  }
  try {
    return await attempt(adapter, requests, true, committing);
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
  }
  return oneByOne(adapter, requests);
}

/** What the batch decided for one request, before the ledger ids are known. */
type Decision =
  | { kind: 'sale'; sale: number }
  | { kind: 'sold_out'; remaining: number }
  /** A later request with the id of a sale of this same batch. */
  | { kind: 'again'; sale: number }
  | { kind: 'replay'; prior: PurchaseRow };

interface Plan {
  decisions: Decision[];
  sales: NewPurchase[];
  /** Stock left after the last sale (or as found, when none fits). */
  stockAfter: number;
}

/**
 * The batch as `lock` would sell it one buyer after another, in arrival
 * order: each buyer is checked against the stock the previous sale left, so
 * a buyer of 3 refused with 2 left does not stop a later buyer of 1 (first
 * fit; otherwise "sold out" would be said while stock remains). A repeated
 * request id replays the sale made for it earlier in the batch.
 */
function plan(stock: number, requests: PurchaseRequest[], prior: Map<string, PurchaseRow>): Plan {
  const decisions: Decision[] = [];
  const sales: NewPurchase[] = [];
  const saleOf = new Map<string, number>();
  let left = stock;
  for (const request of requests) {
    const earlier = prior.get(request.requestId);
    const again = saleOf.get(request.requestId);
    if (earlier) decisions.push({ kind: 'replay', prior: earlier });
    else if (again !== undefined) decisions.push({ kind: 'again', sale: again });
    else if (request.quantity > left) decisions.push({ kind: 'sold_out', remaining: left });
    else {
      left -= request.quantity;
      saleOf.set(request.requestId, sales.length);
      decisions.push({ kind: 'sale', sale: sales.length });
      sales.push({ ...request, stockAfter: left });
    }
  }
  return { decisions, sales, stockAfter: left };
}

/** A batch decided and written, waiting for its COMMIT. */
interface Decided {
  plan: Plan;
  /** Ledger ids of `plan.sales`, in order. */
  ids: number[];
  /** Ledger rows of refused requests' ids: retries of earlier sales. */
  refusedPrior: Map<string, PurchaseRow>;
}

/** One transaction for the whole batch; `lookUpFirst` reads every id's prior row before deciding. */
async function attempt(adapter: Adapter, requests: PurchaseRequest[], lookUpFirst: boolean, committing: () => void): Promise<Settled[]> {
  const sku = requests[0]!.sku;
  let decided: Decided | undefined;
  try {
    await withTransaction(adapter, async (session) => {
      const row = await session.readStockForUpdate(sku);
      if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
      const prior = lookUpFirst ? byRequestId(await session.findPurchases(requests.map((request) => request.requestId))) : new Map();
      const batch = plan(row.stock, requests, prior);
      const ids = batch.sales.length > 0 ? await session.writeSales(sku, batch.stockAfter, batch.sales) : [];
      const refusedPrior = lookUpFirst ? prior : await priorOfRefused(session, requests, batch);
      decided = { plan: batch, ids, refusedPrior };
      committing();
    });
  } catch (error) {
    // Decided means the work finished: what failed was the COMMIT itself.
    if (decided && commitFateUnknown(error)) return resolveCommit(adapter, requests, decided, error);
    throw error;
  }
  const { plan: batch, ids, refusedPrior } = decided!;
  return answers(requests, batch, ids, refusedPrior);
}

/**
 * As `lock` does: a refused request whose id already bought (a retry of the
 * buyer who took the last unit) gets its original 200. Looked up only when
 * someone was refused, so a batch that sells everyone pays nothing for it.
 */
async function priorOfRefused(session: Session, requests: PurchaseRequest[], batch: Plan): Promise<Map<string, PurchaseRow>> {
  const refused = requests.filter((_, index) => batch.decisions[index]!.kind === 'sold_out').map((request) => request.requestId);
  return refused.length > 0 ? byRequestId(await session.findPurchases(refused)) : new Map();
}

function answers(requests: PurchaseRequest[], batch: Plan, ids: number[], refusedPrior: Map<string, PurchaseRow>): Settled[] {
  return requests.map((request, index) =>
    settle(() => {
      const decision = batch.decisions[index]!;
      switch (decision.kind) {
        case 'sale':
          return sold(request, { purchaseId: ids[decision.sale]!, stockAfter: batch.sales[decision.sale]!.stockAfter });
        case 'again': {
          const sale = batch.sales[decision.sale]!;
          // Same checks as a replay from the ledger: another sku, quantity or buyer is a 422.
          return replayOf({ ...sale, id: ids[decision.sale]!, createdAt: '' }, request);
        }
        case 'replay':
          return replayOf(decision.prior, request);
        case 'sold_out': {
          const prior = refusedPrior.get(request.requestId);
          return prior ? replayOf(prior, request) : { kind: 'sold_out', remaining: decision.remaining };
        }
      }
    }),
  );
}

function settle(answer: () => PurchaseOutcome): Settled {
  try {
    return { status: 'fulfilled', value: answer() };
  } catch (reason) {
    return { status: 'rejected', reason };
  }
}

// Codes of a connection that broke (the server branch's ConnectionLostError,
// and the transaction wrapper's verdict on a COMMIT it lost), by code so that
// this file does not depend on which of those classes exist.
const CONNECTION_BROKE = new Set(['FS_COMMIT_UNKNOWN', 'FS_DB_CONNECTION_LOST']);

/** A COMMIT that failed because the connection did; a refusal the server sent is a known rollback. */
function commitFateUnknown(error: unknown): boolean {
  if (error instanceof DatabaseUnreachableError || !(error instanceof FlashsaleError)) return true;
  return CONNECTION_BROKE.has(error.code);
}

/**
 * The connection died during COMMIT: the batch committed or it did not, all
 * of it or none. Take the item's row lock on a fresh connection — it is
 * granted only once the old transaction, if its server side still lives, has
 * ended — and look for the batch's ledger rows. All there: answer as
 * committed. None: rolled back, every buyer gets 503 with Retry-After
 * (surely not bought). Anything else, or no answer: the outcome
 * is unknown, and every buyer is told so (503 without Retry-After), never a
 * 200 for a sale that may not exist, nor a 410 that may be untrue.
 */
async function resolveCommit(adapter: Adapter, requests: PurchaseRequest[], decided: Decided, failure: unknown): Promise<Settled[]> {
  const { plan: batch, ids, refusedPrior } = decided;
  // Nothing was written: the answers were decided under the lock and stand.
  if (batch.sales.length === 0) return answers(requests, batch, ids, refusedPrior);
  let found: PurchaseRow[];
  try {
    found = await withTransaction(adapter, async (session) => {
      await session.readStockForUpdate(requests[0]!.sku);
      return session.findPurchases(batch.sales.map((sale) => sale.requestId));
    });
  } catch (error) {
    throw new CommitUnknownError(
      `the batch's COMMIT failed (${(failure as Error).message}) and its outcome cannot be checked: ${(error as Error).message}`,
    );
  }
  const rows = byRequestId(found);
  // Matched on the id, not the request id alone: after our rollback a
  // retry on another worker may have written a row for the same request.
  const landed = batch.sales.filter((sale, index) => rows.get(sale.requestId)?.id === ids[index]).length;
  if (landed === batch.sales.length) return answers(requests, batch, ids, refusedPrior);
  // Checked under the lock: it did not land, and now it never will.
  if (landed === 0) throw new DatabaseUnreachableError(`the batch's COMMIT failed (${(failure as Error).message}); it did not land, nothing was sold`, { cause: failure });
  throw new CommitUnknownError(`the batch's COMMIT failed (${(failure as Error).message}) and only part of it is visible`);
}

/** The last resort: each request alone, in arrival order, with `lock`'s own replay handling. */
async function oneByOne(adapter: Adapter, requests: PurchaseRequest[]): Promise<Settled[]> {
  const results: Settled[] = [];
  for (const request of requests) {
    try {
      results.push({ status: 'fulfilled', value: await lockAlone(adapter, request) });
    } catch (reason) {
      results.push({ status: 'rejected', reason });
    }
  }
  return results;
}

async function lockAlone(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  try {
    return await lockStrategy(adapter, request);
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
    const prior = await withSession(adapter, (session) => session.findPurchase(request.requestId));
    if (!prior) throw error;
    return replayOf(prior, request);
  }
}

function byRequestId(rows: PurchaseRow[]): Map<string, PurchaseRow> {
  return new Map(rows.map((row) => [row.requestId, row]));
}
