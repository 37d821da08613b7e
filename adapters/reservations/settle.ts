import { DuplicateRequestError, IdempotencyConflictError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import type { ReservationEventRow, ReservationRow, ReservationStore } from './contract.js';
import {
  AlreadyCancelledError,
  AlreadyConfirmedError,
  ForeignReservationError,
  ReservationCancelledError,
  ReservationExpiredError,
  UnknownReservationError,
} from './errors.js';
import { expireDueHolds } from './expire.js';
import type { FlashsaleError } from '../../src/errors.js';

/** A buyer's request to end a hold, already validated. */
export interface SettleRequest {
  reservationId: string;
  /** When given, it must be the holder's. */
  buyerId: string | undefined;
  /** The Idempotency-Key (or a generated id); a repeat is a replay. */
  requestId: string;
}

/** How a buyer ends a hold: confirm keeps the units sold, cancel gives them back. */
export interface Settlement {
  kind: 'confirm' | 'cancel';
  state: 'confirmed' | 'cancelled';
  returnsUnits: boolean;
}

/** Confirm keeps the held units sold. */
export const CONFIRMING: Settlement = { kind: 'confirm', state: 'confirmed', returnsUnits: false };
/** Cancel gives the held units back. */
export const CANCELLING: Settlement = { kind: 'cancel', state: 'cancelled', returnsUnits: true };

/** The hold was ended by this request (now, or earlier for the same request id). */
export interface Settled {
  reservation: ReservationRow;
  /** The `confirm` or `cancel` event, with the available stock after it. */
  event: Pick<ReservationEventRow, 'kind' | 'stockAfter' | 'requestId'>;
  replayed: boolean;
}

/**
 * Ends a hold the way `settlement` says, in one transaction under the item's
 * row lock: first the replay check (a request id that already ended this
 * hold gets its original answer), then every due hold of the item is
 * expired, then the hold's state decides. A refusal found after an expiry
 * was written (the hold's own time is up: 410) is returned out of the
 * transaction and thrown after the commit, so the expiry lasts and the
 * refusal changes nothing else.
 */
export async function settleHold(
  adapter: Adapter,
  store: ReservationStore,
  settlement: Settlement,
  request: SettleRequest,
  now: () => number = Date.now,
): Promise<Settled> {
  let outcome: Settled | FlashsaleError;
  try {
    outcome = await withTransaction(adapter, async (session) => {
      // Unlocked, only to learn which item's lock to take; read again under it.
      const seen = await store.findReservation(session, request.reservationId);
      if (!seen) throw new UnknownReservationError(`unknown reservation ${JSON.stringify(request.reservationId)}`);
      if (request.buyerId !== undefined && request.buyerId !== seen.buyerId) {
        throw new ForeignReservationError(`reservation ${request.reservationId} is not held by buyer ${JSON.stringify(request.buyerId)}`);
      }
      const row = await session.readStockForUpdate(seen.sku);
      const prior = await store.findEventByRequest(session, request.requestId);
      if (prior) return replayOf(prior, seen, settlement, request);
      const nowMs = now();
      const available = await expireDueHolds(store, session, seen.sku, row?.stock ?? 0, nowMs);
      const hold = (await store.findReservation(session, request.reservationId))!;
      const refusal = refusalFor(hold, settlement);
      if (refusal) return refusal;
      if (!(await store.settle(session, hold.reservationId, settlement.state, nowMs))) {
        throw new Error(`reservation ${hold.reservationId} changed state under its item's row lock`);
      }
      const stockAfter = settlement.returnsUnits ? available + hold.quantity : available;
      if (stockAfter !== available) await session.writeStock(hold.sku, stockAfter);
      const event = { reservationId: hold.reservationId, sku: hold.sku, kind: settlement.kind, quantity: hold.quantity, stockAfter, requestId: request.requestId, atMs: nowMs };
      await store.insertEvent(session, event);
      return { reservation: { ...hold, state: settlement.state, settledAtMs: nowMs }, event, replayed: false };
    });
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
    // The key is taken by another step (a reserve's hold event, or a racing twin that won).
    const found = await withSession(adapter, async (session) => {
      const prior = await store.findEventByRequest(session, request.requestId);
      const hold = await store.findReservation(session, request.reservationId);
      return prior && hold ? replayOf(prior, hold, settlement, request) : undefined;
    });
    if (!found) throw new IdempotencyConflictError(`Idempotency-Key ${JSON.stringify(request.requestId)} was already used for another step`);
    outcome = found;
  }
  if (outcome instanceof Error) throw outcome;
  return outcome;
}

/** Why a hold in this state cannot be ended this way; undefined when it is held. */
export function refusalFor(hold: ReservationRow, settlement: Settlement): FlashsaleError | undefined {
  const id = hold.reservationId;
  switch (hold.state) {
    case 'held':
      return undefined;
    case 'expired':
      return new ReservationExpiredError(`reservation ${id} expired; its units are back on sale`);
    case 'confirmed':
      return new AlreadyConfirmedError(`reservation ${id} is already confirmed`);
    case 'cancelled':
      return settlement.kind === 'confirm'
        ? new ReservationCancelledError(`reservation ${id} was cancelled`)
        : new AlreadyCancelledError(`reservation ${id} is already cancelled`);
  }
}

/** The original answer for a request id that already ended this hold this way; anything else under the key is refused. */
export function replayOf(prior: ReservationEventRow, hold: ReservationRow, settlement: Settlement, request: SettleRequest): Settled {
  if (prior.kind !== settlement.kind || prior.reservationId !== request.reservationId) {
    throw new IdempotencyConflictError(`Idempotency-Key ${JSON.stringify(request.requestId)} was already used for another step`);
  }
  return { reservation: hold, event: prior, replayed: true };
}
