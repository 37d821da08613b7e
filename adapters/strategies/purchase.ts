import { IdempotencyConflictError } from '../../src/errors.js';
import type { PurchaseRow, Sale, Session } from '../adapter.js';

/** One buyer's request to buy, already validated. */
export interface PurchaseRequest {
  sku: string;
  buyerId: string;
  /** Units to buy, at least 1. */
  quantity: number;
  /** Unique per purchase attempt; a repeat is an idempotent replay. */
  requestId: string;
}

/** The sale happened (now, or earlier for the same request id). */
export interface Bought {
  kind: 'bought';
  purchaseId: number;
  /** Stock left by this purchase: the ledger row's `stock_after`. */
  remaining: number;
  requestId: string;
  /** True when this answer repeats an earlier sale for the same request id. */
  replayed: boolean;
}

/** Fewer than `quantity` units were left; nothing was sold. */
export interface SoldOut {
  kind: 'sold_out';
  /** Units left when the request was refused. */
  remaining: number;
}

export type PurchaseOutcome = Bought | SoldOut;

/** Builds the answer for a request whose sale is already in the ledger. */
export function replayOf(prior: PurchaseRow, request: PurchaseRequest): Bought {
  if (prior.sku !== request.sku || prior.quantity !== request.quantity || prior.buyerId !== request.buyerId) {
    throw new IdempotencyConflictError(
      `Idempotency-Key ${JSON.stringify(request.requestId)} was already used for a different purchase`,
    );
  }
  return { kind: 'bought', purchaseId: prior.id, remaining: prior.stockAfter, requestId: prior.requestId, replayed: true };
}

/**
 * Answers "sold out" unless this very request already bought: a retry of the
 * purchase that took the last unit must get its original 200, not a 410.
 * The look-up happens only on the refusal path, so sales pay nothing for it.
 */
export async function soldOutUnlessReplayed(
  session: Session,
  request: PurchaseRequest,
  stock: number,
): Promise<PurchaseOutcome> {
  const prior = await session.findPurchase(request.requestId);
  return prior ? replayOf(prior, request) : { kind: 'sold_out', remaining: stock };
}

/** Records the sale of `request` that leaves `stockAfter` units, in the caller's transaction. */
export async function recordSale(session: Session, request: PurchaseRequest, stockAfter: number): Promise<Bought> {
  const purchaseId = await session.insertPurchase({ ...request, stockAfter });
  return sold(request, { purchaseId, stockAfter });
}

/** The answer to a sale just written. */
export function sold(request: PurchaseRequest, sale: Sale): Bought {
  return { kind: 'bought', purchaseId: sale.purchaseId, remaining: sale.stockAfter, requestId: request.requestId, replayed: false };
}
