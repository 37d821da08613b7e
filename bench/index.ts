// npm run bench — every benchmark, one after another (two cores are too few
// to run any two side by side without each skewing the other), one table on
// stdout, the same figures with the machine's description in
// bench/results/latest.json. Progress goes to stderr.
//
// A benchmark, not a test: a missed target is printed, never an exit code.
// The exit code is 1 only when something could not be measured at all (a
// database unreachable, a benchmark that crashed); the JSON is written anyway.
//
// It measures a frozen copy of the build: dist/, bin/ and package.json are
// copied to a temporary directory first and everything runs from there. A
// run takes a quarter of an hour and starts a fresh server process per
// strategy, so a rebuild in the working tree meanwhile would otherwise give
// later servers new code while the limit, loaded at start, kept the old.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { maskUrlsIn } from '../adapters/url.js';
import Table from 'cli-table3';
import { measureHttpFloor, type FloorFigures } from './http-floor.js';
import { measurePostgresHotRow, type HotRowFigures } from './hot-row.js';
import { describeMachine, loadAverage1m, machineLine } from './machine.js';
import { measureAttackRss, startTrivialEndpoint, type RssRun } from './rss.js';
import { DEFAULT_RESERVATION_FLOWS, describeReservations, measureReservations, type ReservationFigures } from './reservations.js';
import {
  benchDatabase,
  databaseTargets,
  fmtRate,
  throughputCells,
  throughputOptionsFromEnv,
  THROUGHPUT_HEAD,
  type ThroughputRow,
} from './throughput.js';

/** Set in the frozen copy's environment: the working tree it was copied from. */
const SOURCE_ENV = 'FLASHSALE_BENCH_SOURCE';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = process.env[SOURCE_ENV] ?? ROOT;
const BIN = join(ROOT, 'bin', 'flashsale');
const RESULTS = join(SOURCE, 'bench', 'results', 'latest.json');
/** Runs of `prove`; the median is reported, so one slow start-up does not decide it. */
const PROVE_RUNS = 3;
const PROVE_SCENARIO = 'buyers = 10 × stock';
const RSS_BUYERS = [100_000, 1_000_000];
const RSS_CONCURRENCY = 256;
/** What the load average looks like when nothing but the bench runs (server, load, database: about three busy processes). */
const BENCH_ALONE_LOAD = '2-3';

interface ChildRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  wall_s: number;
  timed_out: boolean;
}

interface ProveFigures {
  runs: { wall_s: number; attack_s: number | null; verify_s: number | null; status: string | null }[];
  /** Median over the runs of the scenario's attack + verify seconds. */
  attack_plus_verify_s: number | null;
  wall_s: number | null;
  /** The machine's 1-minute load average when the runs ended. */
  load_average_1m: number;
  error?: string;
}

interface GatheredBench {
  /** The benchmark's last JSON line, when it prints one. */
  json: Record<string, unknown> | null;
  /** Its stdout, kept when it prints no JSON line (or failed). */
  stdout?: string;
  wall_s: number;
  /** The machine's 1-minute load average when it ended. */
  load_average_1m: number;
  error?: string;
}

interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const machine = describeMachine();
  log(`${machine.cpu_model}, ${machine.cores} cores, load average ${machine.load_average_at_start.join(' ')}`);
  const scratch = await mkdtemp(join(tmpdir(), 'flashsale-bench-'));
  const failures: string[] = [];
  const rows: ThroughputRow[] = [];
  const options = throughputOptionsFromEnv(scratch, (line) => log(line));
  let prove: ProveFigures;
  let floor: FloorFigures[] = [];
  let verify: GatheredBench;
  let attack: GatheredBench | null;
  const rss: RssRun[] = [];
  let hotRow: HotRowFigures[] = [];
  let reservations: ReservationFigures | null = null;
  try {
    log(`http floor: a node:http server with no database, ${options.stock.toLocaleString('en-US')} requests at ${options.concurrencies.join(' and ')} in flight`);
    try {
      floor = await measureHttpFloor(options.concurrencies, options.stock, scratch, options.attackProcesses);
      for (const figure of floor) log(`  c=${figure.concurrency}: ${fmtRate(figure.requests_per_second)} req/s, ${figure.errors} errors`);
    } catch (error) {
      failures.push(`http floor: ${(error as Error).message}`);
    }

    log(`prove: ${PROVE_RUNS} runs of flashsale prove --json (1000 buyers, 100 units, SQLite)`);
    prove = await gatherProve();
    if (prove.error) failures.push(`prove: ${prove.error}`);

    // BENCH_RESERVATION_FLOWS=1000 is the reduced mode (node dist/bench/reservations.js --reduced alone).
    const flows = Number(process.env.BENCH_RESERVATION_FLOWS) || DEFAULT_RESERVATION_FLOWS;
    log(`reservations: ${flows.toLocaleString('en-US')} reserve+confirm flows through serve on SQLite, 64 in flight`);
    try {
      reservations = await measureReservations({ flows, concurrency: 64, deadlineMs: 60_000, scratchDir: scratch });
      log(`  ${describeReservations(reservations)}`);
      if (reservations.errors > 0 || reservations.database_confirmed !== reservations.confirmed) failures.push(`reservations: ${describeReservations(reservations)}`);
    } catch (error) {
      failures.push(`reservations: ${(error as Error).message}`);
    }

    log('verify: node dist/bench/verify.js (1,000,000 operations)');
    verify = await gather(join(ROOT, 'dist', 'bench', 'verify.js'), 300_000);
    if (verify.error) failures.push(`bench:verify: ${verify.error}`);

    const attackScript = join(ROOT, 'dist', 'bench', 'attack.js');
    if (existsSync(attackScript)) {
      log('attack: node dist/bench/attack.js (attack vs autocannon)');
      attack = await gather(attackScript, 900_000);
      if (attack.error) failures.push(`bench:attack: ${attack.error}`);
    } else {
      attack = null;
      log('attack: dist/bench/attack.js is absent, skipped');
    }

    const endpoint = await startTrivialEndpoint(0);
    try {
      for (const buyers of RSS_BUYERS) {
        endpoint.reset(buyers / 2);
        log(`attack RSS: ${buyers.toLocaleString('en-US')} buyers, ${RSS_CONCURRENCY} in flight, trivial loopback endpoint`);
        const run = await measureAttackRss({ url: endpoint.url, buyers, concurrency: RSS_CONCURRENCY, scratchDir: scratch, deadlineMs: 300_000 });
        log(`  coordinator ${run.coordinator_peak_mb} MB, buyer processes ${run.children_peak_mb.join(', ')} MB, ${fmtRate(run.requests_per_second ?? 0)} req/s, ${run.wall_s.toFixed(1)} s`);
        if (run.error) failures.push(`attack RSS at ${buyers}: ${run.error}`);
        rss.push(run);
      }
    } finally {
      endpoint.server.closeAllConnections();
      endpoint.server.close();
    }

    // The databases come last. With them first, verify took 5.7-5.9 s in two
    // full runs against 4.5-4.7 s alone, with the load average still near 3:
    // whatever the database servers do after 240,000 sales, it is not verify's.
    for (const target of databaseTargets(scratch)) {
      try {
        const result = await benchDatabase(target, options);
        machine.databases[target.name] = result.version;
        rows.push(...result.rows);
        if (target.name === 'postgres') {
          log('hot row: pgbench, the lock purchase transaction on one row, 1 and 32 clients, 10 s each');
          hotRow = await measurePostgresHotRow(target.url, [1, 32], 10, scratch);
          for (const figure of hotRow) log(`  ${figure.clients} clients: ${figure.error ?? `${fmtRate(figure.transactions_per_second)} tx/s`}`);
        }
      } catch (error) {
        // Masked: these lines go to the terminal and into the committed results file.
        failures.push(`throughput on ${target.name}: ${maskUrlsIn((error as Error).message)}`);
        log(`throughput on ${target.name} failed: ${maskUrlsIn((error as Error).stack ?? String(error))}`);
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const targets = [...judge(rows, prove, verify, attack, rss), ...judgeBatch(rows, floor, hotRow), ...judgeReservations(reservations)];
  const results = {
    bench: 'all',
    generated_at: new Date().toISOString(),
    wall_s: (performance.now() - started) / 1000,
    machine,
    code: describeCode(),
    throughput: {
      stock: options.stock,
      pool_size: options.poolSize,
      attack_processes: options.attackProcesses,
      load: 'flashsale attack (closed model), server in its own process; limit: purchase() from one Node process, same pool size and concurrency',
      rows,
      /** node:http with no database under the same load: the most any server/limit ratio can reach here. */
      http_floor: floor,
      /** PostgreSQL's own one-row limit for the lock transaction, by pgbench. */
      hot_row: hotRow,
    },
    prove,
    /** reserve + confirm through the reference server on SQLite (issue 12). */
    reservations,
    verify,
    attack,
    attack_rss: rss,
    targets,
    failures,
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

  process.stdout.write(`${render(machineLine(machine), rows, floor, hotRow, prove, verify, attack, rss, targets, reservations)}\n`);
  process.stdout.write(`figures: ${RESULTS}\n`);
  for (const failure of failures) process.stdout.write(`not measured: ${failure}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

/** Runs a node script as a child, bounded in time; its stderr passes through. */
async function runNode(args: string[], timeoutMs: number): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CI: 'true' } });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, stdout, wall_s: (performance.now() - started) / 1000, timed_out: timedOut };
}

function lastJsonLine(text: string): Record<string, unknown> | null {
  for (const line of text.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not JSON after all; keep looking upwards.
    }
  }
  return null;
}

function exitError(run: ChildRun): string | undefined {
  if (run.timed_out) return `stopped after ${run.wall_s.toFixed(0)} s`;
  if (run.code !== 0) return `exited ${run.signal ?? `with code ${run.code}`}`;
  return undefined;
}

async function gather(script: string, timeoutMs: number): Promise<GatheredBench> {
  const run = await runNode([script], timeoutMs);
  const json = lastJsonLine(run.stdout);
  const gathered: GatheredBench = { json, wall_s: run.wall_s, load_average_1m: loadAverage1m() };
  if (!json || run.code !== 0) gathered.stdout = run.stdout;
  const error = exitError(run);
  if (error) gathered.error = error;
  process.stderr.write(run.stdout.replace(/^(?=.)/gm, '  '));
  return gathered;
}

async function gatherProve(): Promise<ProveFigures> {
  const runs: ProveFigures['runs'] = [];
  let error: string | undefined;
  for (let k = 0; k < PROVE_RUNS; k++) {
    const run = await runNode([BIN, 'prove', '--json'], 120_000);
    let attackS: number | null = null;
    let verifyS: number | null = null;
    let status: string | null = null;
    try {
      const report = JSON.parse(run.stdout) as { status: string; results: { scenario: string; attackS: number; verifyS: number }[] };
      const scenario = report.results.find((result) => result.scenario === PROVE_SCENARIO);
      status = report.status;
      attackS = scenario?.attackS ?? null;
      verifyS = scenario?.verifyS ?? null;
      if (!scenario) error = `no "${PROVE_SCENARIO}" scenario in prove's JSON`;
    } catch {
      error = exitError(run) ?? 'prove printed no JSON';
    }
    runs.push({ wall_s: run.wall_s, attack_s: attackS, verify_s: verifyS, status });
    log(`  prove run ${k + 1}: ${status ?? 'no verdict'}, ${PROVE_SCENARIO}: attack ${attackS?.toFixed(3)} s + verify ${verifyS?.toFixed(3)} s; wall ${run.wall_s.toFixed(2)} s`);
  }
  const sums = runs.filter((run) => run.attack_s !== null && run.verify_s !== null).map((run) => run.attack_s! + run.verify_s!);
  const figures: ProveFigures = {
    runs,
    attack_plus_verify_s: sums.length ? median(sums) : null,
    wall_s: median(runs.map((run) => run.wall_s)),
    load_average_1m: loadAverage1m(),
  };
  if (error) figures.error = error;
  return figures;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** bench:attack's figures: its JSON line if it has one, else its `median … req/s` and ratio lines. */
function attackLines(attack: GatheredBench): string[] {
  if (attack.json) {
    return Object.entries(attack.json)
      .filter(([key]) => key !== 'bench')
      .map(([key, value]) => `${key}: ${typeof value === 'number' ? Math.round(value * 100) / 100 : JSON.stringify(value)}`);
  }
  const text = attack.stdout ?? '';
  return text.split('\n').filter((line) => / median /.test(line) || line.startsWith('ratio')).map((line) => line.trim().replace(/\s+runs:.*$/, '').replace(/\s{2,}/g, ' '));
}

/** attack / autocannon with each tool's default, when bench:attack says it. */
function attackRatio(attack: GatheredBench | null): number | null {
  if (!attack) return null;
  const fromJson = attack.json && Object.entries(attack.json).find(([key, value]) => /ratio/i.test(key) && typeof value === 'number');
  if (fromJson) return fromJson[1] as number;
  const match = /ratio attack \/ autocannon[^:]*: ([\d.]+)/.exec(attack.stdout ?? '');
  return match ? Number(match[1]) : null;
}

function judge(rows: ThroughputRow[], prove: ProveFigures, verify: GatheredBench, attack: GatheredBench | null, rss: RssRun[]): Target[] {
  const targets: Target[] = [];
  const sqliteLock = rows.filter((row) => row.database === 'sqlite' && row.strategy === 'lock');
  if (sqliteLock.length) {
    const worst = Math.min(...sqliteLock.map((row) => row.http.purchases_per_second));
    targets.push({
      name: 'SQLite lock, HTTP',
      target: '≥ 5,000 purchases/s',
      value: sqliteLock.map((row) => `${fmtRate(row.http.purchases_per_second)} at ${row.concurrency}`).join(', '),
      met: worst >= 5000,
    });
  }
  if (rows.length) {
    const below = rows.filter((row) => row.ratio < 0.5);
    const worst = rows.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    targets.push({
      name: 'server / limit',
      target: '≥ 0.5',
      value: `${below.length} of ${rows.length} below; lowest ${worst.ratio.toFixed(2)} (${worst.database} ${worst.strategy} at ${worst.concurrency})`,
      met: below.length === 0,
    });
  }
  targets.push({
    name: 'prove attack + verify',
    target: '< 1 s',
    value: prove.attack_plus_verify_s === null ? 'not measured' : `${prove.attack_plus_verify_s.toFixed(3)} s (${PROVE_SCENARIO}, median of ${prove.runs.length})`,
    met: prove.attack_plus_verify_s === null ? null : prove.attack_plus_verify_s < 1,
  });
  const verifyS = typeof verify.json?.seconds === 'number' ? verify.json.seconds : null;
  targets.push({
    name: 'verify, 1M operations',
    target: '< 5 s',
    value: verifyS === null ? 'not measured' : `${verifyS.toFixed(2)} s`,
    met: verifyS === null ? null : verifyS < 5,
  });
  const ratio = attackRatio(attack);
  targets.push({
    name: 'attack / autocannon',
    target: '≥ 1.00',
    value: ratio === null ? 'not measured' : `${ratio.toFixed(2)} (each tool with its default processes)`,
    met: ratio === null ? null : ratio >= 1,
  });
  const [small, large] = rss;
  if (small?.coordinator_peak_mb && large?.coordinator_peak_mb) {
    const growth = (run: RssRun) => Math.max(run.coordinator_peak_mb ?? 0, ...run.children_peak_mb);
    const factor = growth(large) / growth(small);
    // Ten times the buyers: memory held per buyer would show as several times
    // the peak; V8 sizing its heap a little larger over a longer run would not.
    targets.push({
      name: 'attack RSS flat',
      target: 'flat (≤ 1.5×)',
      value: `largest process ${growth(small)} → ${growth(large)} MB, ${small.buyers.toLocaleString('en-US')} → ${large.buyers.toLocaleString('en-US')} buyers (${factor.toFixed(2)}×)`,
      met: factor <= 1.5,
    });
  }
  return targets;
}

/**
 * Issue 11's targets for `batch`: ≥ 5 × lock's HTTP rate and ≥ 5 × the
 * database's one-row limit (PostgreSQL: pgbench; MySQL: the lock transaction
 * through the driver, the table's lock limit), and on SQLite ≥ 0.8 × the
 * node:http floor. Compared at each concurrency, best against best.
 */
function judgeBatch(rows: ThroughputRow[], floor: FloorFigures[], hotRow: HotRowFigures[]): Target[] {
  const targets: Target[] = [];
  const best = (database: string, strategy: string, pick: (row: ThroughputRow) => number) =>
    Math.max(0, ...rows.filter((row) => row.database === database && row.strategy === strategy).map(pick));
  for (const database of new Set(rows.map((row) => row.database))) {
    const batch = best(database, 'batch', (row) => row.http.purchases_per_second);
    const lock = best(database, 'lock', (row) => row.http.purchases_per_second);
    if (!batch || !lock) continue;
    targets.push({ name: `${database} batch / lock, HTTP`, target: '≥ 5.00', value: `${(batch / lock).toFixed(2)} (${fmtRate(batch)} vs ${fmtRate(lock)}/s)`, met: batch / lock >= 5 });
    if (database === 'sqlite') {
      const top = Math.max(0, ...floor.map((f) => f.requests_per_second));
      if (top) targets.push({ name: 'sqlite batch / node:http floor', target: '≥ 0.80', value: `${(batch / top).toFixed(2)} (${fmtRate(batch)} vs ${fmtRate(top)}/s)`, met: batch / top >= 0.8 });
      continue;
    }
    const limit =
      database === 'postgres' && hotRow.length
        ? { value: Math.max(...hotRow.map((f) => f.transactions_per_second)), by: 'pgbench, best client count' }
        : { value: best(database, 'lock', (row) => row.limit.purchases_per_second), by: 'lock via the driver' };
    if (limit.value) {
      targets.push({
        name: `${database} batch / one-row limit`,
        target: '≥ 5.00',
        value: `${(batch / limit.value).toFixed(2)} (${fmtRate(batch)} vs ${fmtRate(limit.value)}/s, ${limit.by})`,
        met: batch / limit.value >= 5,
      });
    }
  }
  return targets;
}

/**
 * Issue 12's aim for the reservation flow: 500 requests/s (250 reserve +
 * confirm flows) with p95 under 200 ms, here per whole flow.
 */
function judgeReservations(figures: ReservationFigures | null): Target[] {
  if (!figures) return [];
  return [
    {
      name: 'reservations, SQLite',
      target: '≥ 250 flows/s, flow p95 < 200 ms',
      value: `${fmtRate(figures.flows_per_second)} flows/s, p95 ${figures.flow_latency_ms.p95} ms`,
      met: figures.flows_per_second >= 250 && figures.flow_latency_ms.p95 < 200,
    },
  ];
}

function render(
  machine: string,
  rows: ThroughputRow[],
  floor: FloorFigures[],
  hotRow: HotRowFigures[],
  prove: ProveFigures,
  verify: GatheredBench,
  attack: GatheredBench | null,
  rss: RssRun[],
  targets: Target[],
  reservations: ReservationFigures | null,
): string {
  const width = THROUGHPUT_HEAD.length;
  const table = new Table({ head: THROUGHPUT_HEAD, style: { head: [], border: [] } });
  table.push(...throughputCells(rows));
  const section = (title: string) => table.push([{ colSpan: width, content: title }]);
  const figure = (name: string, value: string, load?: number) =>
    table.push([{ colSpan: 3, content: name }, { colSpan: width - 3, content: load === undefined ? value : `${value}; load 1m ${load.toFixed(1)}` }]);

  section('other figures');
  figure(
    'node:http floor, no database',
    floor.length
      ? floor.map((f) => `${fmtRate(f.requests_per_second)} req/s at ${f.concurrency}${f.latency_ms ? ` (p50 ${f.latency_ms.p50} ms)` : ''}${f.errors ? `, ${f.errors} errors` : ''}`).join('; ')
      : 'not measured',
  );
  if (hotRow.length) {
    figure('PostgreSQL hot row, pgbench', hotRow.map((f) => `${f.error ? `failed (${f.error})` : `${fmtRate(f.transactions_per_second)} tx/s`} at ${f.clients} client${f.clients === 1 ? '' : 's'}`).join('; '));
  }
  const proveValue =
    prove.attack_plus_verify_s === null
      ? `not measured${prove.error ? `: ${prove.error}` : ''}`
      : `attack + verify ${prove.attack_plus_verify_s.toFixed(3)} s (median of ${prove.runs.length}: ${prove.runs
          .map((run) => `${run.attack_s?.toFixed(3)} + ${run.verify_s?.toFixed(3)}`)
          .join(', ')}); whole command ${prove.wall_s?.toFixed(2)} s`;
  figure('prove, SQLite 1000/100', proveValue, prove.load_average_1m);
  figure('reservations, SQLite', reservations ? describeReservations(reservations) : 'not measured');
  const v = verify.json;
  figure(
    'bench:verify',
    v ? `${Number(v.operations).toLocaleString('en-US')} operations in ${Number(v.seconds).toFixed(2)} s, peak RSS ${Math.round(Number(v.peak_rss_mb))} MB, verdict ${String(v.verdict)}` : `not measured${verify.error ? `: ${verify.error}` : ''}`,
    verify.load_average_1m,
  );
  if (attack) {
    figure('bench:attack', [...attackLines(attack), ...(attack.error ? [`error: ${attack.error}`] : [])].join('\n') || 'no figures printed', attack.load_average_1m);
  } else {
    figure('bench:attack', 'absent (dist/bench/attack.js not built)');
  }
  for (const run of rss) {
    figure(
      `attack RSS, ${run.buyers.toLocaleString('en-US')}`,
      `coordinator ${run.coordinator_peak_mb ?? '?'} MB, buyer processes ${run.children_peak_mb.join(' / ') || '?'} MB; ` +
        `${fmtRate(run.requests_per_second ?? 0)} req/s, ${run.wall_s.toFixed(1)} s${run.partial ? ' (stopped at deadline)' : ''}${run.error ? `; ${run.error}` : ''}`,
      run.load_average_1m,
    );
  }
  section('targets (issue 5)');
  for (const target of targets) {
    const verdict = target.met === null ? 'not measured' : target.met ? 'met' : 'MISSED';
    figure(target.name, `${target.value}  [${target.target}: ${verdict}]`);
  }
  const note = `load 1m: the machine's 1-minute load average after each measurement; the bench alone keeps it near ${BENCH_ALONE_LOAD}, more means other work shared the cores`;
  return `${machine}\n${table.toString()}\n${note}`;
}

/** The commit measured, and the files that differed from it when the build was copied. */
function describeCode(): { commit: string | null; uncommitted: string[] } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: SOURCE, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const commit = git('rev-parse', 'HEAD').trim();
    const uncommitted = git('status', '--porcelain', '--', 'adapters', 'reference-server', 'src', 'bin', 'bench')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
    return { commit, uncommitted };
  } catch {
    return { commit: null, uncommitted: [] };
  }
}

/** Copies the build to a temporary directory and runs the bench from there; resolves with its exit code. */
async function runFrozen(): Promise<number> {
  const copy = await mkdtemp(join(tmpdir(), 'flashsale-bench-build-'));
  try {
    await cp(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
    await cp(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
    // "type": "module" makes the copied .js files ES modules again.
    await copyFile(join(ROOT, 'package.json'), join(copy, 'package.json'));
    await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    log(`measuring a frozen copy of the build in ${copy}`);
    const child = spawn(process.execPath, [join(copy, 'dist', 'bench', 'index.js')], {
      stdio: 'inherit',
      env: { ...process.env, [SOURCE_ENV]: ROOT },
    });
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    if (signal) log(`the bench ended on ${signal}`);
    return code ?? 1;
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

if (process.env[SOURCE_ENV]) await main();
else process.exitCode = await runFrozen();
