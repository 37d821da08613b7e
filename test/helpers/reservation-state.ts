import type { Adapter, Inventory } from '../../adapters/adapter.js';
import type { ReservationEventRow, ReservationRow, ReservationTotals } from '../../adapters/reservations/contract.js';
import { reservationStore } from '../../adapters/reservations/sql-store.js';
import { withSession } from '../../adapters/transaction.js';
import type { Call } from './http.js';
import { readStateWith, type StoreState } from './store.js';

/** The item, its ledger, its reservations and their events, read directly from the database. */
export interface ReservationState extends StoreState {
  inventory: Inventory & ReservationTotals;
  reservations: ReservationRow[];
  events: ReservationEventRow[];
}

export async function readReservationState(adapter: Adapter, sku: string): Promise<ReservationState> {
  const store = reservationStore(adapter.dialect);
  const { reservations, events } = await withSession(adapter, async (session) => ({
    reservations: await store.reservations(session, sku),
    events: await store.events(session, sku),
  }));
  const { inventory, ledger } = await readStateWith(adapter, sku);
  return { inventory: inventory as Inventory & ReservationTotals, ledger, reservations, events };
}

/** The state without its `last_updated` stamp, for "nothing changed" comparisons. */
export function comparableReservations(state: ReservationState): unknown {
  const { last_updated: _ignored, ...inventory } = state.inventory;
  return { inventory, ledger: state.ledger, reservations: state.reservations, events: state.events };
}

/**
 * available + held + confirmed + sold, from the rows; equals the initial
 * stock whenever the flow is right (docs/reservations.md "Stock words").
 */
export function unitsAccountedFor(state: ReservationState): number {
  const sum = (wanted: ReservationRow['state']) => state.reservations.filter((row) => row.state === wanted).reduce((total, row) => total + row.quantity, 0);
  const sold = state.ledger.reduce((total, row) => total + row.quantity, 0);
  return state.inventory.current_stock + sum('held') + sum('confirmed') + sold;
}

/** A JSON POST to one of the reservation routes. */
export function post(path: '/reserve' | '/confirm' | '/cancel', body: unknown, key?: string): Call {
  return { method: 'POST', path, body, headers: key === undefined ? {} : { 'idempotency-key': key } };
}

/** Polls `check` every 25 ms until it returns true or `timeoutMs` passes; bounded, never hangs a test. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}
