import { pathToFileURL } from 'node:url';
import { ConfigError, DuplicateRequestError } from '../../src/errors.js';
import type { Adapter } from '../adapter.js';
import { withSession } from '../transaction.js';
import { atomicStrategy } from './atomic.js';
import { batchStrategy } from './batch.js';
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
  batch: batchStrategy,
  unsafe: unsafeStrategy,
} as const satisfies Record<string, Strategy>;

/** The strategies the reference server ships with. */
export type BuiltInStrategyName = keyof typeof STRATEGIES;

/**
 * A strategy of the user's own: the `file:` URL of an ES module whose default
 * export is a Strategy (`prove --strategy ./mine.js`). A URL, not a function,
 * because it must reach cluster workers through JSON.
 */
export type StrategyModuleUrl = `file:${string}`;

/** A built-in strategy's name, or the module URL of the user's own. */
export type StrategyName = BuiltInStrategyName | StrategyModuleUrl;

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as BuiltInStrategyName[];

export function isStrategyName(name: string): name is BuiltInStrategyName {
  return Object.hasOwn(STRATEGIES, name);
}

/**
 * What `--strategy` was given: a built-in name, or a path to a module
 * (anything with a slash or a .js/.mjs ending), resolved against the
 * current directory. Anything else is a one-line error naming the choices.
 */
export function parseStrategy(value: string): StrategyName {
  if (isStrategyName(value)) return value;
  if (value.startsWith('file:')) return value as StrategyModuleUrl;
  if (/[\\/]/.test(value) || /\.m?js$/.test(value)) return pathToFileURL(value).href as StrategyModuleUrl;
  throw new ConfigError(`unknown strategy ${JSON.stringify(value)}: use ${STRATEGY_NAMES.join(', ')}, or a path to a module of your own (./my-strategy.js)`);
}

// One import per module and process: a module keeps its own state (a
// counter, a cache) across purchases, as a built-in strategy's closure would.
const loaded = new Map<StrategyModuleUrl, Promise<Strategy>>();

/**
 * Loads the user's strategy module and checks that its default export is a
 * function; a missing file or a wrong export is a one-line ConfigError.
 */
export function loadStrategy(url: StrategyModuleUrl): Promise<Strategy> {
  let loading = loaded.get(url);
  if (!loading) {
    loading = import(url).then(
      (module: { default?: unknown }) => {
        if (typeof module.default !== 'function') {
          throw new ConfigError(`strategy module ${url} must export a function as default: (adapter, request) => Promise<outcome>`);
        }
        return module.default as Strategy;
      },
      (error: unknown) => {
        throw new ConfigError(`cannot load strategy module ${url}: ${(error as Error).message.split('\n')[0]}`);
      },
    );
    loaded.set(url, loading);
  }
  return loading;
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
    // Built-ins are called straight away: no extra await on the hot path.
    const sell = isStrategyName(strategy) ? STRATEGIES[strategy] : await loadStrategy(strategy);
    return await sell(adapter, request);
  } catch (error) {
    if (!(error instanceof DuplicateRequestError)) throw error;
    const prior = await withSession(adapter, (session) => session.findPurchase(request.requestId));
    if (!prior) throw error;
    return replayOf(prior, request);
  }
}
