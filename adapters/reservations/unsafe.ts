// The broken reservation flow of `serve --strategy unsafe`, deliberately wrong
// (docs/reservations.md "The broken variant"), so that verify and the tests
// can be shown to catch what the real flow prevents. Never sell with it.
import type { Adapter } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import type { ReservationStore } from './contract.js';
import { ForeignReservationError, UnknownReservationError } from './errors.js';
import { CONFIRMING, refusalFor, replayOf, type Settled, type SettleRequest } from './settle.js';

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Expiry without the row lock and without re-checking state: reads the due
 * holds, lets other requests run, then gives every one of them back and
 * marks it expired whatever became of it meanwhile. A hold confirmed (or
 * expired by another process) in between is returned again.
 */
export async function unsafeSweep(adapter: Adapter, store: ReservationStore, nowMs: number): Promise<number> {
  const due = await withSession(adapter, async (session) => {
    const skus = await store.skusWithDueHolds(session, nowMs);
    return (await Promise.all(skus.map((sku) => store.dueHolds(session, sku, nowMs)))).flat();
  });
  await yieldToEventLoop();
  let returned = 0;
  for (const hold of due) {
    await withTransaction(adapter, async (session) => {
      const stock = (await session.readStock(hold.sku))?.stock ?? 0;
      await session.writeStock(hold.sku, stock + hold.quantity);
      await store.forceState(session, hold.reservationId, 'expired', nowMs);
      await store.insertEvent(session, {
        reservationId: hold.reservationId,
        sku: hold.sku,
        kind: 'expire',
        quantity: hold.quantity,
        stockAfter: stock + hold.quantity,
        requestId: undefined,
        atMs: nowMs,
      });
    });
    returned += hold.quantity;
  }
  return returned;
}

/**
 * Confirm without the row lock and without the expiry time: reads the hold,
 * lets other requests run, then marks it confirmed unconditionally. A hold
 * whose time is up is confirmed as long as no sweep got to it first, and one
 * a sweep is returning at that moment ends both confirmed and returned.
 */
export async function unsafeConfirm(adapter: Adapter, store: ReservationStore, request: SettleRequest, now: () => number = Date.now): Promise<Settled> {
  const { hold, prior } = await withSession(adapter, async (session) => ({
    hold: await store.findReservation(session, request.reservationId),
    prior: await store.findEventByRequest(session, request.requestId),
  }));
  if (!hold) throw new UnknownReservationError(`unknown reservation ${JSON.stringify(request.reservationId)}`);
  if (request.buyerId !== undefined && request.buyerId !== hold.buyerId) {
    throw new ForeignReservationError(`reservation ${request.reservationId} is not held by buyer ${JSON.stringify(request.buyerId)}`);
  }
  if (prior) return replayOf(prior, hold, CONFIRMING, request);
  // The state as read, stale by the time of the write; the time is not looked at.
  const refusal = refusalFor(hold, CONFIRMING);
  if (refusal) throw refusal;
  await yieldToEventLoop();
  const nowMs = now();
  return withTransaction(adapter, async (session) => {
    const stockAfter = (await session.readStock(hold.sku))?.stock ?? 0;
    await store.forceState(session, hold.reservationId, 'confirmed', nowMs);
    const event = { reservationId: hold.reservationId, sku: hold.sku, kind: 'confirm' as const, quantity: hold.quantity, stockAfter, requestId: request.requestId, atMs: nowMs };
    await store.insertEvent(session, event);
    return { reservation: { ...hold, state: 'confirmed' as const, settledAtMs: nowMs }, event, replayed: false };
  });
}
