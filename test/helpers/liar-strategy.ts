// A strategy built for one test, loaded by `prove --strategy <this file>`: it
// sells correctly under the row lock, except that every 20th purchase in each
// server process (5 %) is told "sold out, 0 left" while stock remains. Only a
// run whose buyers keep arriving after such an answer can catch it: in an
// all-at-once stampede each false refusal can be ordered after the last sale.
import type { Adapter } from '../../adapters/adapter.js';
import { lockStrategy } from '../../adapters/strategies/lock.js';
import type { PurchaseOutcome, PurchaseRequest } from '../../adapters/strategies/purchase.js';
import { withSession } from '../../adapters/transaction.js';

/** One lie every this many purchases. */
export const LIE_EVERY = 20;

let purchases = 0;

export default async function liarStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  purchases += 1;
  if (purchases % LIE_EVERY === 0) {
    const row = await withSession(adapter, (session) => session.readStock(request.sku));
    if (row && row.stock >= request.quantity) return { kind: 'sold_out', remaining: 0 };
  }
  return lockStrategy(adapter, request);
}
