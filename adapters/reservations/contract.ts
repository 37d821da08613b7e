// The reservation flow's contract with the databases (docs/reservations.md).
// It knows no database: each of sqlite.ts, postgres.ts and mysql.ts in this
// folder supplies its SQL for the two tables, and reserve/confirm/cancel/
// expire are written once over ReservationStore.

import type { Session } from '../adapter.js';

/** Where a hold is in its life; it leaves `held` exactly once. */
export type ReservationState = 'held' | 'confirmed' | 'cancelled' | 'expired';

/** What a `reservation_events` row records. */
export type ReservationEventKind = 'hold' | 'confirm' | 'cancel' | 'expire';

/** A `reservations` row as written by a hold. */
export interface NewReservation {
  /** Public id: "r_" + 24 hex, random and unguessable. */
  reservationId: string;
  sku: string;
  buyerId: string;
  quantity: number;
  /** Idempotency-Key of the reserve (or a generated one); UNIQUE. */
  requestId: string;
  /** Available stock the hold left: the 201's `remaining_stock`. */
  stockAfter: number;
  createdAtMs: number;
  expiresAtMs: number;
}

/** A `reservations` row as read back. */
export interface ReservationRow extends NewReservation {
  state: ReservationState;
  /** When it left `held`; undefined while held. */
  settledAtMs: number | undefined;
}

/** A `reservation_events` row as written. */
export interface NewReservationEvent {
  reservationId: string;
  sku: string;
  kind: ReservationEventKind;
  quantity: number;
  /** Available stock after this event. */
  stockAfter: number;
  /** Idempotency-Key of the step; undefined for `expire` (no request caused it). */
  requestId: string | undefined;
  atMs: number;
}

/** A `reservation_events` row as read back; `id` is the order of writing. */
export interface ReservationEventRow extends NewReservationEvent {
  id: number;
}

/** Units of one item in each state, for `GET /inventory`. */
export interface ReservationTotals {
  /** Σ quantity of reservations in state `held` (due or not). */
  held: number;
  /** Σ quantity of reservations in state `confirmed`. */
  confirmed: number;
}

/**
 * The reservation tables' SQL, one implementation per database. Every method
 * runs in the caller's transaction on the caller's session; none begins or
 * ends one. Stock itself is read and written through the Session's own
 * purchase-path methods (readStockForUpdate, writeStock).
 */
export interface ReservationStore {
  /** Appends a hold; throws DuplicateRequestError when its request id already has one. */
  insertReservation(session: Session, reservation: NewReservation): Promise<void>;
  /** Appends an event; throws DuplicateRequestError when its request id already has one. */
  insertEvent(session: Session, event: NewReservationEvent): Promise<void>;
  /** The reservation with this public id, if any. */
  findReservation(session: Session, reservationId: string): Promise<ReservationRow | undefined>;
  /** The reservation whose reserve carried this request id, if any. */
  findReservationByRequest(session: Session, requestId: string): Promise<ReservationRow | undefined>;
  /** The event a confirm or cancel with this request id wrote, if any. */
  findEventByRequest(session: Session, requestId: string): Promise<ReservationEventRow | undefined>;
  /** Holds of one item still `held` whose time is up (`expires_at_ms <= nowMs`), oldest first. */
  dueHolds(session: Session, sku: string, nowMs: number): Promise<ReservationRow[]>;
  /** Items that have at least one due hold (the sweeper's work list). */
  skusWithDueHolds(session: Session, nowMs: number): Promise<string[]>;
  /**
   * Moves a hold out of `held`, only if it is still `held`; true when this
   * call did it. The condition is what keeps two settlers from both winning.
   */
  settle(session: Session, reservationId: string, state: Exclude<ReservationState, 'held'>, atMs: number): Promise<boolean>;
  /**
   * Writes the state without the `held` condition: only the broken
   * (`--strategy unsafe`) expiry uses it, to show what the condition prevents.
   */
  forceState(session: Session, reservationId: string, state: Exclude<ReservationState, 'held'>, atMs: number): Promise<void>;
  /** Units held and confirmed for one item, in one read. */
  totals(session: Session, sku: string): Promise<ReservationTotals>;
  /** Every reservation of an item, oldest first (tests, verify). */
  reservations(session: Session, sku: string): Promise<ReservationRow[]>;
  /** Every event of an item, in the order written (tests, verify). */
  events(session: Session, sku: string): Promise<ReservationEventRow[]>;
  /**
   * Counts one request of `buyerId` in the fixed window starting at
   * `windowStartMs` and returns the window's count including it (the rate
   * limit, counted in the database so it holds across processes and restarts).
   */
  countHit(session: Session, buyerId: string, windowStartMs: number): Promise<number>;
  /** Drops rate-limit windows that started before `beforeMs`. */
  forgetHits(session: Session, beforeMs: number): Promise<void>;
  /** Deletes an item's reservations and events (`POST /reset`, `flashsale reset`). */
  resetItem(session: Session, sku: string): Promise<void>;
}

/** What one raw statement returned: its rows (a query), or how many rows it changed (a write). */
export interface RawResult {
  rows: Array<Record<string, unknown>>;
  changes: number;
}

/**
 * The raw query hook each adapter's Session exposes for the reservation SQL
 * (and only for it): it is not part of the purchase-path Session interface,
 * so the purchase strategies cannot reach for it.
 */
interface RawQuerySession {
  raw(sql: string, params: readonly unknown[]): Promise<RawResult>;
}

/** The session's raw query hook; every built-in adapter has one. */
export function rawQuery(session: Session): RawQuerySession['raw'] {
  const hook = (session as Partial<RawQuerySession>).raw;
  if (typeof hook !== 'function') throw new Error('this database session has no raw query hook, so it cannot hold reservations');
  return hook.bind(session);
}
