// The reservation flow as the reference server uses it: the safe one on the
// database's row locks, or, under `--strategy unsafe`, the broken one.
import type { Adapter } from '../adapter.js';
import type { StrategyName } from '../strategies/index.js';
import { withSession } from '../transaction.js';
import { cancel } from './cancel.js';
import { confirm } from './confirm.js';
import type { ReservationRow, ReservationStore } from './contract.js';
import { sweepDueHolds } from './expire.js';
import { reserve, type ReserveOutcome, type ReserveRequest } from './reserve.js';
import type { Settled, SettleRequest } from './settle.js';
import { reservationStore } from './sql-store.js';
import { unsafeConfirm, unsafeSweep } from './unsafe.js';

export type { ReserveOutcome, ReserveRequest } from './reserve.js';
export type { Settled, SettleRequest } from './settle.js';

/** Reserve, confirm, cancel, expire and look up, on one database. */
export interface ReservationFlow {
  readonly store: ReservationStore;
  reserve(request: ReserveRequest): Promise<ReserveOutcome>;
  confirm(request: SettleRequest): Promise<Settled>;
  cancel(request: SettleRequest): Promise<Settled>;
  /** Expires every due hold of every item; returns the units given back. */
  sweep(nowMs: number): Promise<number>;
  /** The reservation with this public id, if any. */
  find(reservationId: string): Promise<ReservationRow | undefined>;
}

/**
 * The flow for a server of this strategy. Every built-in strategy but
 * `unsafe` (and a user's own strategy module) gets the safe flow: the
 * purchase strategies differ in how they sell, but a hold has one right way.
 */
export function reservationFlow(adapter: Adapter, strategy: StrategyName, now: () => number = Date.now): ReservationFlow {
  const store = reservationStore(adapter.dialect);
  const broken = strategy === 'unsafe';
  return {
    store,
    reserve: (request) => reserve(adapter, store, request, now),
    confirm: (request) => (broken ? unsafeConfirm(adapter, store, request, now) : confirm(adapter, store, request, now)),
    cancel: (request) => cancel(adapter, store, request, now),
    sweep: (nowMs) => (broken ? unsafeSweep(adapter, store, nowMs) : sweepDueHolds(adapter, store, nowMs)),
    find: (reservationId) => withSession(adapter, (session) => store.findReservation(session, reservationId)),
  };
}
