import { randomBytes } from 'node:crypto';
import { DuplicateRequestError, IdempotencyConflictError, UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession, withTransaction } from '../transaction.js';
import type { ReservationRow, ReservationStore } from './contract.js';
import { expireDueHolds } from './expire.js';

/** One buyer's request to hold units, already validated. */
export interface ReserveRequest {
  sku: string;
  buyerId: string;
  /** Units to hold, at least 1. */
  quantity: number;
  /** The Idempotency-Key (or a generated id); a repeat is a replay. */
  requestId: string;
  /** How long the hold lasts, in ms. */
  ttlMs: number;
}

/** The hold exists (made now, or earlier for the same request id). */
export interface Reserved {
  kind: 'reserved';
  reservation: ReservationRow;
  /** True when this answer repeats an earlier hold for the same request id. */
  replayed: boolean;
}

/** Fewer than `quantity` units were available, even after expiring due holds; nothing was held. */
export interface ReserveSoldOut {
  kind: 'sold_out';
  remaining: number;
}

export type ReserveOutcome = Reserved | ReserveSoldOut;

/** A public reservation id: "r_" + 24 hex digits (96 random bits), unguessable. */
export function newReservationId(): string {
  return `r_${randomBytes(12).toString('hex')}`;
}

/**
 * Holds units: under the item's row lock, expires the item's due holds,
 * checks, takes the units from the available stock and writes the hold and
 * its `hold` event, all in one transaction. A request id that already has a
 * hold loses on the UNIQUE constraint (or is found on the sold-out path) and
 * gets the original answer, so a replay never holds twice.
 */
export async function reserve(adapter: Adapter, store: ReservationStore, request: ReserveRequest, now: () => number = Date.now): Promise<ReserveOutcome> {
  try {
    return await withTransaction(adapter, async (session) => {
      const row = await session.readStockForUpdate(request.sku);
      if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
      const nowMs = now();
      const available = await expireDueHolds(store, session, request.sku, row.stock, nowMs);
      if (available < request.quantity) {
        // A retry of the request that took the last units must get its 201, not a 409.
        const prior = await store.findReservationByRequest(session, request.requestId);
        return prior ? replayOf(prior, request) : { kind: 'sold_out', remaining: available };
      }
      const stockAfter = available - request.quantity;
      await session.writeStock(request.sku, stockAfter);
      const reservation: ReservationRow = {
        reservationId: newReservationId(),
        sku: request.sku,
        buyerId: request.buyerId,
        quantity: request.quantity,
        requestId: request.requestId,
        stockAfter,
        createdAtMs: nowMs,
        expiresAtMs: nowMs + request.ttlMs,
        state: 'held',
        settledAtMs: undefined,
      };
      await store.insertReservation(session, reservation);
      await store.insertEvent(session, {
        reservationId: reservation.reservationId,
        sku: request.sku,
        kind: 'hold',
        quantity: request.quantity,
        stockAfter,
        requestId: request.requestId,
        atMs: nowMs,
      });
      return { kind: 'reserved', reservation, replayed: false };
    });
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
    const prior = await withSession(adapter, (session) => store.findReservationByRequest(session, request.requestId));
    // The key is taken, but not by a reserve: a confirm or cancel used it.
    if (!prior) throw new IdempotencyConflictError(`Idempotency-Key ${JSON.stringify(request.requestId)} was already used for another step`);
    return replayOf(prior, request);
  }
}

/** The original answer for a request id that already holds; a different request under the same key is refused. */
function replayOf(prior: ReservationRow, request: ReserveRequest): Reserved {
  if (prior.sku !== request.sku || prior.quantity !== request.quantity || prior.buyerId !== request.buyerId) {
    throw new IdempotencyConflictError(`Idempotency-Key ${JSON.stringify(request.requestId)} was already used for a different reservation`);
  }
  return { kind: 'reserved', reservation: prior, replayed: true };
}
