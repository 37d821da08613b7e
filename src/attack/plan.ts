import { randomBytes, randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';
import type { FaultInjection } from './fault.js';
import { resolveFlow, type FlowOptions, type FlowPlan } from './flow.js';
import { compileTemplate } from './template.js';

/** The target when none is given: the reference server's purchase route. */
export const DEFAULT_TARGET = 'http://127.0.0.1:3000/buy';
/** Buyers when neither --buyers nor --duration says how many. */
export const DEFAULT_BUYERS = 1000;
/**
 * In-flight requests when --concurrency is not given: every buyer at once,
 * but no more than this many connections (a million buyers must not open a
 * million sockets).
 */
export const DEFAULT_MAX_CONCURRENCY = 1000;
/** Statuses that mean "not now, try again" unless --refused-status says otherwise. */
export const DEFAULT_REFUSED_STATUS: readonly number[] = [429, 503];

/** What the command line asks for; anything left out gets its documented default. */
export interface AttackOptions {
  /** Full URL of the purchase endpoint. */
  target: string;
  /** Buyers, one request each (default 1000, or rate × duration). */
  buyers?: number | undefined;
  /** Most requests in flight across all processes (closed model: exactly this many). */
  concurrency?: number | undefined;
  /** Child processes (default: CPU count). */
  processes?: number | undefined;
  /** Open model: arrivals per second across all processes. */
  rate?: number | undefined;
  /** Open model: how long arrivals keep coming, in ms (buyers = rate × duration). */
  durationMs?: number | undefined;
  /** Longest wait for an answer's headers, and between body chunks, in ms. */
  timeoutMs: number;
  /** Units each request asks for. */
  quantity: number;
  /** Body template; default is the reference server's JSON purchase. */
  body?: string | undefined;
  /** Extra headers as `Name: value` (templates allowed in the value). */
  headers: string[];
  method: string;
  okStatus: number[];
  soldOutStatus: number[];
  /** Regular expression source; an ok status counts as bought only when the body matches. */
  okBody?: string | undefined;
  /** Regular expression source; a matching body means sold out. */
  soldOutBody?: string | undefined;
  /** Statuses that mean "not now, try again" (default 429, 503; a 5xx needs Retry-After). */
  refusedStatus?: number[] | undefined;
  /** Regular expression source; a matching body (status below 500) means refused. */
  refusedBody?: string | undefined;
  /** Dotted path to the remaining stock in the JSON answer; empty for none. */
  remainingField: string;
  /** Dotted path to the purchase id in the JSON answer; empty for none. */
  purchaseIdField: string;
  /** Where the history goes. */
  historyPath: string;
  /** Seed of the open model's arrival schedule (default: random). */
  seed?: number | undefined;
  /** Faults to inject during the run, each recorded in the history. */
  faults?: FaultInjection[] | undefined;
  /** `--flow`: each buyer runs a multi-step flow instead of one purchase. */
  flow?: FlowOptions | undefined;
  /** `--shard i/n`: run only this slice of the buyers (1-based index); absent for the whole run. */
  shard?: ShardOf | undefined;
  /** `--run-id`: the run id every shard of one run shares (default: random, one machine). */
  runId?: string | undefined;
  /** `--start-at`: wall-clock instant (ms since the epoch) at which the barrier releases. */
  startAtMs?: number | undefined;
}

/** One slice of a run that several machines share: `--shard index/count`, 1-based. */
export interface ShardOf {
  index: number;
  count: number;
}

/** Run ids as `--run-id` accepts them: they prefix every request id and Idempotency-Key. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;
/** How far ahead --start-at may be: a barrier held longer is a mistake, not a plan. */
export const MAX_START_AHEAD_MS = 24 * 60 * 60 * 1000;

/** Status and body rules in a form that crosses the IPC channel (regexes as sources). */
export interface RuleSources {
  okStatus: number[];
  soldOutStatus: number[];
  okBody: string | null;
  soldOutBody: string | null;
  refusedStatus: number[];
  refusedBody: string | null;
  remainingField: string;
  purchaseIdField: string;
}

/** The whole run, every default filled in and every flag checked. */
export interface AttackPlan {
  target: string;
  /** `http://host:port` of the target. */
  origin: string;
  /** Path and query of the target. */
  path: string;
  method: string;
  /** Buyers this attack runs: the whole run's, or its shard's share. */
  buyers: number;
  /** Buyers of the whole run, all shards together (= buyers when not sharded). */
  runBuyers: number;
  /** This attack's slice of the run (1/1 when not sharded). */
  shard: ShardOf;
  /** Requests in flight at most, in this attack (its shard's share of --concurrency). */
  concurrency: number;
  processes: number;
  /** Arrivals per second (open model), all shards together, or null (closed model). */
  rate: number | null;
  timeoutMs: number;
  quantity: number;
  /** Body template, or null to send no body. */
  body: string | null;
  /** Header templates, lower-case names, Idempotency-Key included. */
  headers: [string, string][];
  rules: RuleSources;
  historyPath: string;
  seed: number;
  /** Prefix of every request id, random per run, so a rerun never replays an earlier run's ids. */
  runId: string;
  /** The flow each buyer runs (the rules then describe its reserve step), or null for one purchase each. */
  flow: FlowPlan | null;
  /** `--start-at`: wall-clock ms at which the barrier releases, or null to release once ready. */
  startAtMs: number | null;
}

/** One child's share of the plan. */
export interface ChildPlan {
  /**
   * 0-based; the `process` field of its op lines. In a sharded run, child c
   * of shard k (0-based) of n is k + c × n: unique across the shards.
   */
  index: number;
  /**
   * Its buyers are the global indices index, index + processes, index + 2 × processes, …
   * (a stride: shards × the shard's processes in a sharded run).
   */
  processes: number;
  /** Buyers of the whole run: the bound of the global indices. */
  buyers: number;
  /** Connections it opens, and most requests it has in flight. */
  connections: number;
  origin: string;
  path: string;
  method: string;
  body: string | null;
  headers: [string, string][];
  rules: RuleSources;
  rate: number | null;
  seed: number;
  runId: string;
  timeoutMs: number;
  quantity: number;
  flow: FlowPlan | null;
}

/** Checks the options and fills in the defaults; every mistake is a one-line ConfigError. */
export function resolvePlan(options: AttackOptions): AttackPlan {
  const url = parseTarget(options.target);
  const method = options.method.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new ConfigError(`--method: ${JSON.stringify(options.method)} is not an HTTP method`);

  const rate = options.rate ?? null;
  const flow = options.flow ? resolveFlow(options.flow, { target: url, method, rate, body: options.body }) : null;
  if (options.durationMs !== undefined) {
    if (rate === null) throw new ConfigError('--duration needs --rate: it sets how long arrivals keep coming in the open model');
    if (options.buyers !== undefined) throw new ConfigError('give --buyers or --duration, not both: with --rate, --duration sets buyers = rate × duration');
  }
  const runBuyers = options.durationMs !== undefined ? Math.max(1, Math.round((rate! * options.durationMs) / 1000)) : (options.buyers ?? DEFAULT_BUYERS);
  if (runBuyers < 1) throw new ConfigError('--buyers must be at least 1');
  const shard = options.shard ?? { index: 1, count: 1 };
  checkShard(shard, runBuyers);
  const sharded = shard.count > 1;
  if (sharded && options.runId === undefined) {
    throw new ConfigError(`--shard ${shard.index}/${shard.count} needs --run-id: every shard of one run must share it (e.g. the CI run id), so their request ids never collide`);
  }
  if (options.runId !== undefined && !RUN_ID_PATTERN.test(options.runId)) {
    throw new ConfigError(`--run-id: expected 1 to 40 letters, digits, - or _, got ${JSON.stringify(options.runId)}`);
  }
  const buyers = shareOf(runBuyers, shard);

  // --concurrency is the whole run's, as --buyers and --rate are: each shard takes its share.
  const runConcurrency = Math.min(options.concurrency ?? Math.min(runBuyers, DEFAULT_MAX_CONCURRENCY), runBuyers);
  if (runConcurrency < 1) throw new ConfigError('--concurrency must be at least 1');
  const concurrency = Math.min(buyers, Math.max(1, shareOf(runConcurrency, shard)));
  // Every child needs at least one connection and one buyer.
  const processes = Math.min(options.processes ?? availableParallelism(), concurrency);

  const bodyless = method === 'GET' || method === 'HEAD';
  if (bodyless && options.body !== undefined) throw new ConfigError(`--body cannot be sent with ${method}`);
  const body = bodyless ? null : (options.body ?? `{"buyer_id":"{{buyer}}","quantity":{{quantity}}}`);
  compileTemplate(body ?? '', '--body');

  const headers = parseHeaders(options.headers);
  if (body !== null && !headers.some(([name]) => name === 'content-type')) headers.push(['content-type', 'application/json']);
  if (!headers.some(([name]) => name === 'idempotency-key')) headers.push(['idempotency-key', '{{request_id}}']);

  const rules: RuleSources = {
    okStatus: options.okStatus,
    soldOutStatus: options.soldOutStatus,
    okBody: checkRegex(options.okBody, '--ok-body'),
    soldOutBody: checkRegex(options.soldOutBody, '--sold-out-body'),
    // The defaults give way to a status the user put in another list on purpose.
    refusedStatus: options.refusedStatus ?? DEFAULT_REFUSED_STATUS.filter((status) => !options.okStatus.includes(status) && !options.soldOutStatus.includes(status)),
    refusedBody: checkRegex(options.refusedBody, '--refused-body'),
    remainingField: options.remainingField.trim(),
    purchaseIdField: options.purchaseIdField.trim(),
  };
  const overlap = rules.okStatus.filter((status) => rules.soldOutStatus.includes(status));
  if (overlap.length > 0) {
    throw new ConfigError(`status ${overlap.join(', ')} is in both --ok-status and --sold-out-status; tell them apart with --ok-body / --sold-out-body instead`);
  }
  for (const [flag, statuses] of [['--ok-status', rules.okStatus], ['--sold-out-status', rules.soldOutStatus]] as const) {
    const both = statuses.filter((status) => rules.refusedStatus.includes(status));
    if (both.length > 0) {
      throw new ConfigError(`status ${both.join(', ')} is in both ${flag} and --refused-status; tell them apart with --refused-body instead`);
    }
  }
  const faults = options.faults ?? [];
  for (const fault of faults) {
    if (!(fault.at > 0 && fault.at < 1)) throw new ConfigError(`fault ${fault.name} (${fault.detail}): its share of buyers must be between 0% and 100%, got ${fault.at * 100}%`);
  }

  if (options.startAtMs !== undefined) {
    const ahead = options.startAtMs - Date.now();
    if (ahead < 0) throw new ConfigError(`--start-at ${new Date(options.startAtMs).toISOString()} is ${Math.ceil(-ahead / 1000)} s in the past on this machine's clock`);
    if (ahead > MAX_START_AHEAD_MS) throw new ConfigError(`--start-at ${new Date(options.startAtMs).toISOString()} is more than ${MAX_START_AHEAD_MS / 3_600_000} h ahead`);
  }
  const runId = options.runId ?? randomBytes(6).toString('hex');
  return {
    target: url.href,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method,
    buyers,
    runBuyers,
    shard,
    concurrency,
    processes,
    rate,
    timeoutMs: options.timeoutMs,
    quantity: options.quantity,
    body,
    headers,
    rules,
    historyPath: options.historyPath,
    // Shards must draw one arrival schedule and one set of flow choices: a
    // seed nobody gave comes from the run id they share.
    seed: options.seed ?? (sharded ? seedOfRunId(runId) : randomInt(0, 2 ** 31)),
    runId,
    flow,
    startAtMs: options.startAtMs ?? null,
  };
}

/** A one-line ConfigError unless 1 ≤ index ≤ count and every shard gets at least one buyer. */
export function checkShard(shard: ShardOf, runBuyers: number): void {
  const { index, count } = shard;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count) {
    throw new ConfigError(`--shard: expected i/n with 1 <= i <= n, got ${index}/${count}`);
  }
  if (count > runBuyers) throw new ConfigError(`--shard ${index}/${count}: ${count} shards for ${runBuyers} buyers leaves some shard none`);
}

/**
 * How many of `total` things (buyers, connections) shard index/count gets:
 * the shards take the global indices k, k + n, k + 2n, … (k = index − 1),
 * so the first total mod n shards get one more.
 */
export function shareOf(total: number, shard: ShardOf): number {
  const k = shard.index - 1;
  return k < total ? Math.ceil((total - k) / shard.count) : 0;
}

/** The global buyer indices of one shard, in order (for tests and for verify's missing-shard unknowns). */
export function* shardIndices(runBuyers: number, shard: ShardOf): Generator<number> {
  for (let i = shard.index - 1; i < runBuyers; i += shard.count) yield i;
}

/** A seed in [0, 2^31) that every shard derives alike from the run id (FNV-1a). */
export function seedOfRunId(runId: string): number {
  let hash = 0x811c9dc5;
  for (let k = 0; k < runId.length; k++) hash = Math.imul(hash ^ runId.charCodeAt(k), 0x01000193);
  return (hash >>> 0) % 2 ** 31;
}

/**
 * Splits the plan over its child processes: connections as evenly as they
 * go, buyers interleaved. A shard's children interleave within the shard's
 * own indices (k + n·c, stride n·P), so shards with different process
 * counts still cover the run exactly once, and an open model's children
 * on all shards together draw the one schedule the seed names.
 */
export function childPlans(plan: AttackPlan): ChildPlan[] {
  const { index: shardIndex, count } = plan.shard;
  return Array.from({ length: plan.processes }, (_, index) => ({
    index: shardIndex - 1 + index * count,
    processes: plan.processes * count,
    buyers: plan.runBuyers,
    connections: Math.floor(plan.concurrency / plan.processes) + (index < plan.concurrency % plan.processes ? 1 : 0),
    origin: plan.origin,
    path: plan.path,
    method: plan.method,
    body: plan.body,
    headers: plan.headers,
    rules: plan.rules,
    rate: plan.rate,
    seed: plan.seed,
    runId: plan.runId,
    timeoutMs: plan.timeoutMs,
    quantity: plan.quantity,
    flow: plan.flow,
  }));
}

/** How many of the run's buyers a child gets. */
export function buyersOf(child: Pick<ChildPlan, 'index' | 'processes' | 'buyers'>): number {
  return child.index < child.buyers ? Math.ceil((child.buyers - child.index) / child.processes) : 0;
}

/** The buyer id of the i-th buyer. */
export function buyerId(i: number): string {
  return `b-${i}`;
}

/** The request id (and Idempotency-Key) of the i-th buyer's request. */
export function requestId(runId: string, i: number): string {
  return `${runId}-${i}`;
}

function parseTarget(target: string): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ConfigError(`--target: ${JSON.stringify(target)} is not a URL (e.g. ${DEFAULT_TARGET})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--target: ${url.protocol} is not supported; use an http:// or https:// URL`);
  }
  if (url.username || url.password) throw new ConfigError('--target: put credentials in a --header (e.g. Authorization: Bearer …), not in the URL');
  return url;
}

function parseHeaders(headers: string[]): [string, string][] {
  return headers.map((header) => {
    const colon = header.indexOf(':');
    const name = header.slice(0, colon).trim().toLowerCase();
    if (colon < 1 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      throw new ConfigError(`--header: expected Name:value, got ${JSON.stringify(header)}`);
    }
    const value = header.slice(colon + 1).trim();
    compileTemplate(value, `--header ${name}`);
    return [name, value];
  });
}

function checkRegex(source: string | undefined, flag: string): string | null {
  if (source === undefined) return null;
  try {
    new RegExp(source);
  } catch (error) {
    throw new ConfigError(`${flag}: not a regular expression: ${(error as Error).message}`);
  }
  return source;
}
