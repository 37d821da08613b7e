import { UnknownSkuError } from '../src/errors.js';
import type { Adapter, AuditRow, Inventory, PurchaseRow } from './adapter.js';
import { withReadOnlyTransaction, withSession, withTransaction } from './transaction.js';
import type { ReservationTotals } from './reservations/contract.js';
import { reservationStore } from './reservations/sql-store.js';

/** The item a server or a reset starts from. */
export interface ItemSeed {
  sku: string;
  itemName: string;
  /** Units to create the item with when it does not exist yet. */
  stock: number;
}

/**
 * Creates the schema if absent and the item if absent. An existing item keeps
 * its stock, so restarting a server does not quietly refill a sale.
 * Returns the item and whether it was created now.
 */
export async function prepareStore(adapter: Adapter, seed: ItemSeed): Promise<{ inventory: Inventory; created: boolean }> {
  await adapter.migrate();
  const created = await withTransaction(adapter, (session) => session.seedItem(seed.sku, seed.itemName, seed.stock));
  const inventory = await readInventory(adapter, seed.sku);
  return { inventory, created };
}

/**
 * Sets the item's stock (and initial stock) and empties its ledger, under the
 * row lock so that no purchase straddles the reset. Without `stock`, the item
 * returns to its initial stock. Returns the item as it was and as it is.
 */
export function resetStock(adapter: Adapter, sku: string, stock?: number): Promise<{ before: Inventory; after: Inventory }> {
  return withTransaction(adapter, async (session) => {
    const locked = await session.readStockForUpdate(sku);
    const before = locked && (await session.inventory(sku));
    if (!before) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
    await session.resetItem(sku, stock ?? before.initial_stock);
    // Holds of the old sale would otherwise give units back into the new one.
    await reservationStore(adapter.dialect).resetItem(session, sku);
    return { before, after: (await session.inventory(sku))! };
  });
}

/**
 * The item as `GET /inventory` shows it, with the units held and confirmed by
 * reservations, read in one snapshot so that available + held + confirmed +
 * sold adds up; UnknownSkuError when absent.
 */
export async function readInventory(adapter: Adapter, sku: string): Promise<Inventory & ReservationTotals> {
  return withReadOnlyTransaction(adapter, async (session) => {
    const inventory = await session.inventory(sku);
    if (!inventory) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
    return { ...inventory, ...(await reservationStore(adapter.dialect).totals(session, sku)) };
  });
}

/** Every ledger row of the item, oldest first, with only the columns an audit needs. */
export function readAuditLedger(adapter: Adapter, sku: string): Promise<AuditRow[]> {
  return withSession(adapter, (session) => session.auditLedger(sku));
}

/** Every ledger row of the item, oldest first. */
export function readLedger(adapter: Adapter, sku: string): Promise<PurchaseRow[]> {
  return withSession(adapter, (session) => session.purchases(sku));
}

/** The item and its audit ledger as of one moment, read in one read-only transaction (`verify`). */
export function readReferenceState(adapter: Adapter, sku: string): Promise<{ inventory: Inventory; ledger: AuditRow[] }> {
  return withReadOnlyTransaction(adapter, async (session) => {
    const inventory = await session.inventory(sku);
    if (!inventory) throw new UnknownSkuError(`unknown sku ${JSON.stringify(sku)}`);
    return { inventory, ledger: await session.auditLedger(sku) };
  });
}
