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
 * Admission control for purchases: at most `slots` run at once (one per
 * database connection, so the pool itself never queues a purchase), at most
 * `maxQueue` wait in line for a slot, in arrival order, for at most `waitMs`.
 * Anyone beyond that is refused at once with OverloadedError (503 with
 * Retry-After), before anything touched the database. This is what keeps a
 * stampede of 20,000 buyers from becoming 20,000 pending promises, sockets'
 * worth of buffers and driver callbacks: memory is bounded by the queue, and
 * every buyer hears an answer in bounded time.
 */
export class AdmissionGate {
  private running = 0;
  // A Set keeps arrival order and lets a waiter that gave up leave in O(1).
  private readonly waiting = new Set<Waiter>();

  constructor(
    /** Purchases that may hold a database connection at once. */
    readonly slots: number,
    /** Purchases that may wait for a slot; the rest are refused at once. */
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

  private queueFull(): OverloadedError {
    return new OverloadedError(`overloaded: ${this.maxQueue} purchases already wait for a database connection (--max-queue); retry later`);
  }

  /** Purchases waiting for a slot now. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * Runs `work` once a slot is free. Refuses with OverloadedError when the
   * queue is full or the wait runs out; `abandoned` (the buyer hung up)
   * takes a waiter out of line without running anything.
   */
  async run<T>(work: () => Promise<T>, abandoned?: AbortSignal): Promise<T> {
    await this.enter(abandoned);
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  private enter(abandoned?: AbortSignal): Promise<void> {
    if (this.running < this.slots) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.size >= this.maxQueue) {
      return Promise.reject(this.queueFull());
    }
    return new Promise((resolve, reject) => {
      const leaveLine = () => {
        clearTimeout(timer);
        abandoned?.removeEventListener('abort', onAbandon);
        this.waiting.delete(waiter);
      };
      const waiter: Waiter = {
        // The slot passes straight from leave() to this waiter: `running` stays as it is.
        admit: () => {
          leaveLine();
          resolve();
        },
        refuse: (error) => {
          leaveLine();
          reject(error);
        },
      };
      const timer = setTimeout(
        () => waiter.refuse(new OverloadedError(`overloaded: no database connection became free within ${this.waitMs / 1000} s; retry later`)),
        this.waitMs,
      );
      const onAbandon = () => waiter.refuse(new OverloadedError('the buyer went away while waiting for a database connection'));
      abandoned?.addEventListener('abort', onAbandon, { once: true });
      this.waiting.add(waiter);
    });
  }

  private leave(): void {
    const next = this.waiting.values().next();
    if (next.done) this.running--;
    else next.value.admit();
  }
}
