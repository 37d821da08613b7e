import { UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import { recordSale, soldOutUnlessReplayed, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/**
 * Deliberately wrong, so that every check can be shown to catch something:
 * read the stock, let other requests run, then write `read - q` back without
 * a lock or a condition. Concurrent buyers overwrite each other's decrements
 * (lost updates), sell more than the stock, and report the same remaining.
 */
export async function unsafeStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  const row = await withSession(adapter, (session) => session.readStock(request.sku));
  if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
  if (row.stock < request.quantity) {
    return withSession(adapter, (session) => soldOutUnlessReplayed(session, request, row.stock));
  }
  // The race window: every request that read before this write lands will
  // write the same stale value.
  await new Promise((resolve) => setImmediate(resolve));
  const stockAfter = row.stock - request.quantity;
  return withTransaction(adapter, async (session) => {
    await session.writeStock(request.sku, stockAfter);
    return recordSale(session, request, stockAfter);
  });
}
