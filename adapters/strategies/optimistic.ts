import { LockTimeoutError, UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withTransaction } from '../transaction.js';
import { recordSale, soldOutUnlessReplayed, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/** Attempts before a purchase gives up with 503; high because a hot item conflicts often. */
export const OPTIMISTIC_MAX_ATTEMPTS = 200;

/** Longest pause between two attempts, in milliseconds. */
const MAX_BACKOFF_MS = 32;

/**
 * Read without a lock, then compare-and-swap on the version column; a buyer
 * who lost the race reads again. The read and the swap share one connection
 * and one transaction: with a pool, reading on one connection and swapping
 * after waiting for another made nearly every swap stale under load.
 * Bounded, with exponential backoff and full jitter, so a stampede degrades
 * into waiting, and past the bound into 503s (nothing sold), never a spin.
 */
export async function optimisticStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await withTransaction(adapter, async (session) => {
      const row = await session.readStock(request.sku);
      if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
      if (row.stock < request.quantity) return soldOutUnlessReplayed(session, request, row.stock);
      const stockAfter = row.stock - request.quantity;
      const swapped = await session.compareAndSetStock(request.sku, row.version, stockAfter);
      return swapped ? recordSale(session, request, stockAfter) : undefined;
    });
    if (outcome) return outcome;
    if (attempt >= OPTIMISTIC_MAX_ATTEMPTS) {
      throw new LockTimeoutError(`gave up after ${attempt} conflicting optimistic attempts`);
    }
    await backoff(attempt);
  }
}

function backoff(attempt: number): Promise<void> {
  // The first retry goes straight back: most conflicts clear at once. After
  // that the losers spread out over a window that doubles each time, so they
  // stop colliding with each other.
  if (attempt < 2) return Promise.resolve();
  const windowMs = Math.min(MAX_BACKOFF_MS, 2 ** (attempt - 2));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * windowMs));
}
