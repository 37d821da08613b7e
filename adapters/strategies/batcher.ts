import type { PurchaseOutcome, PurchaseRequest } from './purchase.js';

/** How big a batch may grow and how long a lone buyer waits for company. */
export interface BatchOptions {
  /** Most purchases sold in one transaction. */
  maxSize: number;
  /**
   * Milliseconds the first buyer of an idle item waits for others before its
   * batch starts. 0: only those already waiting (the same turn of the event
   * loop). Buyers who arrive while a batch is in flight wait for it anyway,
   * and become the next batch the moment it ends.
   */
  maxWaitMs: number;
}

/**
 * Sells a whole batch; one settled result per request, in the same order.
 * `committing` is called (at most once matters) when the batch's writes are
 * done and only its COMMIT is left: from then on the next batch may start.
 */
export type SellBatch = (
  requests: PurchaseRequest[],
  committing: () => void,
) => Promise<Array<PromiseSettledResult<PurchaseOutcome>>>;

interface Waiting {
  request: PurchaseRequest;
  resolve(outcome: PurchaseOutcome): void;
  reject(error: unknown): void;
}

/** One item's queue and the batches of it in flight in this process. */
interface Lane {
  waiting: Waiting[];
  /** A batch is deciding and writing (before its COMMIT): the next must wait. */
  working: boolean;
  /** Batches whose COMMIT is in flight. */
  committing: number;
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
}

/**
 * Group commit for purchases: while one item's batch is in its transaction,
 * later buyers of that item queue; they become the next batch as soon as
 * that transaction has sent its COMMIT (up to `maxSize` each). A buyer of an
 * idle item waits at most `maxWaitMs`, so a lone buyer pays one transaction,
 * as with `lock`, and a crowd pays one transaction per batch. Items are
 * independent lanes, sold in parallel.
 *
 * Why the next batch starts at the COMMIT and not after it: its BEGIN and
 * row-lock request travel while the COMMIT flushes, so the lock passes from
 * one batch to the next without a round trip in between; and InnoDB frees
 * row locks before the log flush, so there the next batch decides and
 * writes while the previous one's flush is still on disk, and the two
 * flushes can share one group commit. Still one batch at a time holds the
 * item's row lock (the database orders them, as it orders the batches of
 * several server processes), in arrival order; at most one batch works
 * while at most one commits.
 */
export class Batcher {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly sell: SellBatch,
    private readonly options: BatchOptions,
  ) {}

  /** Queues one purchase; settles when the batch that sold (or refused) it has ended. */
  submit(request: PurchaseRequest): Promise<PurchaseOutcome> {
    let lane = this.lanes.get(request.sku);
    if (!lane) {
      lane = { waiting: [], working: false, committing: 0, timer: undefined };
      this.lanes.set(request.sku, lane);
    }
    const queued = new Promise<PurchaseOutcome>((resolve, reject) => lane.waiting.push({ request, resolve, reject }));
    if (this.mayStart(lane)) {
      if (lane.waiting.length >= this.options.maxSize) this.start(request.sku, lane);
      else if (!lane.timer) this.schedule(request.sku, lane);
    }
    return queued;
  }

  /** No batch of the lane is working, and at most one other is committing. */
  private mayStart(lane: Lane): boolean {
    return !lane.working && lane.committing < 2;
  }

  private schedule(sku: string, lane: Lane): void {
    // setImmediate, not a 0 ms timer: requests whose bodies were parsed in
    // this same turn of the event loop still join, at no measurable delay.
    lane.timer =
      this.options.maxWaitMs > 0
        ? setTimeout(() => this.start(sku, lane), this.options.maxWaitMs)
        : setImmediate(() => this.start(sku, lane));
  }

  private start(sku: string, lane: Lane): void {
    if (lane.timer) {
      clearTimeout(lane.timer as NodeJS.Timeout);
      clearImmediate(lane.timer as NodeJS.Immediate);
      lane.timer = undefined;
    }
    const batch = lane.waiting.splice(0, this.options.maxSize);
    if (batch.length === 0) {
      if (!lane.working && lane.committing === 0) this.lanes.delete(sku);
      return;
    }
    lane.working = true;
    let committed = false;
    const committing = () => {
      if (committed) return;
      committed = true;
      lane.working = false;
      lane.committing++;
      // Whoever queued while this batch worked has waited long enough.
      if (lane.waiting.length > 0 && this.mayStart(lane)) this.start(sku, lane);
    };
    void this.run(batch, committing).finally(() => {
      if (committed) lane.committing--;
      else lane.working = false;
      if (lane.waiting.length > 0) {
        if (this.mayStart(lane)) this.start(sku, lane);
      } else if (!lane.working && lane.committing === 0 && !lane.timer) {
        this.lanes.delete(sku);
      }
    });
  }

  private async run(batch: Waiting[], committing: () => void): Promise<void> {
    let results: Array<PromiseSettledResult<PurchaseOutcome>>;
    try {
      results = await this.sell(
        batch.map((waiting) => waiting.request),
        committing,
      );
    } catch (error) {
      // Nothing of the batch is known to have been sold: all get the same error.
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, index) => {
      const result = results[index]!;
      if (result.status === 'fulfilled') waiting.resolve(result.value);
      else waiting.reject(result.reason);
    });
  }
}
