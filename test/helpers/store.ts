import type { Adapter, Inventory, PurchaseRow } from '../../adapters/adapter.js';
import { openAdapter } from '../../adapters/open.js';
import { readInventory, readLedger } from '../../adapters/store.js';

/** The item and its ledger as the database holds them, read directly, not through HTTP. */
export interface StoreState {
  inventory: Inventory;
  ledger: PurchaseRow[];
}

export async function readState(url: string, sku: string): Promise<StoreState> {
  const adapter = await openAdapter({ url });
  try {
    return await readStateWith(adapter, sku);
  } finally {
    await adapter.close();
  }
}

export async function readStateWith(adapter: Adapter, sku: string): Promise<StoreState> {
  return { inventory: await readInventory(adapter, sku), ledger: await readLedger(adapter, sku) };
}

/** The state without its `last_updated` stamp, for "nothing changed" comparisons. */
export function comparable(state: StoreState): unknown {
  const { last_updated: _ignored, ...inventory } = state.inventory;
  return { inventory, ledger: state.ledger };
}
