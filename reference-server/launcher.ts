import { fork as forkProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Adapter, AdapterOptions, Inventory } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import type { StrategyName } from '../adapters/strategies/index.js';
import { configureBatching } from '../adapters/strategies/batch.js';
import { prepareStore } from '../adapters/store.js';
import { ConfigError, PortInUseError } from '../src/errors.js';
import { AdmissionGate, DEFAULT_MAX_QUEUE } from './admission.js';
import { closeGracefully, listen } from './lifecycle.js';
import { ClusterMetrics, ServerMetrics } from './metrics.js';
import { createReferenceServer, type ReferenceServerOptions } from './server.js';
import { DEFAULT_RESERVATION_TTL_MS } from './reservation-routes.js';
import type { PrimaryMessage, WorkerMessage } from './worker-protocol.js';

/** Everything `flashsale serve` is configured with. */
export interface ServeOptions extends AdapterOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  sku: string;
  itemName: string;
  /** Units the item is created with when it does not exist yet. */
  stock: number;
  /** Server processes sharing the port; 1 runs in this process unless `separateProcess`. */
  workers: number;
  /** Serve from a child process even with one worker, so the caller's event loop stays its own (prove does). */
  separateProcess?: boolean;
  strategy: StrategyName;
  adminToken?: string | undefined;
  /** Purchases each process lets wait for a database connection before answering 503 (default DEFAULT_MAX_QUEUE). */
  maxQueue?: number;
  /** `batch` strategy: most purchases per transaction. */
  batchSize?: number;
  /** `batch` strategy: how long a lone buyer waits for company, in ms. */
  batchWaitMs?: number;
  /** How long a reservation hold lasts, in ms (default 300 s). */
  reservationTtlMs?: number;
  /** Reserve requests a buyer may make per minute; undefined = no limit. */
  rateLimitPerMinute?: number | undefined;
}

/**
 * Worker deaths the primary repairs by restarting within one window; one
 * more and it stops, exiting non-zero, so that a supervisor (systemd,
 * Kubernetes) sees a server that cannot stay up rather than one that restarts
 * in a tight loop forever.
 */
export const MAX_RESTARTS = 5;
export const RESTART_WINDOW_MS = 60_000;

/** A running server, however many processes it has. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** The database as `--db` named it, password masked. */
  databaseLabel: string;
  /** e.g. `PostgreSQL 15.20`. */
  databaseVersion: string;
  /** The item as it stood when the server started. */
  inventory: Inventory;
  /** True when the item did not exist and was created with `--stock`. */
  seeded: boolean;
  /** Stops accepting, finishes in-flight purchases, closes pools; resolves when all is down. */
  stop(): Promise<void>;
  /**
   * Resolves when the server has stopped, whoever stopped it: with the reason
   * when it stopped on its own (a failure), undefined after stop().
   */
  stopped: Promise<string | undefined>;
}

/**
 * Prepares the database once (schema, seed), then serves from this process
 * or, with several workers, from that many node:cluster processes sharing the
 * port. Safety across processes lives entirely in the database's locks.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  applyBatchOptions(options);
  const adapter = await openAdapter(options);
  let prepared: { inventory: Inventory; created: boolean };
  let databaseVersion: string;
  try {
    prepared = await prepareStore(adapter, { sku: options.sku, itemName: options.itemName, stock: options.stock });
    databaseVersion = await adapter.serverVersion();
  } catch (error) {
    await adapter.close();
    throw error;
  }
  // Single process: this pool serves. Several workers: each warms its own.
  if (options.workers <= 1 && !options.separateProcess) await adapter.warm?.().catch(() => {});
  const described = { databaseLabel: adapter.label, databaseVersion, inventory: prepared.inventory, seeded: prepared.created };

  if (options.workers <= 1 && !options.separateProcess) {
    const server = createReferenceServer(serverOptions(adapter, options));
    let port: number;
    try {
      port = await listen(server, options.port, options.host);
    } catch (error) {
      await adapter.close();
      throw error;
    }
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= closeGracefully(server).then(() => adapter.close()));
    const stopped = new Promise<void>((resolve) => server.once('close', resolve)).then(async () => {
      const unasked = !stopping;
      await stop();
      return unasked ? 'the HTTP server closed' : undefined;
    });
    return { ...described, url: baseUrl(options.host, port), stop, stopped };
  }

  // Workers open their own pools; this process only supervises.
  await adapter.close();
  return options.workers <= 1 ? startSeparateProcess(options, described) : startWorkers(options, described);
}

const WORKER_ENTRY = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * One server process of its own (`separateProcess`), forked directly rather
 * than as a node:cluster worker: it accepts its connections itself, where a
 * cluster primary would accept each one and hand it over IPC (a thousand
 * stampeding buyers made that a thousand messages through this process), and
 * its port is its own, so a cluster started meanwhile (prove boots its
 * multi-worker server during the single-worker scenarios) cannot end up
 * sharing it. Not supervised: a death stops the server, with the reason.
 */
async function startSeparateProcess(options: ServeOptions, described: Omit<RunningServer, 'url' | 'stop' | 'stopped'>): Promise<RunningServer> {
  const child = forkProcess(WORKER_ENTRY, [], { env: { ...process.env, FLASHSALE_WORKER_OPTIONS: JSON.stringify(options) } });
  child.on('error', () => {});
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      child.on('message', (message: WorkerMessage) => {
        if (message.cmd === 'READY') resolve(message.port);
        else if (message.cmd === 'FAILED') reject(message.code === 'FS_PORT_IN_USE' ? new PortInUseError(message.message) : new ConfigError(message.message));
      });
      void exited.then((how) => reject(new ConfigError(`the server process exited (${how}) before it was ready`)));
    });
  } catch (error) {
    child.kill('SIGTERM');
    await exited;
    throw error;
  }
  let stopping = false;
  const stop = async () => {
    stopping = true;
    // Exiting on its own already (Ctrl-C reached it first): a STOP that cannot be delivered is not an error.
    if (child.connected) child.send({ cmd: 'STOP' } satisfies PrimaryMessage, undefined, undefined, () => {});
    await exited;
  };
  const stopped = exited.then((how) => (stopping ? undefined : `the server process exited (${how})`));
  return { ...described, url: baseUrl(options.host, port), stop, stopped };
}

async function startWorkers(
  options: ServeOptions,
  described: Omit<RunningServer, 'url' | 'stop' | 'stopped'>,
): Promise<RunningServer> {
  if (!cluster.isPrimary) throw new ConfigError('--workers needs to be started from a primary process');
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });

  const live = new Set<Worker>();
  // Workers that said READY, and so listen for STOP.
  const ready = new WeakSet<Worker>();
  const whenNoneLeft: Array<() => void> = [];
  // Until every first worker is ready a death is a failed start, reported as such, not repaired.
  let supervising = false;
  let stopping = false;
  const restartTimes: number[] = [];
  let reportFailure: (reason: string) => void = () => {};
  const failure = new Promise<string>((resolve) => (reportFailure = resolve));
  const say = (line: string) => process.stderr.write(`flashsale serve: ${line}\n`);
  // GET /metrics on any worker answers the totals of every ready one.
  const metrics = new ClusterMetrics(() => [...live].filter((worker) => ready.has(worker)));

  const fork = (): Worker => {
    const worker = cluster.fork({ FLASHSALE_WORKER_OPTIONS: JSON.stringify(options) });
    const pid = worker.process.pid;
    live.add(worker);
    worker.on('error', () => {});
    worker.on('message', (message: WorkerMessage) => {
      if (message.cmd === 'READY') ready.add(worker);
      if (metrics.receive(worker, message)) return;
      if (supervising && message.cmd === 'FAILED') say(`worker ${pid} could not start: ${message.message}`);
    });
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      metrics.forget(worker);
      if (live.size === 0) whenNoneLeft.splice(0).forEach((resolve) => resolve());
      if (stopping || !supervising) return;
      const how = signal ?? `code ${code}`;
      const now = Date.now();
      while (restartTimes.length > 0 && now - restartTimes[0]! > RESTART_WINDOW_MS) restartTimes.shift();
      if (restartTimes.length >= MAX_RESTARTS) {
        say(`worker ${pid} exited (${how}); giving up after ${MAX_RESTARTS} restarts within ${RESTART_WINDOW_MS / 1000} s`);
        reportFailure(`server workers kept dying (${MAX_RESTARTS + 1} exits within ${RESTART_WINDOW_MS / 1000} s)`);
        return;
      }
      restartTimes.push(now);
      // The replacement shares the port and opens its own pool; it needs no
      // database to start, so it also comes back during a database outage
      // and answers 503 until the database does.
      const replacement = fork();
      say(`worker ${pid} exited (${how}); restarted as worker ${replacement.process.pid}`);
    });
    return worker;
  };

  for (let index = 0; index < options.workers; index++) fork();
  const initial = [...live];

  let stopCalled: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (stopCalled = resolve));
  const stop = async () => {
    stopping = true;
    stopCalled();
    for (const worker of live) {
      // A worker still starting may not listen for messages yet, and a STOP
      // it never hears would leave it serving: it gets SIGTERM instead (its
      // handler, or the default action before there is one, ends it).
      if (!ready.has(worker)) worker.process.kill('SIGTERM');
      // A worker may be exiting on its own (failed start, Ctrl-C reached it
      // first); a STOP that can no longer be delivered is not an error.
      else if (worker.isConnected()) worker.send({ cmd: 'STOP' } satisfies PrimaryMessage, undefined, undefined, () => {});
    }
    if (live.size > 0) await new Promise<void>((resolve) => whenNoneLeft.push(resolve));
  };

  let port: number;
  try {
    const ports = await Promise.all(initial.map(waitForReady));
    port = ports[0]!;
  } catch (error) {
    await stop();
    throw error;
  }
  supervising = true;
  const stopped = Promise.race([failure, stopRequested.then(() => undefined)]);
  return { ...described, url: baseUrl(options.host, port), stop, stopped };
}

function waitForReady(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      if (message.cmd === 'READY') {
        cleanup();
        resolve(message.port);
      } else if (message.cmd === 'FAILED') {
        cleanup();
        reject(message.code === 'FS_PORT_IN_USE' ? new PortInUseError(message.message) : new ConfigError(message.message));
      }
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new ConfigError(`a server worker exited with code ${code} before it was ready`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
  });
}

function baseUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The body of each cluster worker: serve until told to stop, then close cleanly. */
export async function runWorker(options: ServeOptions, send: (message: WorkerMessage) => void): Promise<() => Promise<void>> {
  applyBatchOptions(options);
  const adapter = await openAdapter(options, { check: false });
  // Best effort: a worker restarted during an outage starts cold and connects later.
  await adapter.warm?.().catch(() => {});
  const served = serverOptions(adapter, options);
  // A cluster worker's figures go to the primary, and its scrapes are answered
  // with the primary's totals; a separate process (prove's) counts alone.
  if (cluster.isWorker) served.metrics!.joinCluster();
  const server = createReferenceServer(served);
  try {
    send({ cmd: 'READY', port: await listen(server, options.port, options.host) });
  } catch (error) {
    await adapter.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= closeGracefully(server).then(() => adapter.close()));
}

/** What one server process is built from; each process gets its own admission gate. */
function serverOptions(adapter: Adapter, options: ServeOptions): ReferenceServerOptions {
  // As many slots as pooled connections. SQLite's single connection queues
  // its own users behind the gate.
  const slots = options.poolSize ?? 10;
  const admission = new AdmissionGate(slots, options.maxQueue ?? DEFAULT_MAX_QUEUE, options.lockTimeoutMs ?? 5000);
  const reservations = { ttlMs: options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS, rateLimitPerMinute: options.rateLimitPerMinute };
  const metrics = new ServerMetrics({ adapter, sku: options.sku, admission });
  return { adapter, strategy: options.strategy, defaultSku: options.sku, adminToken: options.adminToken, admission, reservations, metrics };
}

// Each process batches on its own, so each is told the bounds.
function applyBatchOptions(options: ServeOptions): void {
  configureBatching({
    ...(options.batchSize !== undefined && { maxSize: options.batchSize }),
    ...(options.batchWaitMs !== undefined && { maxWaitMs: options.batchWaitMs }),
  });
}
