import { DuplicateRequestError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession } from '../transaction.js';
import { atomicStrategy } from './atomic.js';
import { lockStrategy } from './lock.js';
import { optimisticStrategy } from './optimistic.js';
import { replayOf, type PurchaseOutcome, type PurchaseRequest } from './purchase.js';
import { unsafeStrategy } from './unsafe.js';

export type { Bought, PurchaseOutcome, PurchaseRequest, SoldOut } from './purchase.js';

/** A way of selling one item that many buyers want at once. */
export type Strategy = (adapter: Adapter, request: PurchaseRequest) => Promise<PurchaseOutcome>;

export const STRATEGIES = {
  lock: lockStrategy,
  atomic: atomicStrategy,
  optimistic: optimisticStrategy,
  unsafe: unsafeStrategy,
} as const satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof STRATEGIES;

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[];

export function isStrategyName(name: string): name is StrategyName {
  return Object.hasOwn(STRATEGIES, name);
}

/**
 * Sells with the named strategy. A request id that already has a ledger row
 * (a retry racing its original, or arriving after it) loses on the UNIQUE
 * constraint, its transaction rolls back, and it gets the original answer.
 */
export async function purchase(
  adapter: Adapter,
  strategy: StrategyName,
  request: PurchaseRequest,
): Promise<PurchaseOutcome> {
  try {
    return await STRATEGIES[strategy](adapter, request);
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
    const prior = await withSession(adapter, (session) => session.findPurchase(request.requestId));
    if (!prior) throw error;
    return replayOf(prior, request);
  }
}
