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

/** Sells a whole batch; one settled result per request, in the same order. */
export type SellBatch = (requests: PurchaseRequest[]) => Promise<Array<PromiseSettledResult<PurchaseOutcome>>>;

interface Waiting {
  request: PurchaseRequest;
  resolve(outcome: PurchaseOutcome): void;
  reject(error: unknown): void;
}

/** One item's queue: at most one batch of it in flight per process. */
interface Lane {
  waiting: Waiting[];
  inFlight: boolean;
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
}

/**
 * Group commit for purchases: while one item's batch is in its transaction,
 * later buyers of that item queue; when it ends, the queue (up to `maxSize`)
 * is the next batch. A buyer of an idle item waits at most `maxWaitMs`, so a
 * lone buyer pays one transaction, as with `lock`, and a crowd pays one
 * transaction per batch. Items are independent lanes, sold in parallel.
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
      lane = { waiting: [], inFlight: false, timer: undefined };
      this.lanes.set(request.sku, lane);
    }
    const queued = new Promise<PurchaseOutcome>((resolve, reject) => lane.waiting.push({ request, resolve, reject }));
    if (!lane.inFlight) {
      if (lane.waiting.length >= this.options.maxSize) this.start(request.sku, lane);
      else if (!lane.timer) this.schedule(request.sku, lane);
    }
    return queued;
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
      this.lanes.delete(sku);
      return;
    }
    lane.inFlight = true;
    void this.run(batch).finally(() => {
      lane.inFlight = false;
      // Whoever queued during the transaction has waited long enough.
      if (lane.waiting.length > 0) this.start(sku, lane);
      else this.lanes.delete(sku);
    });
  }

  private async run(batch: Waiting[]): Promise<void> {
    let results: Array<PromiseSettledResult<PurchaseOutcome>>;
    try {
      results = await this.sell(batch.map((waiting) => waiting.request));
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
