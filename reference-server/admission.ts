import type { Adapter } from '../adapters/adapter.js';
import { OverloadedError } from '../src/errors.js';

/**
 * Default `serve --max-queue`: purchases one server process lets wait for a
 * database connection. On one hot row the slowest database we measured sells
 * about 1,200 a second (MariaDB and PostgreSQL, `lock`, README Performance),
 * so a full queue of 1,000 drains in about a second — well inside the
 * connection wait bound, even with 4 workers' queues sharing that row — while
 * costing only a few megabytes. A longer queue would only turn fast refusals
 * into slow ones.
 */
export const DEFAULT_MAX_QUEUE = 1000;

interface Waiter {
  admit(): void;
  refuse(error: Error): void;
}

/**
 * Admission control in front of the database pool: at most `slots`
 * connections are lent at once (the pool's size, so the pool itself never
 * queues), at most `maxQueue` requests wait in line for one, in arrival
 * order, for at most `waitMs`. Anyone beyond that is refused at once with
 * OverloadedError (503 with Retry-After), before anything touched the
 * database. This is what keeps a stampede of 20,000 buyers from becoming
 * 20,000 pending driver callbacks: memory is bounded by the queue, and every
 * buyer hears an answer in bounded time. The gate holds connections, not
 * whole purchases, so a strategy that pauses between attempts (optimistic
 * backoff) gives its connection to the next in line meanwhile.
 */
export class AdmissionGate {
  private running = 0;
  // A Set keeps arrival order and lets a waiter that gave up leave in O(1).
  private readonly waiting = new Set<Waiter>();
  /** Running totals for `GET /metrics`: plain numbers, so counting costs the purchase path nothing. */
  readonly totals = { admittedAfterWait: 0, timedOut: 0, refusedFull: 0, waitSeconds: 0 };

  constructor(
    /** Connections that may be lent at once. */
    readonly slots: number,
    /** Requests that may wait for a slot; the rest are refused at once. */
    readonly maxQueue: number,
    /** Longest wait for a slot before a waiter is refused. */
    readonly waitMs: number,
  ) {}

  /**
   * Throws the refusal a purchase arriving now would get, if any. Asked before
   * the request body is even read, so that a refusal under a stampede costs
   * as little of the event loop as possible: that loop also carries the
   * database round trips of the purchases being served.
   */
  refuseIfFull(): void {
    if (this.running >= this.slots && this.waiting.size >= this.maxQueue) throw this.queueFull();
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.waiting.size;
  }

  /** Slots lent now. */
  get inUse(): number {
    return this.running;
  }

  /** Runs `work` holding one slot (entered and left around it). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Takes a slot, waiting in line if need be; refuses with OverloadedError when the line is full or the wait runs out. */
  enter(): Promise<void> {
    if (this.running < this.slots) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.size >= this.maxQueue) return Promise.reject(this.queueFull());
    const since = performance.now();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        // The slot passes straight from leave() to this waiter: `running` stays as it is.
        admit: () => {
          clearTimeout(timer);
          this.waiting.delete(waiter);
          this.totals.admittedAfterWait++;
          this.totals.waitSeconds += (performance.now() - since) / 1000;
          resolve();
        },
        refuse: (error) => {
          this.waiting.delete(waiter);
          this.totals.timedOut++;
          this.totals.waitSeconds += (performance.now() - since) / 1000;
          reject(error);
        },
      };
      const timer = setTimeout(
        () => waiter.refuse(new OverloadedError(`overloaded: no database connection became free within ${this.waitMs / 1000} s; retry later`)),
        this.waitMs,
      );
      this.waiting.add(waiter);
    });
  }

  /** Gives a slot back, to the longest waiter if there is one. */
  leave(): void {
    const next = this.waiting.values().next();
    if (next.done) this.running--;
    else next.value.admit();
  }

  private queueFull(): OverloadedError {
    this.totals.refusedFull++;
    return new OverloadedError(`overloaded: ${this.maxQueue} purchases already wait for a database connection (--max-queue); retry later`);
  }
}

/** The same adapter, with every connection it lends taken through `gate`. */
export function admitted(adapter: Adapter, gate: AdmissionGate): Adapter {
  return {
    dialect: adapter.dialect,
    label: adapter.label,
    migrate: () => adapter.migrate(),
    serverVersion: () => adapter.serverVersion(),
    close: () => adapter.close(),
    async acquire() {
      await gate.enter();
      try {
        return await adapter.acquire();
      } catch (error) {
        gate.leave();
        throw error;
      }
    },
    release(session, broken) {
      try {
        adapter.release(session, broken);
      } finally {
        gate.leave();
      }
    },
  };
}
