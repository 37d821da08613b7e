import { LockTimeoutError, UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import { recordSale, soldOutUnlessReplayed, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/** Attempts before a purchase gives up with 503; high because a hot item conflicts often. */
export const OPTIMISTIC_MAX_ATTEMPTS = 200;

/**
 * Read without a lock, then compare-and-swap on the version column; a buyer
 * who lost the race reads again. Bounded, with jittered backoff, so a
 * stampede degrades into 503s (nothing sold) rather than spinning forever.
 */
export async function optimisticStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  for (let attempt = 1; ; attempt++) {
    const row = await withSession(adapter, (session) => session.readStock(request.sku));
    if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
    if (row.stock < request.quantity) {
      return withSession(adapter, (session) => soldOutUnlessReplayed(session, request, row.stock));
    }
    const stockAfter = row.stock - request.quantity;
    const outcome = await withTransaction(adapter, async (session) => {
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
  // The first few retries go straight back: most conflicts clear at once.
  // After that, random sleeps spread the losers out so they stop colliding.
  if (attempt < 4) return Promise.resolve();
  const ceilingMs = Math.min(20, attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceilingMs));
}
