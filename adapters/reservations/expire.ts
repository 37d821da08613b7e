import type { Adapter, Session } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import type { ReservationStore } from './contract.js';

/**
 * Expires every due hold of `sku` and gives its units back, in the caller's
 * transaction, which must already hold the item's row lock (`stock` is what
 * that lock read). Each hold is moved out of `held` conditionally, so a hold
 * another transaction settled first is skipped, never returned twice. Each
 * return writes its `expire` event with the stock after it. Returns the
 * available stock after all of them.
 */
export async function expireDueHolds(store: ReservationStore, session: Session, sku: string, stock: number, nowMs: number): Promise<number> {
  const due = await store.dueHolds(session, sku, nowMs);
  let available = stock;
  for (const hold of due) {
    if (!(await store.settle(session, hold.reservationId, 'expired', nowMs))) continue;
    available += hold.quantity;
    await store.insertEvent(session, {
      reservationId: hold.reservationId,
      sku,
      kind: 'expire',
      quantity: hold.quantity,
      stockAfter: available,
      requestId: undefined,
      atMs: nowMs,
    });
  }
  if (available !== stock) await session.writeStock(sku, available);
  return available;
}

/**
 * One sweep: finds the items with due holds (an unlocked read, only a work
 * list) and expires each item's due holds in its own transaction under its
 * row lock. Safe to run in every process at once: the lock serialises them
 * and the conditional state change lets only one return a hold. Returns the
 * number of units given back.
 */
export async function sweepDueHolds(adapter: Adapter, store: ReservationStore, nowMs: number): Promise<number> {
  const skus = await withSession(adapter, (session) => store.skusWithDueHolds(session, nowMs));
  let returned = 0;
  for (const sku of skus) {
    returned += await withTransaction(adapter, async (session) => {
      const row = await session.readStockForUpdate(sku);
      if (!row) return 0;
      return (await expireDueHolds(store, session, sku, row.stock, nowMs)) - row.stock;
    });
  }
  return returned;
}
