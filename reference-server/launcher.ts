import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { AdapterOptions, Inventory } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import type { StrategyName } from '../adapters/strategies/index.js';
import { configureBatching } from '../adapters/strategies/batch.js';
import { prepareStore } from '../adapters/store.js';
import { ConfigError, PortInUseError } from '../src/errors.js';
import { closeGracefully, listen } from './lifecycle.js';
import { createReferenceServer } from './server.js';
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
  /** `batch` strategy: most purchases per transaction. */
  batchSize?: number;
  /** `batch` strategy: how long a lone buyer waits for company, in ms. */
  batchWaitMs?: number;
}

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
  /** Resolves when the server has stopped, whoever stopped it. */
  stopped: Promise<void>;
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
  const described = { databaseLabel: adapter.label, databaseVersion, inventory: prepared.inventory, seeded: prepared.created };

  if (options.workers <= 1 && !options.separateProcess) {
    const server = createReferenceServer({ adapter, strategy: options.strategy, defaultSku: options.sku, adminToken: options.adminToken });
    let port: number;
    try {
      port = await listen(server, options.port, options.host);
    } catch (error) {
      await adapter.close();
      throw error;
    }
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= closeGracefully(server).then(() => adapter.close()));
    const stopped = new Promise<void>((resolve) => server.once('close', resolve)).then(() => stop());
    return { ...described, url: baseUrl(options.host, port), stop, stopped };
  }

  // Workers open their own pools; this process only supervises.
  await adapter.close();
  return startWorkers(options, described);
}

async function startWorkers(
  options: ServeOptions,
  described: Omit<RunningServer, 'url' | 'stop' | 'stopped'>,
): Promise<RunningServer> {
  if (!cluster.isPrimary) throw new ConfigError('--workers needs to be started from a primary process');
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });

  const workers: Worker[] = [];
  const exited: Promise<void>[] = [];
  let stopping = false;
  for (let index = 0; index < options.workers; index++) {
    const worker = cluster.fork({ FLASHSALE_WORKER_OPTIONS: JSON.stringify(options) });
    workers.push(worker);
    worker.on('error', () => {});
    exited.push(new Promise((resolve) => worker.once('exit', () => resolve())));
    worker.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`flashsale serve: worker ${worker.process.pid} exited (${signal ?? `code ${code}`})\n`);
    });
  }
  const allExited = Promise.all(exited).then(() => undefined);
  const stop = async () => {
    stopping = true;
    for (const worker of workers) {
      // A worker may be exiting on its own (failed start, Ctrl-C reached it
      // first); a STOP that can no longer be delivered is not an error.
      if (worker.isConnected()) worker.send({ cmd: 'STOP' } satisfies PrimaryMessage, undefined, undefined, () => {});
    }
    await allExited;
  };

  let port: number;
  try {
    const ports = await Promise.all(workers.map(waitForReady));
    port = ports[0]!;
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...described, url: baseUrl(options.host, port), stop, stopped: allExited };
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
  const adapter = await openAdapter(options);
  const server = createReferenceServer({ adapter, strategy: options.strategy, defaultSku: options.sku, adminToken: options.adminToken });
  try {
    send({ cmd: 'READY', port: await listen(server, options.port, options.host) });
  } catch (error) {
    await adapter.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= closeGracefully(server).then(() => adapter.close()));
}

// Each process batches on its own, so each is told the bounds.
function applyBatchOptions(options: ServeOptions): void {
  configureBatching({
    ...(options.batchSize !== undefined && { maxSize: options.batchSize }),
    ...(options.batchWaitMs !== undefined && { maxWaitMs: options.batchWaitMs }),
  });
}
