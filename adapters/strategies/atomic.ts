import { UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withTransaction } from '../transaction.js';
import { sold, soldOutUnlessReplayed, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/**
 * One conditional UPDATE (`stock = stock - q WHERE stock >= q`) does check and
 * decrement together, so the database's own row lock serialises buyers for
 * the length of one statement; the ledger row joins it in the transaction.
 */
export function atomicStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  return withTransaction(adapter, async (session) => {
    const sale = await session.sellIfAvailable(request);
    if (sale) return sold(request, sale);
    const row = await session.readStock(request.sku);
    if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
    return soldOutUnlessReplayed(session, request, row.stock);
  });
}
