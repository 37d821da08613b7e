// Attack's peak memory at growing buyer counts, against a trivial loopback
// endpoint: it must stay flat, because op lines stream to the history file
// and only histograms and counters stay in memory (DESIGN.md, "attack").
//
// The attack runs as users run it (`bin/flashsale attack --json`, a fresh
// process); its coordinator and each buyer process are sampled from /proc
// (VmHWM, the kernel's own high-water mark of resident memory), so the
// figure is per process and includes everything: heap, buffers, code.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAverage1m } from './machine.js';

export interface RssRun {
  buyers: number;
  concurrency: number;
  /** Peak resident memory of the coordinator (the `flashsale attack` process), MB. */
  coordinator_peak_mb: number | null;
  /** Peak resident memory of each buyer process, MB. */
  children_peak_mb: number[];
  /** From the attack's own summary. */
  requests_per_second: number | null;
  duration_s: number | null;
  completed: number | null;
  /** Wall time of the whole command, start-up and exit included. */
  wall_s: number;
  /** True when the run was stopped at its deadline. */
  partial: boolean;
  /** The machine's 1-minute load average when it ended. */
  load_average_1m: number;
  /** When something went wrong: what, in one line. */
  error?: string;
}

const SAMPLE_EVERY_MS = 100;

/**
 * A purchase endpoint that costs next to nothing: sells `stock` units with
 * 200 and the remaining stock, then answers 410 sold out.
 */
export async function startTrivialEndpoint(stock: number): Promise<{ url: string; server: Server; reset(stock: number): void }> {
  let left = stock;
  let sold = 0;
  const server = createServer((request, response) => {
    // Read the body to its end before answering, as a real server would.
    request.resume();
    request.on('end', () => {
      let body: string;
      if (left > 0) {
        left -= 1;
        sold += 1;
        response.statusCode = 200;
        body = `{"success":true,"purchase_id":${sold},"remaining_stock":${left}}`;
      } else {
        response.statusCode = 410;
        body = '{"success":false,"error":"sold_out","remaining_stock":0}';
      }
      response.setHeader('content-type', 'application/json');
      response.setHeader('content-length', Buffer.byteLength(body));
      response.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/buy`,
    server,
    reset(units: number) {
      left = units;
      sold = 0;
    },
  };
}

/** Peak resident memory so far (kB) of a process, or undefined once it is gone. */
function vmHwmKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * One attack of `buyers` buyers at `concurrency` in flight, sampled until it
 * exits. Ctrl-C (SIGINT) at the deadline asks it for a partial summary;
 * SIGKILL follows if it does not stop by itself.
 */
export async function measureAttackRss(options: {
  url: string;
  buyers: number;
  concurrency: number;
  scratchDir: string;
  deadlineMs: number;
}): Promise<RssRun> {
  const bin = fileURLToPath(new URL('../../bin/flashsale', import.meta.url));
  const history = join(options.scratchDir, `rss-${options.buyers}.jsonl`);
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [bin, 'attack', '--target', options.url, '--buyers', String(options.buyers), '--concurrency', String(options.concurrency),
      '--ok-status', '200', '--sold-out-status', '410', '--history', history, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  const peaks = new Map<number, number>();
  const sample = () => {
    const coordinator = child.pid;
    if (coordinator === undefined) return;
    const stack = [coordinator];
    for (let guard = 0; stack.length > 0 && guard < 1000; guard++) {
      const pid = stack.pop()!;
      const kb = vmHwmKb(pid);
      if (kb !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kb));
      stack.push(...childPids(pid));
    }
  };
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);
  let partial = false;
  const soft = setTimeout(() => {
    partial = true;
    child.kill('SIGINT');
  }, options.deadlineMs);
  const hard = setTimeout(() => child.kill('SIGKILL'), options.deadlineMs + 20_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  clearInterval(sampler);
  clearTimeout(soft);
  clearTimeout(hard);
  const wallS = (performance.now() - started) / 1000;
  await rm(history, { force: true });

  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  const coordinatorKb = child.pid === undefined ? undefined : peaks.get(child.pid);
  const children = [...peaks].filter(([pid]) => pid !== child.pid).map(([, kb]) => mb(kb));
  const run: RssRun = {
    buyers: options.buyers,
    concurrency: options.concurrency,
    coordinator_peak_mb: coordinatorKb === undefined ? null : mb(coordinatorKb),
    children_peak_mb: children,
    requests_per_second: null,
    duration_s: null,
    completed: null,
    wall_s: wallS,
    partial,
    load_average_1m: loadAverage1m(),
  };
  try {
    const summary = JSON.parse(stdout) as { requests_per_second: number; duration_s: number; completed: number };
    run.requests_per_second = summary.requests_per_second;
    run.duration_s = summary.duration_s;
    run.completed = summary.completed;
  } catch {
    run.error = `attack exited ${signal ?? `with code ${code}`} without a JSON summary: ${stderr.trim().split('\n').pop() ?? ''}`;
  }
  if (code !== 0 && !run.error) run.error = `attack exited ${signal ?? `with code ${code}`}`;
  return run;
}
