import type { NewPurchase, PurchaseRow } from './adapter.js';

/**
 * A `purchases` row as any of the three drivers returns it: PostgreSQL gives
 * BIGINT ids as strings and timestamps as Dates, SQLite gives text times.
 */
export interface PurchaseRecord {
  id: number | string;
  sku: string;
  buyer_id: string;
  quantity: number;
  request_id: string;
  stock_after: number;
  created_at: Date | string;
}

/** The one place where a driver's ledger row becomes the adapter contract's. */
export function toPurchaseRow(record: PurchaseRecord): PurchaseRow {
  return {
    id: Number(record.id),
    sku: record.sku,
    buyerId: record.buyer_id,
    quantity: record.quantity,
    requestId: record.request_id,
    stockAfter: record.stock_after,
    createdAt: record.created_at instanceof Date ? record.created_at.toISOString() : record.created_at,
  };
}

/** The ids of rows just inserted, in the order of `sales`, matched on the request id. */
export function idsInOrder(sales: NewPurchase[], rows: Array<{ id: string | number; request_id: string }>): number[] {
  const ids = new Map(rows.map((row) => [row.request_id, Number(row.id)]));
  return sales.map((sale) => {
    const id = ids.get(sale.requestId);
    if (id === undefined) throw new Error(`the batch insert returned no id for request ${JSON.stringify(sale.requestId)}`);
    return id;
  });
}
