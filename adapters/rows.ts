import type { PurchaseRow } from './adapter.js';

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
