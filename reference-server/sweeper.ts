import type { ReservationFlow } from '../adapters/reservations/index.js';
import { withTransaction } from '../adapters/transaction.js';
import type { Adapter } from '../adapters/adapter.js';
import { FlashsaleError } from '../src/errors.js';
import { RATE_WINDOW_MS } from './rate-limit.js';

/** The longest pause between sweeps, whatever the TTL. */
const MAX_SWEEP_INTERVAL_MS = 1000;

/** How often a server with this TTL sweeps: min(ttl / 4, 1 s), so a hold outlives its time by at most that. */
export function sweepIntervalMs(ttlMs: number): number {
  return Math.max(1, Math.min(Math.floor(ttlMs / 4), MAX_SWEEP_INTERVAL_MS));
}

/** A running sweeper; stop() waits for a sweep in flight. */
export interface Sweeper {
  stop(): Promise<void>;
}

/**
 * Expires due holds on a timer, in every server process, so that units come
 * back even when nobody touches the item again (reserve, confirm and cancel
 * also expire lazily). Every process may run one: the sweep itself is safe
 * against others (see expire.ts). The state is rows, so a restarted server's
 * first sweep returns whatever expired while it was down. Once a minute it
 * also drops rate-limit windows that can no longer count. A failed sweep
 * (database down, pool busy) is retried at the next tick; an unexpected error
 * is logged once per message.
 */
export function startSweeper(adapter: Adapter, flow: ReservationFlow, intervalMs: number, now: () => number = Date.now): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let lastForget = 0;
  const logged = new Set<string>();

  const sweep = async () => {
    const nowMs = now();
    await flow.sweep(nowMs);
    if (nowMs - lastForget >= RATE_WINDOW_MS) {
      lastForget = nowMs;
      await withTransaction(adapter, (session) => flow.store.forgetHits(session, nowMs - 2 * RATE_WINDOW_MS));
    }
  };
  const tick = () => {
    inFlight = sweep()
      .catch((error: unknown) => {
        if (error instanceof FlashsaleError) return;
        const message = (error as Error)?.message ?? String(error);
        if (logged.has(message)) return;
        logged.add(message);
        process.stderr.write(`flashsale serve: reservation sweep failed: ${message}\n`);
      })
      .finally(() => {
        if (!stopped) schedule();
      });
  };
  // A timer that does not keep the process alive: stopping the server is what ends it.
  const schedule = () => {
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
