// npm run bench:throughput — successful purchases per second on one hot item,
// per database and safe strategy, through the reference server over HTTP and
// directly from Node with no HTTP ("the limit"), at the same concurrency.
// A benchmark, not a test: it prints figures and fails on nothing but a crash.
//
// Fair by construction:
// - the server runs in its own process (as `flashsale serve` does) and the
//   load comes from flashsale's own attack, one buyer process by default, so
//   on a 2-core machine the server keeps one core to itself;
// - the limit calls the very `purchase()` the server calls, with the same
//   pool size and the same number of callers in flight, in one Node process;
// - both see a warm-up first, and each measurement sells a fresh item
//   (`bench-<db>-<strategy>-<c>-<path>`) whose stock is reset just before.
//
// Knobs: BENCH_STOCK (20000), BENCH_CONCURRENCY (64,256), BENCH_STRATEGIES
// (lock,atomic,optimistic,batch), BENCH_POOL (10), BENCH_ATTACK_PROCESSES (1),
// BENCH_RUN_SECONDS (60: longest one measurement runs before it stops and
// reports the rate so far), BENCH_WARMUP (2000), BENCH_BATCH_SIZE and
// BENCH_BATCH_WAIT_MS (the batch strategy's bounds; default serve's).
// Databases: SQLite always (a temporary file); PostgreSQL and MySQL when
// FLASHSALE_PG_URL and FLASHSALE_MYSQL_URL are set.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { purchase, type StrategyName } from '../adapters/strategies/index.js';
import { prepareStore, readInventory, resetStock } from '../adapters/store.js';
import { configureBatching, DEFAULT_BATCH_OPTIONS } from '../adapters/strategies/batch.js';
import { startServer, type RunningServer } from '../reference-server/launcher.js';
import { startAttack } from '../src/attack/coordinator.js';
import type { AttackOptions } from '../src/attack/plan.js';
import { loadAverage1m } from './machine.js';

export type SafeStrategy = Exclude<StrategyName, 'unsafe'>;
export const SAFE_STRATEGIES: readonly SafeStrategy[] = ['lock', 'atomic', 'optimistic', 'batch'];

/** One database the benchmark sells on. */
export interface DatabaseTarget {
  /** `sqlite`, `postgres` or `mysql`: the table's first column and the skus' middle part. */
  name: 'sqlite' | 'postgres' | 'mysql';
  url: string;
}

export interface ThroughputOptions {
  /** Units per measurement; as many buyers as units, so every buyer should buy. */
  stock: number;
  concurrencies: number[];
  strategies: SafeStrategy[];
  /** Connections per pool (server and limit alike); ignored by SQLite. */
  poolSize: number;
  /** Buyer processes of the HTTP load. */
  attackProcesses: number;
  /** Buyers in each warm-up (HTTP and direct). */
  warmup: number;
  /** Longest one measurement may run; then it stops and reports what it has. */
  runDeadlineMs: number;
  /** The batch strategy's bounds, for the server and the limit alike; undefined: serve's defaults. */
  batchSize?: number;
  batchWaitMs?: number;
  /** Where attack histories go. */
  scratchDir: string;
  /** Progress lines (stderr). */
  log(line: string): void;
}

/** One measurement: HTTP through the server, or the limit. */
export interface RunFigures {
  /** Successful purchases per second, over the whole run. */
  purchases_per_second: number;
  bought: number;
  sold_out: number;
  /** Anything else: 5xx, timeouts, lock timeouts, retries exhausted. */
  errors: number;
  /** The most frequent causes of `errors`. */
  error_causes: { cause: string; count: number }[];
  duration_s: number;
  latency_ms: { p50: number; p99: number } | null;
  /** True when the run hit its deadline and stopped early. */
  partial: boolean;
  /** What the database says afterwards. */
  check: SoldCheck;
}

/** Whether exactly `stock` units were sold, read back from the database. */
export interface SoldCheck {
  sku: string;
  expected_sold: number;
  sold_in_db: number;
  stock_left: number;
  ok: boolean;
}

export interface ThroughputRow {
  /** The machine's 1-minute load average after the pair of runs: other work on a shared machine skews them. */
  load_average_1m: number;
  database: DatabaseTarget['name'];
  strategy: SafeStrategy;
  concurrency: number;
  http: RunFigures;
  limit: RunFigures;
  /** HTTP purchases per second divided by the limit's. */
  ratio: number;
}

/** SQLite on a temporary file, plus the databases whose URLs the environment sets. */
export function databaseTargets(scratchDir: string, env: NodeJS.ProcessEnv = process.env): DatabaseTarget[] {
  const targets: DatabaseTarget[] = [{ name: 'sqlite', url: `sqlite:${join(scratchDir, 'bench.db')}` }];
  if (env.FLASHSALE_PG_URL) targets.push({ name: 'postgres', url: env.FLASHSALE_PG_URL });
  if (env.FLASHSALE_MYSQL_URL) targets.push({ name: 'mysql', url: env.FLASHSALE_MYSQL_URL });
  return targets;
}

/** Options from the environment, with the issue's defaults. */
export function throughputOptionsFromEnv(scratchDir: string, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): ThroughputOptions {
  const list = (value: string | undefined) => value?.split(',').map((part) => part.trim()).filter(Boolean);
  const strategies = (list(env.BENCH_STRATEGIES) ?? [...SAFE_STRATEGIES]).filter((name): name is SafeStrategy =>
    (SAFE_STRATEGIES as readonly string[]).includes(name),
  );
  return {
    stock: positive(env.BENCH_STOCK, 20_000),
    concurrencies: (list(env.BENCH_CONCURRENCY) ?? ['64', '256']).map((value) => positive(value, 64)),
    strategies,
    poolSize: positive(env.BENCH_POOL, 10),
    attackProcesses: positive(env.BENCH_ATTACK_PROCESSES, 1),
    warmup: positive(env.BENCH_WARMUP, 2000),
    // Optimistic on a hot row can fall to tens of purchases per second; a
    // minute is plenty to measure a steady rate and keeps the whole bench bounded.
    runDeadlineMs: positive(env.BENCH_RUN_SECONDS, 60) * 1000,
    ...(env.BENCH_BATCH_SIZE && { batchSize: positive(env.BENCH_BATCH_SIZE, DEFAULT_BATCH_OPTIONS.maxSize) }),
    ...(env.BENCH_BATCH_WAIT_MS && { batchWaitMs: Number(env.BENCH_BATCH_WAIT_MS) }),
    scratchDir,
    log,
  };
}

function positive(value: string | undefined, fallback: number): number {
  const number = Number(value);
  return Number.isInteger(number) && number > 0 ? number : fallback;
}

/**
 * Every strategy and concurrency on one database, one measurement at a time.
 * Also returns the database's version, read through the same adapter.
 */
export async function benchDatabase(target: DatabaseTarget, options: ThroughputOptions): Promise<{ version: string; rows: ThroughputRow[] }> {
  const adapter = await openAdapter({ url: target.url, poolSize: options.poolSize });
  // The limit's batches (this process) get the server's bounds.
  configureBatching({
    ...(options.batchSize !== undefined && { maxSize: options.batchSize }),
    ...(options.batchWaitMs !== undefined && { maxWaitMs: options.batchWaitMs }),
  });
  const rows: ThroughputRow[] = [];
  let version: string;
  try {
    version = await adapter.serverVersion();
    options.log(`throughput: ${target.name} (${version}), pool ${options.poolSize}`);
    for (const strategy of options.strategies) {
      const base = `bench-${target.name}-${strategy}`;
      const warmSku = `${base}-warmup`;
      await prepare(adapter, warmSku, options.warmup);
      const server = await startServer({
        url: target.url,
        poolSize: options.poolSize,
        host: '127.0.0.1',
        port: 0,
        sku: warmSku,
        itemName: 'flashsale bench',
        stock: options.warmup,
        workers: 1,
        separateProcess: true,
        strategy,
        batchSize: options.batchSize,
        batchWaitMs: options.batchWaitMs,
      });
      try {
        // JIT, prepared statements and pools warm on both paths before anything counts.
        const warm = { ...options, runDeadlineMs: Math.min(options.runDeadlineMs, 10_000) };
        await runHttp(server, adapter, warmSku, options.warmup, options.concurrencies[0] ?? 64, warm);
        await prepare(adapter, warmSku, options.warmup);
        await runDirect(adapter, strategy, warmSku, options.warmup, options.concurrencies[0] ?? 64, warm);
        for (const concurrency of options.concurrencies) {
          const directSku = `${base}-${concurrency}-direct`;
          await prepare(adapter, directSku, options.stock);
          const limit = await runDirect(adapter, strategy, directSku, options.stock, concurrency, options);
          options.log(`  ${target.name} ${strategy} c=${concurrency} limit: ${describe(limit)}`);

          const httpSku = `${base}-${concurrency}-http`;
          await prepare(adapter, httpSku, options.stock);
          const http = await runHttp(server, adapter, httpSku, options.stock, concurrency, options);
          options.log(`  ${target.name} ${strategy} c=${concurrency} http:  ${describe(http)}`);

          rows.push({
            load_average_1m: loadAverage1m(),
            database: target.name,
            strategy,
            concurrency,
            http,
            limit,
            ratio: limit.purchases_per_second > 0 ? http.purchases_per_second / limit.purchases_per_second : 0,
          });
          // Measured items keep nothing: 20,000 ledger rows per run would pile up in a shared test database.
          await resetStock(adapter, directSku, 0);
          await resetStock(adapter, httpSku, 0);
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await adapter.close();
  }
  return { version, rows };
}

async function prepare(adapter: Adapter, sku: string, stock: number): Promise<void> {
  await prepareStore(adapter, { sku, itemName: 'flashsale bench', stock });
  await resetStock(adapter, sku, stock);
}

async function checkSold(adapter: Adapter, sku: string, expected: number): Promise<SoldCheck> {
  const inventory = await readInventory(adapter, sku);
  return {
    sku,
    expected_sold: expected,
    sold_in_db: inventory.total_purchases,
    stock_left: inventory.current_stock,
    ok: inventory.total_purchases === expected && inventory.current_stock === 0,
  };
}

/**
 * The limit: `concurrency` callers in one process, each taking the next buyer
 * until `buyers` have been served or the deadline passes.
 */
async function runDirect(
  adapter: Adapter,
  strategy: SafeStrategy,
  sku: string,
  buyers: number,
  concurrency: number,
  options: ThroughputOptions,
): Promise<RunFigures> {
  const runId = randomUUID().slice(0, 8);
  const latencies = new Float64Array(buyers);
  const causes = new Map<string, number>();
  let next = 0;
  let done = 0;
  let bought = 0;
  let soldOut = 0;
  let errors = 0;
  let partial = false;
  const started = performance.now();
  const deadline = started + options.runDeadlineMs;
  const caller = async () => {
    for (;;) {
      const i = next++;
      if (i >= buyers) return;
      if (performance.now() > deadline) {
        partial = true;
        return;
      }
      const sent = performance.now();
      try {
        const outcome = await purchase(adapter, strategy, { sku, buyerId: `b-${i}`, quantity: 1, requestId: `${runId}-${i}` });
        if (outcome.kind === 'bought') bought++;
        else soldOut++;
      } catch (error) {
        errors++;
        const cause = (error as { code?: string }).code ?? (error as Error).name ?? 'error';
        causes.set(cause, (causes.get(cause) ?? 0) + 1);
      }
      latencies[done++] = performance.now() - sent;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const durationS = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, done).sort();
  const at = (q: number) => round3(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);
  return {
    purchases_per_second: bought / durationS,
    bought,
    sold_out: soldOut,
    errors,
    error_causes: [...causes].map(([cause, count]) => ({ cause, count })).sort((a, b) => b.count - a.count),
    duration_s: durationS,
    latency_ms: done > 0 ? { p50: at(0.5), p99: at(0.99) } : null,
    partial,
    check: await checkSold(adapter, sku, buyers),
  };
}

/**
 * The load of every HTTP measurement, the node:http floor's included: the
 * closed model, `concurrency` buyers in flight, each buying one unit of `sku`
 * with `POST /buy`, answers read as the reference server gives them.
 */
export function purchaseLoad(origin: string, sku: string, buyers: number, concurrency: number, processes: number, historyPath: string): AttackOptions {
  return {
    target: `${origin}/buy`,
    buyers,
    concurrency,
    processes,
    timeoutMs: 10_000,
    quantity: 1,
    body: `{"buyer_id":"{{buyer}}","sku":${JSON.stringify(sku)},"quantity":{{quantity}}}`,
    headers: [],
    method: 'POST',
    okStatus: [200],
    soldOutStatus: [410],
    remainingField: 'remaining_stock',
    purchaseIdField: 'purchase_id',
    historyPath,
  };
}

/** Through the server: flashsale's own attack, one buyer per unit, `concurrency` in flight. */
async function runHttp(
  server: RunningServer,
  adapter: Adapter,
  sku: string,
  buyers: number,
  concurrency: number,
  options: ThroughputOptions,
): Promise<RunFigures> {
  const history = join(options.scratchDir, `${sku}-${randomUUID().slice(0, 8)}.jsonl`);
  const attack = startAttack(purchaseLoad(server.url, sku, buyers, concurrency, options.attackProcesses, history));
  // A stop lets in-flight requests answer; a second one, later, kills the buyers.
  let partial = false;
  const soft = setTimeout(() => {
    partial = true;
    attack.stop();
  }, options.runDeadlineMs);
  const hard = setTimeout(() => attack.stop(), options.runDeadlineMs + 15_000);
  try {
    const summary = await attack.done;
    const bought = summary.outcomes.bought;
    const errors = summary.completed - bought - summary.outcomes.sold_out;
    // Requests cut at the deadline or by the client's timeout may still be
    // queued in the server; the next measurement must not share the machine with them.
    if (errors > 0 || summary.interrupted) await settle(adapter, sku);
    return {
      purchases_per_second: summary.duration_s > 0 ? bought / summary.duration_s : 0,
      bought,
      sold_out: summary.outcomes.sold_out,
      errors,
      error_causes: summary.errors,
      duration_s: summary.duration_s,
      latency_ms: summary.latency_ms && { p50: summary.latency_ms.p50, p99: summary.latency_ms.p99 },
      partial: partial || summary.interrupted,
      check: await checkSold(adapter, sku, buyers),
    };
  } finally {
    clearTimeout(soft);
    clearTimeout(hard);
    await rm(history, { force: true });
  }
}

/** Waits (at most 30 s) until the item's ledger stops growing. */
async function settle(adapter: Adapter, sku: string): Promise<void> {
  let last = -1;
  for (const stopAt = Date.now() + 30_000; Date.now() < stopAt; ) {
    const sold = (await readInventory(adapter, sku)).total_purchases;
    if (sold === last) return;
    last = sold;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function describe(run: RunFigures): string {
  const latency = run.latency_ms ? `, p50 ${run.latency_ms.p50} ms, p99 ${run.latency_ms.p99} ms` : '';
  const problems = [
    run.errors > 0 ? `${run.errors} errors (${run.error_causes.map((c) => `${c.cause} ×${c.count}`).join(', ')})` : '',
    run.partial ? 'stopped at the deadline' : '',
    run.check.ok ? '' : `sold ${run.check.sold_in_db} of ${run.check.expected_sold}, ${run.check.stock_left} left`,
  ].filter(Boolean);
  return `${Math.round(run.purchases_per_second)} purchases/s in ${run.duration_s.toFixed(2)} s${latency}${problems.length ? `; ${problems.join('; ')}` : ''}`;
}

/** Integer with thousands separators. */
export function fmtRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** What the check column says: `20,000 ✓` when both runs sold exactly the stock, else what each sold. */
export function describeCheck(row: ThroughputRow): string {
  const { http, limit } = row;
  if (http.check.ok && limit.check.ok && http.errors === 0 && limit.errors === 0 && !http.partial && !limit.partial) {
    return `${fmtRate(http.check.expected_sold)} ✓`;
  }
  const notes = [`http ${fmtRate(http.check.sold_in_db)} / limit ${fmtRate(limit.check.sold_in_db)}`];
  if (http.errors || limit.errors) notes.push(`errors ${http.errors} / ${limit.errors}`);
  if (http.partial || limit.partial) notes.push(`stopped at ${Math.round(Math.max(http.duration_s, limit.duration_s))} s`);
  return notes.join('; ');
}

/** Milliseconds to three significant digits: enough to compare, short enough to read. */
function fmtMs(value: number): string {
  return value >= 100 ? String(Math.round(value)) : value.toPrecision(3);
}

/** The throughput rows as table cells, one line per database, strategy and concurrency. */
export function throughputCells(rows: ThroughputRow[]): string[][] {
  const ms = (run: RunFigures, key: 'p50' | 'p99') => (run.latency_ms ? fmtMs(run.latency_ms[key]) : '-');
  return rows.map((row) => [
    row.database,
    row.strategy,
    String(row.concurrency),
    fmtRate(row.http.purchases_per_second),
    ms(row.http, 'p50'),
    ms(row.http, 'p99'),
    fmtRate(row.limit.purchases_per_second),
    ms(row.limit, 'p50'),
    ms(row.limit, 'p99'),
    row.ratio.toFixed(2),
    describeCheck(row),
    row.load_average_1m.toFixed(1),
  ]);
}

export const THROUGHPUT_HEAD = [
  'database',
  'strategy',
  'in flight',
  'HTTP buys/s',
  'p50 ms',
  'p99 ms',
  'limit buys/s',
  'p50 ms',
  'p99 ms',
  'server/limit',
  'sold, of stock',
  'load 1m',
];

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const scratch = await mkdtemp(join(tmpdir(), 'flashsale-bench-throughput-'));
  try {
    const options = throughputOptionsFromEnv(scratch, log);
    const rows: ThroughputRow[] = [];
    const versions: Record<string, string> = {};
    for (const target of databaseTargets(scratch)) {
      const result = await benchDatabase(target, options);
      versions[target.name] = result.version;
      rows.push(...result.rows);
    }
    const table = new Table({ head: THROUGHPUT_HEAD, style: { head: [], border: [] } });
    table.push(...throughputCells(rows));
    console.log(table.toString());
    console.log(JSON.stringify({ bench: 'throughput', stock: options.stock, pool_size: options.poolSize, attack_processes: options.attackProcesses, databases: versions, rows }));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
