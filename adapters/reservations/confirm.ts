import type { Adapter } from '../adapter.js';
import type { ReservationStore } from './contract.js';
import { CONFIRMING, settleHold, type Settled, type SettleRequest } from './settle.js';

/**
 * Confirms a hold: its units stay taken (they left the available stock when
 * the hold was made), the hold becomes `confirmed` and a `confirm` event is
 * written; refused with 410 once its time is up, even if no sweeper has
 * expired it yet (the confirm then writes the expiry itself).
 */
export function confirm(adapter: Adapter, store: ReservationStore, request: SettleRequest, now?: () => number): Promise<Settled> {
  return settleHold(adapter, store, CONFIRMING, request, now);
}
