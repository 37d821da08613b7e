import type { Adapter } from '../adapter.js';
import type { ReservationStore } from './contract.js';
import { CANCELLING, settleHold, type Settled, type SettleRequest } from './settle.js';

/**
 * Cancels a hold: its units go back to the available stock, the hold becomes
 * `cancelled` and a `cancel` event records the stock after, in one
 * transaction under the item's row lock.
 */
export function cancel(adapter: Adapter, store: ReservationStore, request: SettleRequest, now?: () => number): Promise<Settled> {
  return settleHold(adapter, store, CANCELLING, request, now);
}
