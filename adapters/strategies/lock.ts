import { UnknownSkuError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withTransaction } from '../transaction.js';
import { sold, soldOutUnlessReplayed, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';

/**
 * Pessimistic: take the item's row lock first, then check, decrement and
 * write the ledger row while holding it. Buyers of one item queue on the lock,
 * so every sale sees the stock the previous one left.
 */
export function lockStrategy(adapter: Adapter, request: PurchaseRequest): Promise<PurchaseOutcome> {
  return withTransaction(adapter, async (session) => {
    const row = await session.readStockForUpdate(request.sku);
    if (!row) throw new UnknownSkuError(`unknown sku ${JSON.stringify(request.sku)}`);
    if (row.stock < request.quantity) return soldOutUnlessReplayed(session, request, row.stock);
    const stockAfter = row.stock - request.quantity;
    const purchaseId = await session.writeSale({ ...request, stockAfter });
    return sold(request, { purchaseId, stockAfter });
  });
}
