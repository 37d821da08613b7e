import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAdapter } from '../../adapters/open.js';
import type { StrategyName } from '../../adapters/strategies/index.js';
import { prepareStore, resetStock } from '../../adapters/store.js';
import { parseDatabaseUrl } from '../../adapters/url.js';
import { startServer, type RunningServer } from '../../reference-server/launcher.js';
import { runAttack } from '../attack/coordinator.js';
import { ConfigError } from '../errors.js';
import type { Verdict } from '../verify/verdict.js';
import { verify } from '../verify/verify.js';
import { scenarios, type Scenario } from './scenarios.js';

/**
 * Items prove sells, one per scenario (`flashsale-prove-1`…): names of their
 * own so prove never touches a real item, and each scenario's final state
 * stays in the database for verify to be rerun by hand.
 */
export const PROVE_SKU_PREFIX = 'flashsale-prove-';

export interface ProveOptions {
  /** Database URLs to prove on. */
  databases: string[];
  /** Also prove on a temporary SQLite file (first), as `prove` does by default. */
  includeTemporarySqlite: boolean;
  strategy: StrategyName;
  stock: number;
  buyers: number;
  /** Attacking processes (default: CPU count). */
  processes?: number | undefined;
  /** Server processes in the multi-process scenario. */
  workers: number;
  /** Per-request timeout of the attack, ms. */
  timeoutMs: number;
}

/** One scenario on one database: what was sold and what verify said. */
export interface ScenarioResult {
  /** How the table names the database. */
  database: string;
  /** The database URL (password masked), for rerunning verify by hand. */
  databaseUrl: string;
  /** The item this scenario sold. */
  sku: string;
  scenario: string;
  buyers: number;
  sold: number;
  soldOut: number;
  /** Unknown outcomes (timeouts, 5xx, resets). */
  errors: number;
  /** Attack plus verify, seconds. */
  durationS: number;
  attackS: number;
  verifyS: number;
  status: 'PASS' | 'FAIL';
  /** The failed checks by id and name, or the unmet expectation. */
  anomalies: string[];
  history: string;
  verdict: Verdict;
}

export interface ProveReport {
  status: 'PASS' | 'FAIL';
  strategy: StrategyName;
  results: ScenarioResult[];
  /** Where the histories are (kept when something failed). */
  workDir: string;
}

export interface ProveHooks {
  onResult?(result: ScenarioResult): void;
}

/**
 * For each database: start the reference server (loopback, free port), and
 * for each scenario reset the item, attack it, verify the run. Servers run
 * in their own processes so the attack's clock and event loop are not shared.
 */
export async function prove(options: ProveOptions, hooks: ProveHooks = {}): Promise<ProveReport> {
  for (const url of options.databases) parseDatabaseUrl(url);
  if (options.stock < 1) throw new ConfigError('--stock must be at least 1 to prove anything');
  const workDir = await mkdtemp(join(tmpdir(), 'flashsale-prove-'));
  // The temporary file is named for what it is; every other database by its (masked) URL.
  const targets: Array<{ url: string; name?: string }> = [
    ...(options.includeTemporarySqlite ? [{ url: `sqlite:${join(workDir, 'flashsale.db')}`, name: 'sqlite (temporary file)' }] : []),
    ...options.databases.map((url) => ({ url })),
  ];
  if (targets.length === 0) throw new ConfigError('no database to prove on');
  const results: ScenarioResult[] = [];
  for (const target of targets) {
    for (const [index, scenario] of scenarios(options).entries()) {
      const history = join(workDir, `${parseDatabaseUrl(target.url).dialect}-${index + 1}.jsonl`);
      const result = await runScenario(target, `${PROVE_SKU_PREFIX}${index + 1}`, scenario, history, options);
      results.push(result);
      hooks.onResult?.(result);
    }
  }
  const status = results.every((result) => result.status === 'PASS') ? 'PASS' : 'FAIL';
  if (status === 'PASS') await rm(workDir, { recursive: true, force: true });
  return { status, strategy: options.strategy, results, workDir };
}

async function runScenario(
  { url, name }: { url: string; name?: string },
  sku: string,
  scenario: Scenario,
  history: string,
  options: ProveOptions,
): Promise<ScenarioResult> {
  const adapter = await openAdapter({ url });
  const label = name ?? adapter.label;
  try {
    await prepareStore(adapter, { sku, itemName: 'flashsale prove', stock: options.stock });
    await resetStock(adapter, sku, options.stock);
  } finally {
    await adapter.close();
  }
  const server = await startServer({
    url,
    host: '127.0.0.1',
    port: 0,
    sku,
    itemName: 'flashsale prove',
    stock: options.stock,
    workers: scenario.workers,
    separateProcess: true,
    strategy: options.strategy,
  });
  try {
    return await attackAndVerify({ database: label, databaseUrl: server.databaseLabel, sku }, url, scenario, history, server, options);
  } finally {
    await server.stop();
  }
}

async function attackAndVerify(names: Pick<ScenarioResult, 'database' | 'databaseUrl' | 'sku'>, url: string, scenario: Scenario, history: string, server: RunningServer, options: ProveOptions): Promise<ScenarioResult> {
  const attackStarted = performance.now();
  const summary = await runAttack({
    target: `${server.url}/buy`,
    buyers: scenario.buyers,
    processes: options.processes,
    timeoutMs: options.timeoutMs,
    quantity: 1,
    headers: [],
    method: 'POST',
    okStatus: [200, 201],
    soldOutStatus: [410, 409],
    remainingField: 'remaining_stock',
    purchaseIdField: 'purchase_id',
    historyPath: history,
  });
  const attackS = (performance.now() - attackStarted) / 1000;
  const verifyStarted = performance.now();
  const verdict = await verify({ histories: [history], db: url, sku: names.sku, maxErrors: 0 });
  const verifyS = (performance.now() - verifyStarted) / 1000;
  const sold = summary.outcomes.bought;
  const anomalies = verdict.checks.filter((check) => check.status === 'FAIL').map((check) => `${check.id} ${check.name}`);
  if (sold !== scenario.expectedSold) anomalies.push(`expected ${scenario.expectedSold} sold, got ${sold}`);
  return {
    ...names,
    scenario: scenario.name,
    buyers: scenario.buyers,
    sold,
    soldOut: summary.outcomes.sold_out,
    errors: summary.types.info,
    attackS,
    verifyS,
    durationS: attackS + verifyS,
    status: anomalies.length === 0 ? 'PASS' : 'FAIL',
    anomalies,
    history,
    verdict,
  };
}
