// 20,000 buyers at once against the reference server, on each database and
// with 1 and 4 workers: does the server stay up, bounded in memory, and give
// every buyer a definite answer in time, with nothing oversold? (issue 9 #5)
//
// A benchmark, not a test: it takes minutes and its figures depend on the
// machine. Each run is what a user would type:
//   flashsale serve --db URL --sku SKU --stock 5000 --workers W
//   flashsale attack --buyers 20000 --concurrency 20000 --timeout 60s
// The server's resident memory is summed over its processes (primary and
// workers) from /proc every 100 ms; the outcomes come from the attack's
// history; oversell and "every 200 is in the ledger" from the database.
//
// Usage: npm run bench:overload [-- --db sqlite,postgres,mysql --workers 1,4]
// PostgreSQL and MariaDB come from FLASHSALE_PG_URL / FLASHSALE_MYSQL_URL.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAdapter } from '../adapters/open.js';
import { readInventory, readLedger } from '../adapters/store.js';
import { describeMachine, loadAverage1m } from './machine.js';

const BIN = fileURLToPath(new URL('../../bin/flashsale', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/overload.json', import.meta.url));
const BUYERS = 20_000;
const STOCK = 5_000;
const TIMEOUT_S = 60;

interface OverloadRun {
  database: string;
  workers: number;
  /** Answers by kind: bought (200), sold_out (410), refused (503 overloaded / other 503 + Retry-After), other. */
  bought: number;
  sold_out: number;
  refused: number;
  other: number;
  /** What the "other" answers were, e.g. `{"timeout": 3}`. */
  other_causes: Record<string, number>;
  /** 503 answers by their error word. */
  refused_causes: Record<string, number>;
  /** Slowest answer, seconds (the attack's --timeout is 60 s). */
  max_latency_s: number;
  /** Peak of the summed resident memory of every server process, MB. */
  server_peak_rss_mb: number;
  server_processes: number;
  /** Did serve stay up through the run (and exit 0 on SIGTERM)? */
  server_survived: boolean;
  server_exit_code: number | null;
  /** Units sold beyond the stock: must be 0. */
  oversold: number;
  ledger_rows: number;
  final_stock: number;
  /** stock + ledger = initial. */
  conserved: boolean;
  /** 200 answers whose request id has no ledger row: must be 0. */
  acknowledged_missing: number;
  attack_wall_s: number;
  attack_exit_code: number | null;
  load_average_1m: number;
}

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

/** Every process in the tree under `pid`, itself included. */
function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    const current = all[i]!;
    try {
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children) all.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // The process ended between two reads.
    }
  }
  return all;
}

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function openFilesLimit(): string {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('Max open files'));
  return line?.replace(/\s+/g, ' ').trim() ?? 'unknown';
}

function startServe(url: string, sku: string, workers: number): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--db', url, '--host', '127.0.0.1', '--port', '0', '--sku', sku, '--stock', String(STOCK), '--workers', String(workers)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      const listening = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (listening) {
        clearInterval(poll);
        resolve({ child, url: listening, stderr: () => stderr });
      } else if (child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`serve exited: ${stderr}`));
      }
    }, 50);
  });
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; wall_s: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr, wall_s: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

async function overloadRun(database: string, url: string, workers: number, scratch: string): Promise<OverloadRun> {
  const sku = `overload-${database}-${workers}-${randomUUID().slice(0, 6)}`;
  const server = await startServe(url, sku, workers);
  let peakKb = 0;
  let peakProcesses = 0;
  const sampler = setInterval(() => {
    const tree = processTree(server.child.pid!);
    peakKb = Math.max(peakKb, tree.reduce((sum, pid) => sum + rssKb(pid), 0));
    peakProcesses = Math.max(peakProcesses, tree.length);
  }, 100);

  const history = join(scratch, `${sku}.jsonl`);
  const attack = await run([
    'attack', '--target', `${server.url}/buy`, '--buyers', String(BUYERS), '--concurrency', String(BUYERS),
    '--timeout', `${TIMEOUT_S}s`, '--history', history, '--json',
  ]);
  clearInterval(sampler);
  const survived = server.child.exitCode === null && server.child.signalCode === null;
  server.child.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) resolve(server.child.exitCode);
    else server.child.once('exit', (code) => resolve(code));
  });

  const counts = { bought: 0, sold_out: 0, refused: 0, other: 0 };
  const otherCauses: Record<string, number> = {};
  const refusedCauses: Record<string, number> = {};
  const boughtIds: string[] = [];
  let maxLatencyNs = 0n;
  for (const line of readFileSync(history, 'utf8').split('\n')) {
    if (!line.startsWith('{"kind":"op"')) continue;
    const op = JSON.parse(line) as { outcome: string; status: number | null; request_id: string; t_inv: string | number; t_cmp: string | number; error: string | null };
    const latency = BigInt(op.t_cmp) - BigInt(op.t_inv);
    if (latency > maxLatencyNs) maxLatencyNs = latency;
    if (op.outcome === 'bought') {
      counts.bought++;
      boughtIds.push(op.request_id);
    } else if (op.outcome === 'sold_out') counts.sold_out++;
    else if (op.status === 503 || op.outcome === 'refused') {
      counts.refused++;
      const word = /"error":"([a-z_]+)"/.exec(op.error ?? '')?.[1] ?? (op.error ?? 'no body').slice(0, 40);
      refusedCauses[word] = (refusedCauses[word] ?? 0) + 1;
    } else {
      counts.other++;
      const cause = `${op.outcome}${op.status ? ` ${op.status}` : ''}`;
      otherCauses[cause] = (otherCauses[cause] ?? 0) + 1;
    }
  }
  rmSync(history, { force: true });

  const adapter = await openAdapter({ url });
  let inventory;
  let ledger;
  try {
    inventory = await readInventory(adapter, sku);
    ledger = await readLedger(adapter, sku);
  } finally {
    await adapter.close();
  }
  const sold = ledger.reduce((sum, row) => sum + row.quantity, 0);
  const inLedger = new Set(ledger.map((row) => row.requestId));
  return {
    database,
    workers,
    ...counts,
    other_causes: otherCauses,
    refused_causes: refusedCauses,
    max_latency_s: Math.round(Number(maxLatencyNs) / 1e7) / 100,
    server_peak_rss_mb: Math.round(peakKb / 1024),
    server_processes: peakProcesses,
    server_survived: survived,
    server_exit_code: exitCode,
    oversold: Math.max(0, sold - STOCK) + Math.max(0, -inventory.current_stock),
    ledger_rows: ledger.length,
    final_stock: inventory.current_stock,
    conserved: inventory.current_stock + sold === STOCK,
    acknowledged_missing: boughtIds.filter((id) => !inLedger.has(id)).length,
    attack_wall_s: Math.round(attack.wall_s * 10) / 10,
    attack_exit_code: attack.code,
    load_average_1m: loadAverage1m(),
  };
}

async function main(): Promise<void> {
  const databases: Record<string, string | undefined> = {
    sqlite: undefined,
    postgres: process.env.FLASHSALE_PG_URL,
    mysql: process.env.FLASHSALE_MYSQL_URL,
  };
  const wanted = flag('db', 'sqlite,postgres,mysql').split(',');
  const workerCounts = flag('workers', '1,4').split(',').map(Number);
  const scratch = mkdtempSync(join(tmpdir(), 'flashsale-overload-'));
  process.stderr.write(`bench:overload: ${BUYERS} buyers at once, stock ${STOCK}, attack --timeout ${TIMEOUT_S}s; ${openFilesLimit()}\n`);
  const runs: OverloadRun[] = [];
  for (const database of wanted) {
    const url = database === 'sqlite' ? `sqlite:${join(scratch, 'overload.db')}` : databases[database];
    if (!url) {
      process.stderr.write(`bench:overload: skipping ${database} (set ${database === 'postgres' ? 'FLASHSALE_PG_URL' : 'FLASHSALE_MYSQL_URL'})\n`);
      continue;
    }
    for (const workers of workerCounts) {
      const result = await overloadRun(database, url, workers, scratch);
      runs.push(result);
      process.stderr.write(
        `  ${database.padEnd(8)} workers ${workers}: bought ${result.bought}, sold out ${result.sold_out}, refused ${result.refused} ${JSON.stringify(result.refused_causes)}, ` +
          `other ${result.other}${result.other ? ` ${JSON.stringify(result.other_causes)}` : ''}; slowest ${result.max_latency_s} s; ` +
          `server peak RSS ${result.server_peak_rss_mb} MB over ${result.server_processes} processes; survived ${result.server_survived} (exit ${result.server_exit_code}); ` +
          `oversold ${result.oversold}, conserved ${result.conserved}, 200s missing from ledger ${result.acknowledged_missing}; attack ${result.attack_wall_s} s\n`,
      );
    }
  }
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(join(RESULTS, '..'), { recursive: true });
  const record = { bench: 'overload', generated_at: new Date().toISOString(), machine: describeMachine(), open_files: openFilesLimit(), buyers: BUYERS, stock: STOCK, timeout_s: TIMEOUT_S, runs };
  writeFileSync(RESULTS, JSON.stringify(record, null, 2) + '\n');
  process.stdout.write(JSON.stringify(record) + '\n');
  const failed = runs.filter((r) => !r.server_survived || r.server_exit_code !== 0 || r.oversold > 0 || !r.conserved || r.acknowledged_missing > 0 || r.other > 0);
  if (failed.length > 0) process.exitCode = 1;
}

await main();
