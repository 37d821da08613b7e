// npm run bench:attack — attack's request rate next to autocannon's, on the
// same trivial loopback endpoint at the same connection count, alternating
// runs in one benchmark so both see the same machine state. A benchmark, not
// a test: it prints figures and passes or fails nothing.
//
// Fair by construction:
// - both tools run as users run them, a fresh process per run from their own
//   command line (bin/flashsale attack --json, autocannon -j);
// - both are timed by the endpoint, not by themselves: requests served
//   divided by the time from the first request's arrival to the last
//   answer's write, so neither tool's start-up, connection set-up, reporting
//   or clock granularity counts (autocannon's own duration is rounded to its
//   one-second ticks);
// - the endpoint is a bare HTTP/1.1 responder in its own process, much
//   cheaper than node:http, so it is not the first thing to saturate.
//
// A last row runs undici alone (`node dist/bench/attack.js undici URL`): the
// ceiling of any client built on undici, so the table tells undici's gap to
// autocannon from attack's own overhead (history, classification, IPC).
//
// Knobs: BENCH_CONNECTIONS (100), BENCH_REQUESTS per run (200000: runs of a few
// seconds, so start-up and JIT warm-up weigh little), BENCH_ROUNDS (3).

import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Any single run taking longer than this is killed and the benchmark fails. */
const RUN_TIMEOUT_MS = 120_000;

const BODY = '{"success":true,"purchase_id":1,"remaining_stock":1,"request_id":"r"}';

/** Endpoint ↔ benchmark messages: reset the counters before a run, report them after. */
type EndpointCommand = 'reset' | 'report';
interface EndpointReport {
  served: number;
  /** From the first request's arrival to the last answer's write. */
  ns: number;
}

if (process.argv[2] === 'serve') serve();
else if (process.argv[2] === 'undici') await undiciLoop(process.argv[3]!);
else await main();

/**
 * The endpoint: finds each request's end (headers, then Content-Length
 * bytes) and answers with one canned reference-server-shaped 200.
 */
function serve(): void {
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\nkeep-alive: timeout=60\r\n\r\n${BODY}`,
  );
  let served = 0;
  let first = 0n;
  let last = 0n;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (served === 0 && first === 0n) first = process.hrtime.bigint();
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let answers = 0;
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) break;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(pending.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (pending.length < end + 4 + length) break;
        pending = pending.subarray(end + 4 + length);
        answers += 1;
      }
      if (answers === 0) return;
      socket.write(answers === 1 ? response : Buffer.concat(Array.from({ length: answers }, () => response)));
      served += answers;
      last = process.hrtime.bigint();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
  process.on('message', (command: EndpointCommand) => {
    if (command === 'reset') {
      served = 0;
      first = 0n;
      last = 0n;
      process.send!('reset');
    } else {
      process.send!({ served, ns: Number(last - first) } satisfies EndpointReport);
    }
  });
  process.on('disconnect', () => {
    server.close();
    for (const socket of sockets) socket.destroy();
  });
}

/**
 * undici's own ceiling: the least a tool built on it can do for the same
 * work. One Client per connection as attack has, Client.dispatch with a
 * handler on the same callbacks as attack's that drops the body, the same
 * method, headers and body size as attack's default request (a fresh
 * Idempotency-Key each), and nothing else: no history, no classification,
 * no latency, no child process. The gap between this row and autocannon's
 * is undici's; the gap between this row and attack's is attack's own.
 */
async function undiciLoop(url: string): Promise<void> {
  const { Client } = await import('undici');
  const { pathname } = new URL(url);
  const clients = Array.from({ length: CONNECTIONS }, () => new Client(new URL(url).origin, { pipelining: 1 }));
  const run = Date.now().toString(16);
  let sent = 0;
  let answered = 0;
  let finish: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const fire = (client: InstanceType<typeof Client>): void => {
    const i = sent++;
    client.dispatch(
      {
        method: 'POST',
        path: pathname,
        headers: ['content-type', 'application/json', 'idempotency-key', `${run}-${i}`],
        body: Buffer.from(`{"buyer_id":"b-${i}","quantity":1}`),
      },
      {
        onConnect() {},
        onHeaders: () => true,
        onData: () => true,
        onComplete() {
          answered += 1;
          if (sent < REQUESTS) fire(client);
          else if (answered === REQUESTS) finish();
        },
        onError(error) {
          throw error;
        },
      },
    );
  };
  for (const client of clients) if (sent < REQUESTS) fire(client);
  await finished;
  await Promise.all(clients.map((client) => client.close()));
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  const autocannonBin = join(require.resolve('autocannon/package.json'), '..', 'autocannon.js');
  const flashsaleBin = fileURLToPath(new URL('../../bin/flashsale', import.meta.url));
  const endpoint = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [port] = (await once(endpoint, 'message')) as [number];
  const url = `http://127.0.0.1:${port}/buy`;
  const scratch = mkdtempSync(join(tmpdir(), 'flashsale-bench-'));
  const cpus = availableParallelism();

  const autocannon = (workers: number) => [
    autocannonBin, '-c', String(CONNECTIONS), '-a', String(REQUESTS), '-m', 'POST', '-H', 'content-type=application/json',
    '-b', '{"buyer_id":"b-1","quantity":1}', '-j', ...(workers > 1 ? ['-w', String(workers)] : []), url,
  ];
  const attack = (processes: number) => [
    flashsaleBin, 'attack', '--target', url, '--buyers', String(REQUESTS), '--concurrency', String(CONNECTIONS),
    '--processes', String(processes), '--ok-status', '200', '--history', join(scratch, 'history.jsonl'), '--json',
  ];
  const variants = [
    { name: 'autocannon (1 thread, its default)', args: autocannon(1) },
    { name: `attack (${cpus} processes, its default)`, args: attack(cpus) },
    { name: `autocannon (${cpus} workers)`, args: autocannon(cpus) },
    { name: 'attack (1 process)', args: attack(1) },
    { name: 'undici alone (1 process, no history)', args: [fileURLToPath(import.meta.url), 'undici', url] },
  ];

  process.stdout.write(
    `bench:attack: POST ${url}, bare HTTP/1.1 endpoint in its own process, ${CONNECTIONS} connections, ` +
      `${REQUESTS} requests per run, ${ROUNDS} rounds alternating, rate timed at the endpoint; ${cpus} CPUs, node ${process.version}\n`,
  );
  const rates = variants.map(() => [] as number[]);
  try {
    // Round 0 is a warm-up (page cache, the endpoint's JIT) and is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [k, variant] of variants.entries()) {
        const rate = await measure(endpoint, variant.name, variant.args);
        if (round > 0) rates[k]!.push(rate);
      }
    }
  } finally {
    endpoint.disconnect();
    rmSync(scratch, { recursive: true, force: true });
  }

  const width = Math.max(...variants.map((variant) => variant.name.length));
  const medians = rates.map(median);
  for (const [k, variant] of variants.entries()) {
    process.stdout.write(`  ${variant.name.padEnd(width)}  median ${fmt(medians[k]!)} req/s   runs: ${rates[k]!.map(fmt).join(', ')}\n`);
  }
  const [single, attackAll, multi, attackOne, undiciAlone] = medians as [number, number, number, number, number];
  process.stdout.write(
    `ratio attack / autocannon (medians): ${(attackAll / single).toFixed(2)} with each tool's default, ` +
      `${(attackAll / multi).toFixed(2)} at ${cpus} vs ${cpus} processes, ${(attackOne / single).toFixed(2)} at 1 vs 1\n` +
      `ratio undici alone / autocannon (1 vs 1): ${(undiciAlone / single).toFixed(2)}; attack (1 process) / undici alone: ${(attackOne / undiciAlone).toFixed(2)}\n`,
  );
}

/** One run of one tool; returns the rate the endpoint saw. */
async function measure(endpoint: ReturnType<typeof fork>, name: string, args: string[]): Promise<number> {
  endpoint.send('reset' satisfies EndpointCommand);
  await once(endpoint, 'message');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, env: { ...process.env, CI: 'true' } });
  let stderr = '';
  child.stdout.resume();
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}): ${stderr}`);
  endpoint.send('report' satisfies EndpointCommand);
  const [report] = (await once(endpoint, 'message')) as [EndpointReport];
  if (report.served < REQUESTS) throw new Error(`${name}: the endpoint served ${report.served} of ${REQUESTS} requests`);
  return report.served / (report.ns / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function fmt(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}
