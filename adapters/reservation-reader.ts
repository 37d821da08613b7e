// What `verify` reads of the reservation flow (docs/reservations.md "Schema"):
// the item, its reservations and their events, as of one moment, in one
// read-only transaction, through the same reservation store the server
// writes with (adapters/reservations/), so the SQL and the row shapes exist
// once. Interpreting the rows is verify's business
// (src/verify/reservation-audit.ts).

import { ConfigError, FlashsaleError, UnknownSkuError } from '../src/errors.js';
import { openAdapter } from './open.js';
import type { ReservationEventRow, ReservationRow } from './reservations/contract.js';
import { reservationStore } from './reservations/sql-store.js';
import { withReadOnlyTransaction } from './transaction.js';

export type { ReservationEventRow, ReservationRow } from './reservations/contract.js';

/** The item and its reservation rows, read in one read-only transaction. */
export interface ReservationSnapshot {
  /** `inventory.stock`: available units. */
  finalStock: number;
  initialStock: number;
  /** Units sold by `/buy`, summed over the item's purchase rows. */
  purchasedUnits: number;
  /** The item's reservations, oldest first. */
  reservations: ReservationRow[];
  /** The item's events, in the order they were written. */
  events: ReservationEventRow[];
  /** Where they came from, for the report. */
  source: string;
}

/** Reads the item's reservation state from a SQLite, PostgreSQL or MySQL URL, never writing. */
export async function readReservationSnapshot(url: string, sku: string): Promise<ReservationSnapshot> {
  const adapter = await openAdapter({ url, readOnly: true, poolSize: 1 });
  const store = reservationStore(adapter.dialect);
  try {
    return await withReadOnlyTransaction(adapter, async (session) => {
      const inventory = await session.inventory(sku);
      if (!inventory) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
      return {
        finalStock: inventory.current_stock,
        initialStock: inventory.initial_stock,
        purchasedUnits: Number(inventory.total_purchases),
        reservations: await store.reservations(session, sku),
        events: await store.events(session, sku),
        source: `${adapter.label} sku ${sku}`,
      };
    });
  } catch (error) {
    if (error instanceof FlashsaleError) throw error;
    // The tables are missing (a database serve made before reservations) or unreadable.
    throw new ConfigError(
      `cannot read the reservation tables of ${adapter.label}: ${String((error as Error)?.message ?? error).split('\n')[0]} (serve creates them; a foreign schema is not read by the reservation checks)`,
      { cause: error },
    );
  } finally {
    await adapter.close();
  }
}
