import type { Worker } from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Adapter } from '../adapters/adapter.js';
import { readInventory } from '../adapters/store.js';
import { OverloadedError } from '../src/errors.js';
import type { AdmissionGate } from './admission.js';
import type { PrimaryMessage, WorkerMessage } from './worker-protocol.js';

// `GET /metrics` in the Prometheus text format, from prom-client.
//
// Every server process counts for itself; a scrape reaching any worker of
// `serve --workers N` returns the totals of all of them: the worker asks the
// primary, the primary collects every ready worker's metrics as JSON and adds
// them up with prom-client's own AggregatorRegistry.aggregate (counters and
// histograms summed; each gauge as its `aggregator` says), and the text goes
// back to the worker that was asked. Our own small IPC rather than
// AggregatorRegistry.clusterMetrics(): that one asks every connected worker,
// so a worker just forked (or one still starting after a crash) that has not
// loaded prom-client yet leaves every scrape hanging for its 5 s timeout;
// ours asks only the workers that said READY and stops waiting for one that exits.

/** How a purchase request ended, in attack's words where they fit (refused = "not now, try again"). */
const PURCHASE_OUTCOMES = ['bought', 'replayed', 'sold_out', 'refused', 'rejected', 'http_5xx', 'aborted'] as const;
type PurchaseOutcome = (typeof PURCHASE_OUTCOMES)[number];

/** Request duration buckets, seconds: a purchase on SQLite answers in well under a millisecond. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Longest a scrape waits for the workers' figures. */
const COLLECT_TIMEOUT_MS = 5000;

/** What the metrics need of a route (server.ts's Route has it). */
export interface MeteredRoute {
  path: string;
  takesParameter?: boolean;
  parameter?: string;
  /** Counted in flashsale_purchases_total by outcome. */
  purchase?: boolean;
}

interface Labels {
  route: string;
  status: string;
}

/** The runtime's figures (CPU, memory, event-loop lag, GC), once per process however many servers it runs. */
let runtimeRegistry: Registry | undefined;
function runtimeMetrics(): Registry {
  if (!runtimeRegistry) {
    runtimeRegistry = new Registry();
    collectDefaultMetrics({ register: runtimeRegistry });
  }
  return runtimeRegistry;
}

/** One server process's metrics. */
export class ServerMetrics {
  /** This server's own metrics; scrapes add the process's runtime metrics to them. */
  readonly registry = new Registry();
  /** Purchase answers per outcome, in PURCHASE_OUTCOMES order: plain numbers, read on scrape. */
  private readonly purchases = new Array<number>(PURCHASE_OUTCOMES.length).fill(0);
  private readonly duration: Histogram<'route' | 'status'>;
  /** One labels object per route and status, made once, so observing allocates none of ours. */
  private readonly labels = new Map<MeteredRoute | undefined, Map<number, Labels>>();
  /** Where a scrape's text comes from: this process alone, or the primary's totals over all workers. */
  private totals: () => Promise<string> = () => Registry.merge([runtimeMetrics(), this.registry]).metrics();

  constructor(options: {
    /** The database, read for the inventory gauge without the admission gate: a scrape must not take a buyer's place. */
    adapter: Adapter;
    /** The item whose stock the inventory gauge reads. */
    sku: string;
    admission?: AdmissionGate | undefined;
  }) {
    const { adapter, sku, admission } = options;
    const registers = [this.registry];
    runtimeMetrics();
    const purchases = this.purchases;
    new Counter({
      name: 'flashsale_purchases_total',
      help: 'Purchase requests (POST /buy, /buy_ticket) answered, by outcome',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        PURCHASE_OUTCOMES.forEach((outcome, k) => this.inc({ outcome }, purchases[k]!));
      },
    });
    this.duration = new Histogram({
      name: 'flashsale_http_request_duration_seconds',
      help: 'Time from a request\'s arrival to its answer, by route and status',
      labelNames: ['route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'flashsale_inventory_available',
      help: 'Units in stock, read from the database at scrape time (the same in every worker: the first answer is shown)',
      labelNames: ['sku'],
      aggregator: 'first',
      registers,
      async collect() {
        this.reset();
        try {
          this.set({ sku }, (await readInventory(adapter, sku)).current_stock);
        } catch {
          // Database unreachable: no sample, which Prometheus reads as "unknown", never a stale number.
        }
      },
    });
    new Gauge({
      name: 'flashsale_workers',
      help: 'Server processes whose figures this scrape adds up',
      registers,
      collect() {
        this.set(1);
      },
    });
    if (admission) registerAdmission(admission, registers);
  }

  /**
   * Records one answered request. `startedAt` is performance.now() at its
   * arrival; the route is undefined when none matched.
   */
  answered(route: MeteredRoute | undefined, response: ServerResponse, startedAt: number): void {
    const status = response.headersSent ? response.statusCode : 0;
    this.duration.observe(this.labelsOf(route, status), (performance.now() - startedAt) / 1000);
    if (route?.purchase) this.purchases[PURCHASE_OUTCOMES.indexOf(purchaseOutcome(status, response))]!++;
  }

  /** `GET /metrics`: the totals, as Prometheus scrapes them. */
  readonly handler = async (_request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const text = await this.totals().catch((error: Error) => {
      throw new OverloadedError(`metrics unavailable: ${error.message}`);
    });
    response.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };

  /**
   * In a `serve --workers` process: answer the primary's collection requests
   * with this process's figures, and serve scrapes with the primary's totals.
   */
  joinCluster(): void {
    let nextId = 0;
    const asked = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
    process.on('message', (message: PrimaryMessage) => {
      if (message.cmd === 'METRICS_COLLECT') {
        void this.figures().then(
          (metrics) => process.send?.({ cmd: 'METRICS_PART', id: message.id, metrics } satisfies WorkerMessage),
          (error: Error) => process.send?.({ cmd: 'METRICS_PART', id: message.id, metrics: [], error: error.message } satisfies WorkerMessage),
        );
      } else if (message.cmd === 'METRICS_TOTAL') {
        const waiting = asked.get(message.id);
        asked.delete(message.id);
        if (message.error !== undefined) waiting?.reject(new Error(message.error));
        else waiting?.resolve(message.text);
      }
    });
    this.totals = () =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        asked.set(id, { resolve, reject });
        if (!process.send?.({ cmd: 'METRICS_ASK', id } satisfies WorkerMessage)) {
          asked.delete(id);
          reject(new Error('the primary process is gone'));
        }
      });
  }

  /** This process's figures, the runtime's and this server's, as prom-client JSON for the primary to add up. */
  private async figures(): Promise<WorkerMetrics> {
    const [runtime, own] = await Promise.all([runtimeMetrics().getMetricsAsJSON(), this.registry.getMetricsAsJSON()]);
    return [...runtime, ...own];
  }

  private labelsOf(route: MeteredRoute | undefined, status: number): Labels {
    let byStatus = this.labels.get(route);
    if (!byStatus) this.labels.set(route, (byStatus = new Map()));
    let labels = byStatus.get(status);
    if (!labels) byStatus.set(status, (labels = { route: routeLabel(route), status: status === 0 ? 'aborted' : String(status) }));
    return labels;
  }
}

/** The route as the `GET /` index writes it (`/inventory/:sku`); `unmatched` for any other path, so labels stay few. */
function routeLabel(route: MeteredRoute | undefined): string {
  if (!route) return 'unmatched';
  return route.takesParameter ? `${route.path}:${route.parameter ?? 'sku'}` : route.path;
}

function purchaseOutcome(status: number, response: ServerResponse): PurchaseOutcome {
  if (status === 0) return 'aborted';
  if (status === 200 || status === 201) return response.getHeader('idempotent-replayed') ? 'replayed' : 'bought';
  if (status === 410) return 'sold_out';
  if (status === 429 || (status === 503 && response.hasHeader('retry-after'))) return 'refused';
  return status < 500 ? 'rejected' : 'http_5xx';
}

/** The admission gate's figures (pool slots lent, purchases waiting for one), read on scrape; summed over workers. */
function registerAdmission(gate: AdmissionGate, registers: Registry[]): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect: function (this: Gauge) { this.set(read()); } });
  // A counter read from a running total: reset, then raised to it.
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect: function (this: Counter) { this.reset(); this.inc(read()); } });
  gauge('flashsale_pool_slots', 'Database connections the admission gate may lend at once', () => gate.slots);
  gauge('flashsale_pool_in_use', 'Database connections lent now', () => gate.inUse);
  gauge('flashsale_pool_queue_length', 'Requests waiting now for a database connection', () => gate.queued);
  counter('flashsale_pool_waits_total', 'Requests that waited for a database connection and got one', () => gate.totals.admittedAfterWait);
  counter('flashsale_pool_wait_timeouts_total', 'Requests that waited for a database connection until --lock-timeout and were refused (503)', () => gate.totals.timedOut);
  counter('flashsale_pool_wait_seconds_total', 'Time spent waiting for a database connection, by every request that waited', () => gate.totals.waitSeconds);
  counter('flashsale_pool_queue_full_total', 'Requests refused at once because --max-queue requests already waited (503)', () => gate.totals.refusedFull);
}

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

interface Collection {
  /** The id its METRICS_COLLECT carried, and each METRICS_PART answers with. */
  id: number;
  /** Workers still to answer. */
  pending: Set<Worker>;
  parts: WorkerMetrics[];
  /** The workers whose scrapes wait for these totals. */
  askers: { worker: Worker; id: number }[];
  timer: NodeJS.Timeout;
}

/**
 * In the primary of `serve --workers N`: answers a worker's METRICS_ASK with
 * the totals over every ready worker. Scrapes arriving while a collection
 * runs share it, so a burst of scrapes costs one round of messages.
 */
export class ClusterMetrics {
  private nextId = 0;
  private collection: Collection | undefined;

  constructor(
    /** The workers that said READY and are still alive. */
    private readonly workers: () => Iterable<Worker>,
  ) {}

  /** Handles a worker's metrics message; false when the message is not one. */
  receive(worker: Worker, message: WorkerMessage): boolean {
    if (message.cmd === 'METRICS_ASK') {
      this.ask(worker, message.id);
      return true;
    }
    if (message.cmd === 'METRICS_PART') {
      const collection = this.collection;
      if (collection && message.id === collection.id && collection.pending.delete(worker)) {
        if (message.error !== undefined) return this.finish(collection, `a worker could not collect its metrics: ${message.error}`), true;
        collection.parts.push(message.metrics as WorkerMetrics);
        if (collection.pending.size === 0) this.finish(collection);
      }
      return true;
    }
    return false;
  }

  /** A worker exited: its figures leave the totals (counters restart with its replacement, as Prometheus expects). */
  forget(worker: Worker): void {
    const collection = this.collection;
    if (collection?.pending.delete(worker) && collection.pending.size === 0) this.finish(collection);
  }

  private ask(worker: Worker, id: number): void {
    if (this.collection) {
      this.collection.askers.push({ worker, id });
      return;
    }
    const collection: Collection = {
      id: this.nextId++,
      pending: new Set(),
      parts: [],
      askers: [{ worker, id }],
      timer: setTimeout(() => this.finish(collection, `no answer from ${collection.pending.size} worker(s) within ${COLLECT_TIMEOUT_MS / 1000} s`), COLLECT_TIMEOUT_MS),
    };
    this.collection = collection;
    const request: PrimaryMessage = { cmd: 'METRICS_COLLECT', id: collection.id };
    for (const each of this.workers()) {
      if (!each.isConnected()) continue;
      collection.pending.add(each);
      each.send(request, undefined, undefined, () => {});
    }
    if (collection.pending.size === 0) this.finish(collection);
  }

  private finish(collection: Collection, error?: string): void {
    if (this.collection !== collection) return;
    this.collection = undefined;
    clearTimeout(collection.timer);
    const answer = (reply: Omit<Extract<PrimaryMessage, { cmd: 'METRICS_TOTAL' }>, 'id'>) => {
      for (const { worker, id } of collection.askers) if (worker.isConnected()) worker.send({ ...reply, id } satisfies PrimaryMessage, undefined, undefined, () => {});
    };
    if (error !== undefined) return answer({ cmd: 'METRICS_TOTAL', text: '', error });
    AggregatorRegistry.aggregate(collection.parts)
      .metrics()
      .then(
        (text) => answer({ cmd: 'METRICS_TOTAL', text }),
        (failure: Error) => answer({ cmd: 'METRICS_TOTAL', text: '', error: failure.message }),
      );
  }
}
