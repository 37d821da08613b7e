import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAdapter } from '../../adapters/open.js';
import { isStrategyName, loadStrategy, type StrategyName } from '../../adapters/strategies/index.js';
import { prepareStore, resetStock } from '../../adapters/store.js';
import { maskPassword, parseDatabaseUrl } from '../../adapters/url.js';
import { startServer, type RunningServer } from '../../reference-server/launcher.js';
import { BuyerPool } from '../attack/buyer-pool.js';
import { runAttack } from '../attack/coordinator.js';
import { ConfigError } from '../errors.js';
import type { AttackSummary } from '../attack/summary.js';
import type { Verdict } from '../verify/verdict.js';
import { audit, type Audit } from '../verify/verify.js';
import { isolateServerConnections, planFaults, type FaultName, type FaultReport, type ServerConnections } from './faults/index.js';
import { scenarios, type Scenario } from './scenarios.js';

/**
 * Items prove sells, one per scenario (`flashsale-prove-1`…): names of their
 * own so prove never touches a real item, and each scenario's final state
 * stays in the database for verify to be rerun by hand.
 */
export const PROVE_SKU_PREFIX = 'flashsale-prove-';
const PROVE_ITEM_NAME = 'flashsale prove';

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
  /** Faults of the faults scenario (`--faults`); none leaves the scenario out. */
  faults?: FaultName[] | undefined;
  /** Run only the faults scenario (`--only-faults`), e.g. in a CI job of its own. */
  onlyFaults?: boolean | undefined;
  /** Sees each scenario's audit (operations and final state beside the verdict) as it is made, for `--html`. */
  onAudit?: ((result: ScenarioResult, audited: Audit) => void) | undefined;
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
  /** Most buyers in flight at once, or null when all were sent at once. */
  concurrency: number | null;
  sold: number;
  soldOut: number;
  /** Unknown outcomes (timeouts, 5xx, resets). */
  errors: number;
  /**
   * Unknown outcomes verify tolerated (its --max-errors): 0, or in the faults
   * scenario one per buyer in flight per fault injected, since only a request
   * in flight when a fault strikes can be cut by it.
   */
  allowedErrors: number;
  /** The faults of the faults scenario, injected or skipped; empty elsewhere. */
  faults: FaultReport[];
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
 * For each database: prepare every scenario's item, start the reference
 * server (loopback, free port), and for each scenario attack its item and
 * verify the run. Servers run in their own processes so the attack's clock
 * and event loop are not shared.
 */
export async function prove(options: ProveOptions, hooks: ProveHooks = {}): Promise<ProveReport> {
  if (options.stock < 1) throw new ConfigError('--stock must be at least 1 to prove anything');
  if (options.onlyFaults && !options.faults?.length) throw new ConfigError('--only-faults needs --faults to say which faults to inject');
  const { workDir, targets } = await proofTargets(options, 'flashsale-prove-');
  // One set of buyer processes for every attack, booting while the first server does.
  const pool = new BuyerPool(options.processes ?? availableParallelism());
  const results: ScenarioResult[] = [];
  try {
    for (const [t, target] of targets.entries()) {
      results.push(...(await proveOn(target, workDir, options, pool, t === targets.length - 1, (result) => hooks.onResult?.(result))));
    }
  } finally {
    await pool.close();
  }
  return concludeProof(results, options, workDir);
}

/** The checks a verdict failed, as a scenario's anomalies (`H2 duplicate-remaining`). */
export function failedChecks(verdict: Verdict): string[] {
  return verdict.checks.filter((check) => check.status === 'FAIL').map((check) => `${check.id} ${check.name}`);
}

/** How the reference server's answers read, for every attack prove makes. */
export const REFERENCE_ANSWERS = {
  headers: [] as string[],
  method: 'POST',
  okStatus: [200, 201],
  soldOutStatus: [410, 409],
  remainingField: 'remaining_stock',
};

/** A database to prove on: its URL, and how the table names it when not by its URL. */
export interface ProofTarget {
  url: string;
  name?: string;
}

/**
 * Checks what a proof is given before anything starts, and makes its work
 * folder: the databases to prove on, the temporary SQLite file first.
 */
export async function proofTargets(
  options: Pick<ProveOptions, 'databases' | 'includeTemporarySqlite' | 'strategy'>,
  workPrefix: string,
): Promise<{ workDir: string; targets: ProofTarget[] }> {
  for (const url of options.databases) parseDatabaseUrl(url);
  // A strategy module of the user's is loaded once here, so a wrong path is one line before any server starts.
  if (!isStrategyName(options.strategy)) await loadStrategy(options.strategy);
  const workDir = await mkdtemp(join(tmpdir(), workPrefix));
  // The temporary file is named for what it is; every other database by its (masked) URL.
  const targets: ProofTarget[] = [
    ...(options.includeTemporarySqlite ? [{ url: `sqlite:${join(workDir, 'flashsale.db')}`, name: 'sqlite (temporary file)' }] : []),
    ...options.databases.map((url) => ({ url })),
  ];
  if (targets.length === 0) throw new ConfigError('no database to prove on');
  return { workDir, targets };
}

/** The proof's verdict; a passing proof leaves no files behind, a failing one keeps its histories. */
export async function concludeProof(results: ScenarioResult[], options: Pick<ProveOptions, 'strategy'>, workDir: string): Promise<ProveReport> {
  const status = results.every((result) => result.status === 'PASS') ? 'PASS' : 'FAIL';
  if (status === 'PASS') await rm(workDir, { recursive: true, force: true });
  return { status, strategy: options.strategy, results, workDir };
}

/** One scenario of one database, with its item and history. */
interface ScenarioRun {
  scenario: Scenario;
  sku: string;
  history: string;
}

/**
 * Every scenario on one database. Scenarios of one shape (server processes,
 * no faults) share one server: each sells its own item, named in the
 * purchase body, so one run cannot touch another's stock, and the server is
 * started (and warmed up) once instead of once per scenario. The faults
 * scenario gets a server of its own, since it kills and pauses it.
 */
async function proveOn(
  target: ProofTarget,
  workDir: string,
  options: ProveOptions,
  pool: BuyerPool,
  lastTarget: boolean,
  onResult: (result: ScenarioResult) => void,
): Promise<ScenarioResult[]> {
  const dialect = parseDatabaseUrl(target.url).dialect;
  // The index still names the item and history, so the faults scenario is always flashsale-prove-5.
  const runs: ScenarioRun[] = scenarios(options)
    .map((scenario, index) => ({ scenario, sku: `${PROVE_SKU_PREFIX}${index + 1}`, history: join(workDir, `${dialect}-${index + 1}.jsonl`) }))
    .filter(({ scenario }) => !options.onlyFaults || scenario.faults);
  // The table names the database as the user gave it, not by the run's own tag or database.
  const label = target.name ?? maskPassword(target.url);
  await prepareItems(target.url, runs, options.stock);
  const shared = new Map<number, Promise<RunningServer>>();
  /** The server for scenarios of this many server processes, started on first need. */
  const sharedServer = ({ scenario, sku }: ScenarioRun): Promise<RunningServer> => {
    let server = shared.get(scenario.workers);
    if (!server) shared.set(scenario.workers, (server = startProveServer(target.url, sku, scenario.workers, options)));
    return server;
  };
  const results: ScenarioResult[] = [];
  const done = (result: ScenarioResult) => {
    results.push(result);
    onResult(result);
  };
  /** The previous scenario's verify, still running while the next one's buyers connect. */
  let judging: Promise<void> = Promise.resolve();
  try {
    for (const [k, run] of runs.entries()) {
      if (run.scenario.faults) {
        await judging;
        done(await runFaultScenario(target.url, label, run, options, pool));
        continue;
      }
      const workers = run.scenario.workers;
      const later = runs.slice(k + 1).filter(({ scenario }) => !scenario.faults);
      const lastOnThisServer = !later.some(({ scenario }) => scenario.workers === workers);
      const server = sharedServer(run);
      // While the last scenario on a single server process runs (its own
      // process, its own port), the next server boots alongside: a cluster's
      // boot is then off the critical path. Two clusters never overlap: their
      // port-0 listeners would share one port.
      const next = later.find(({ scenario }) => scenario.workers !== workers);
      if (lastOnThisServer && workers <= 1 && next) void sharedServer(next).catch(() => undefined);
      const running = await server;
      // A server whose last attack is over stops while verify reads the
      // database (verify needs no server), and after the last attack of
      // all, so do the buyer processes.
      const lastOfAll = lastTarget && k === runs.length - 1;
      const teardown = lastOnThisServer
        ? async () => {
            shared.delete(workers);
            await Promise.all([running.stop(), lastOfAll ? pool.close() : undefined]);
          }
        : undefined;
      const attacking = attack({ database: label, databaseUrl: running.databaseLabel, sku: run.sku }, target.url, run, running, options, pool, undefined);
      // Its verdict is awaited below, after the previous one's.
      attacking.catch(() => undefined);
      // The previous scenario is verified while this one's buyers open their
      // connections: verify reads a finished history and the database, and
      // its item is not this run's. Results still come in scenario order.
      await judging;
      const attacked = await attacking;
      judging = judge(attacked, teardown).then(done);
      judging.catch(() => undefined);
    }
    await judging;
  } finally {
    await Promise.all([...shared.values()].map((server) => server.then((running) => running.stop(), () => undefined)));
  }
  return results;
}

/** Creates each scenario's item if absent and sets it to the stock with an empty ledger, over one connection. */
async function prepareItems(url: string, runs: ScenarioRun[], stock: number): Promise<void> {
  const adapter = await openAdapter({ url });
  try {
    for (const { sku } of runs) {
      await prepareStore(adapter, { sku, itemName: PROVE_ITEM_NAME, stock });
      await resetStock(adapter, sku, stock);
    }
  } finally {
    await adapter.close();
  }
}

function startProveServer(url: string, sku: string, workers: number, options: ProveOptions): Promise<RunningServer> {
  return startServer({ url, host: '127.0.0.1', port: 0, sku, itemName: PROVE_ITEM_NAME, stock: options.stock, workers, separateProcess: true, strategy: options.strategy });
}

/** The faults scenario: a server of its own, with its own database connections when `drop` must tell them apart. */
async function runFaultScenario(url: string, label: string, run: ScenarioRun, options: ProveOptions, pool: BuyerPool): Promise<ScenarioResult> {
  // Only `drop` needs the server's connections told apart from everyone else's.
  const connections = run.scenario.faults?.includes('drop') ? await isolateServerConnections(url) : undefined;
  let result: ScenarioResult | undefined;
  try {
    const serverUrl = connections?.serverUrl ?? url;
    const server = await startProveServer(serverUrl, run.sku, run.scenario.workers, options);
    try {
      result = await judge(await attack({ database: label, databaseUrl: server.databaseLabel, sku: run.sku }, serverUrl, run, server, options, pool, connections));
      return result;
    } finally {
      await server.stop();
    }
  } finally {
    // A failed run keeps its database, like its history, so verify can be rerun by hand.
    await connections?.release(result?.status === 'FAIL');
  }
}

type ScenarioNames = Pick<ScenarioResult, 'database' | 'databaseUrl' | 'sku'>;

/** A scenario whose attack is over, waiting for its verdict. */
interface Attacked {
  names: ScenarioNames;
  url: string;
  run: ScenarioRun;
  summary: AttackSummary;
  attackS: number;
  faults: { reports: FaultReport[] };
  allowedErrors: number;
  /** Given each scenario's audit as it is judged (`--html`). */
  onAudit: ProveOptions['onAudit'];
}

async function attack(
  names: ScenarioNames,
  url: string,
  run: ScenarioRun,
  server: RunningServer,
  options: ProveOptions,
  pool: BuyerPool,
  connections: ServerConnections | undefined,
): Promise<Attacked> {
  const { scenario, history } = run;
  const faults = scenario.faults
    ? planFaults({ names: scenario.faults, dialect: parseDatabaseUrl(url).dialect, stock: options.stock, buyers: scenario.buyers, connections })
    : { injections: [], reports: [] };
  const allowedErrors = faults.injections.length * (scenario.concurrency ?? scenario.buyers);
  const attackStarted = performance.now();
  const summary = await runAttack({
    target: `${server.url}/buy`,
    buyers: scenario.buyers,
    concurrency: scenario.concurrency,
    processes: options.processes,
    timeoutMs: options.timeoutMs,
    quantity: 1,
    // The item named in every purchase: a server shared by several scenarios sells each its own.
    body: `{"buyer_id":"{{buyer}}","sku":${JSON.stringify(names.sku)},"quantity":{{quantity}}}`,
    ...REFERENCE_ANSWERS,
    purchaseIdField: 'purchase_id',
    historyPath: history,
    faults: faults.injections,
  }, {}, pool);
  const attackS = (performance.now() - attackStarted) / 1000;
  return { names, url, run, summary, attackS, faults, allowedErrors, onAudit: options.onAudit };
}

/**
 * Verifies an attacked scenario against its history and the database, and
 * names what failed. `whileVerifying` runs alongside (stopping a server no
 * one needs: verify reads the database, never the server).
 */
async function judge({ names, url, run: { scenario, history }, summary, attackS, faults, allowedErrors, onAudit }: Attacked, whileVerifying?: () => Promise<void>): Promise<ScenarioResult> {
  const verifyStarted = performance.now();
  let verifyS = 0;
  const verifying = audit({ histories: [history], db: url, sku: names.sku, maxErrors: allowedErrors }).then((audited) => {
    verifyS = (performance.now() - verifyStarted) / 1000;
    return audited;
  });
  const [audited] = await Promise.all([verifying, whileVerifying?.()]);
  const { verdict } = audited;
  const sold = summary.outcomes.bought;
  const errors = summary.types.info;
  const anomalies = failedChecks(verdict);
  if (!scenario.faults) {
    if (sold !== scenario.expectedSold) anomalies.push(`expected ${scenario.expectedSold} sold, got ${sold}`);
  } else {
    for (const fault of faults.reports) {
      // A fault that never struck proves nothing about surviving it.
      if (!fault.skipped && !fault.ran) anomalies.push(`fault ${fault.name} did not run`);
      else if (fault.error) anomalies.push(`fault ${fault.name} failed: ${fault.error}`);
    }
    // Each unknown outcome may or may not have sold; together they must account for the stock.
    if (sold + errors < scenario.expectedSold) anomalies.push(`expected the stock to sell out despite the faults: ${sold} sold and ${errors} unknown of ${scenario.expectedSold}`);
  }
  const result: ScenarioResult = {
    ...names,
    scenario: scenario.name,
    buyers: scenario.buyers,
    concurrency: scenario.concurrency ?? null,
    sold,
    soldOut: summary.outcomes.sold_out,
    errors,
    allowedErrors,
    faults: faults.reports,
    attackS,
    verifyS,
    durationS: attackS + verifyS,
    status: anomalies.length === 0 ? 'PASS' : 'FAIL',
    anomalies,
    history,
    verdict,
  };
  onAudit?.(result, audited);
  return result;
}
