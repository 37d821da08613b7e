// What `verify` reads of the reservation flow (docs/reservations.md "Schema"):
// the item, its reservations and their events, as of one moment, through the
// read-only session every SQL database offers. The SQL is plain enough to
// run unchanged on SQLite, PostgreSQL and MySQL; interpreting the rows is
// verify's business (src/verify/reservation-audit.ts).

import { ConfigError, FlashsaleError, UnknownSkuError } from '../src/errors.js';
import { openAdapter } from './open.js';
import { withReadOnlyTransaction } from './transaction.js';

/** A `reservations` row. */
export interface ReservationRow {
  /** The row's own id (order of writing). */
  id: number;
  reservationId: string;
  buyerId: string;
  quantity: number;
  /** The Idempotency-Key of the reserve that made it. */
  requestId: string;
  state: string;
  /** Available stock the hold left. */
  stockAfter: number;
  createdAtMs: number;
  expiresAtMs: number;
  settledAtMs: number | null;
}

/** A `reservation_events` row. */
export interface ReservationEventRow {
  /** Order of writing. */
  id: number;
  reservationId: string;
  /** hold | confirm | cancel | expire. */
  kind: string;
  quantity: number;
  /** Available stock after this event. */
  stockAfter: number;
  /** The step's Idempotency-Key; null for an expiry. */
  requestId: string | null;
  atMs: number;
}

/** The item and its reservation rows, read in one read-only transaction. */
export interface ReservationState {
  /** `inventory.stock`: available units. */
  finalStock: number;
  initialStock: number;
  /** Units sold by `/buy`, summed over the item's purchase rows. */
  purchasedUnits: number;
  /** The item's reservations, by id. */
  reservations: ReservationRow[];
  /** The item's events, in the order they were written. */
  events: ReservationEventRow[];
  /** Where they came from, for the report. */
  source: string;
}

// A sku is put in the SQL as a literal only when it cannot need escaping
// (MySQL and the others escape differently); any other sku is matched here.
const PLAIN_SKU = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Reads the item's reservation state from a SQLite, PostgreSQL or MySQL URL, never writing. */
export async function readReservationState(url: string, sku: string): Promise<ReservationState> {
  const adapter = await openAdapter({ url, readOnly: true, poolSize: 1 });
  try {
    const where = PLAIN_SKU.test(sku) ? ` WHERE sku = '${sku}'` : '';
    const mine = (row: Record<string, unknown>) => where !== '' || row.sku === sku;
    return await withReadOnlyTransaction(adapter, async (session) => {
      const inventory = await session.inventory(sku);
      if (!inventory) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
      const reservations = await session.select(
        `SELECT id, reservation_id, sku, buyer_id, quantity, request_id, state, stock_after, created_at_ms, expires_at_ms, settled_at_ms FROM reservations${where} ORDER BY id`,
      );
      const events = await session.select(`SELECT id, reservation_id, sku, kind, quantity, stock_after, request_id, at_ms FROM reservation_events${where} ORDER BY id`);
      return {
        finalStock: inventory.current_stock,
        initialStock: inventory.initial_stock,
        purchasedUnits: Number(inventory.total_purchases),
        reservations: reservations.rows.filter(mine).map(toReservation),
        events: events.rows.filter(mine).map(toEvent),
        source: `${adapter.label} sku ${sku}`,
      };
    });
  } catch (error) {
    if (error instanceof FlashsaleError) throw error;
    // The tables are missing (a database serve made before reservations) or unreadable.
    throw new ConfigError(`cannot read the reservation tables of ${adapter.label}: ${String((error as Error)?.message ?? error).split('\n')[0]} (serve creates them; a foreign schema is not read by the reservation checks)`, {
      cause: error,
    });
  } finally {
    await adapter.close();
  }
}

// PostgreSQL returns BIGINT as text, MySQL may too: every number goes through Number.
function toReservation(row: Record<string, unknown>): ReservationRow {
  return {
    id: Number(row.id),
    reservationId: String(row.reservation_id),
    buyerId: String(row.buyer_id),
    quantity: Number(row.quantity),
    requestId: String(row.request_id),
    state: String(row.state),
    stockAfter: Number(row.stock_after),
    createdAtMs: Number(row.created_at_ms),
    expiresAtMs: Number(row.expires_at_ms),
    settledAtMs: row.settled_at_ms === null || row.settled_at_ms === undefined ? null : Number(row.settled_at_ms),
  };
}

function toEvent(row: Record<string, unknown>): ReservationEventRow {
  return {
    id: Number(row.id),
    reservationId: String(row.reservation_id),
    kind: String(row.kind),
    quantity: Number(row.quantity),
    stockAfter: Number(row.stock_after),
    requestId: row.request_id === null || row.request_id === undefined ? null : String(row.request_id),
    atMs: Number(row.at_ms),
  };
}
