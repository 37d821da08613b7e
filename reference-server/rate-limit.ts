import type { Adapter } from '../adapters/adapter.js';
import type { ReservationStore } from '../adapters/reservations/contract.js';
import { RateLimitedError } from '../adapters/reservations/errors.js';
import { withTransaction } from '../adapters/transaction.js';

/** The rate limit's window: `--rate-limit N/min` counts requests per buyer per minute. */
export const RATE_WINDOW_MS = 60_000;

/**
 * Counts one reserve request of `buyerId` and refuses it (429) when the buyer
 * has made more than `perMinute` in the current minute. The count lives in
 * the database (one row per buyer and window, incremented by an upsert under
 * that row's lock), so every worker process shares it and a restart does not
 * reset it. Fixed windows aligned to the minute: simple and exact, at the
 * cost of letting a buyer send up to 2N across a window boundary. Refused
 * requests count too, so hammering does not open the window earlier.
 */
export async function enforceRateLimit(adapter: Adapter, store: ReservationStore, buyerId: string, perMinute: number, nowMs: number): Promise<void> {
  const windowStartMs = nowMs - (nowMs % RATE_WINDOW_MS);
  const hits = await withTransaction(adapter, (session) => store.countHit(session, buyerId, windowStartMs));
  if (hits > perMinute) {
    const retryAfterSeconds = Math.max(1, Math.ceil((windowStartMs + RATE_WINDOW_MS - nowMs) / 1000));
    throw new RateLimitedError(`buyer ${JSON.stringify(buyerId)} made more than ${perMinute} reserve requests this minute; retry in ${retryAfterSeconds} s`, retryAfterSeconds);
  }
}

/** Parses `--rate-limit`: `N/min` (or `N/m`, `N/minute`), N a whole number from 1. */
export function parseRateLimit(value: string): number | undefined {
  const match = /^(\d+)\s*\/\s*(?:m|min|minute)$/.exec(value.trim());
  const perMinute = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(perMinute) && perMinute >= 1 ? perMinute : undefined;
}
