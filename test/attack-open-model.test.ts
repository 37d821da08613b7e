// The open model: arrivals at a rate, whatever the server does. Against a
// server that serves one request at a time with a fixed delay, a rate above
// its capacity builds a queue; the reported latency must grow with that queue
// instead of showing only the fixed delay (no coordinated omission).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHistory } from '../src/history/reader.js';
import type { OpRecord } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-open-'));
/** The server's fixed service time; one request at a time, so capacity is 1000 / DELAY_MS per second. */
const DELAY_MS = 20;
/** Twice the capacity. */
const RATE = 100;
const BUYERS = 60;

async function opsOf(path: string): Promise<OpRecord[]> {
  const { ops } = await openHistory(path);
  const all: OpRecord[] = [];
  for await (const op of ops) all.push(op);
  return all.sort((a, b) => (a.t_inv < b.t_inv ? -1 : 1));
}

const ms = (ns: bigint) => Number(ns) / 1e6;
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

describe('attack --rate: open model against a server slower than the arrivals', () => {
  let server: Server;
  let target: string;

  before(async () => {
    // A single-file queue: each request waits for the one before it, then DELAY_MS.
    let queue: Promise<void> = Promise.resolve();
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        queue = queue.then(
          () =>
            new Promise<void>((resolve) =>
              setTimeout(() => {
                response.writeHead(410, { 'content-type': 'application/json' });
                response.end('{"success":false,"error":"sold_out","remaining_stock":0}');
                resolve();
              }, DELAY_MS),
            ),
        );
      });
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('latency grows with the server-side queue, far beyond the fixed delay', async () => {
    const history = join(scratch, 'open.jsonl');
    const run = await runCli(
      ['attack', '--target', target, '--buyers', String(BUYERS), '--rate', String(RATE), '--seed', '42', '--processes', '2', '--history', history, '--json'],
      { env: { CI: 'true' } },
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.model, 'open');
    assert.equal(summary.rate, RATE);
    assert.equal(summary.seed, 42);
    assert.equal(summary.completed, BUYERS);

    // 60 arrivals in about 0.6 s, served in 1.2 s: the last ones wait ~0.6 s.
    assert.ok(summary.latency_ms.max > 10 * DELAY_MS, `max latency ${summary.latency_ms.max} ms`);
    assert.ok(summary.latency_ms.p50 > 2 * DELAY_MS, `median latency ${summary.latency_ms.p50} ms`);
    const ops = await opsOf(history);
    const latencies = ops.map((op) => ms(op.t_cmp - op.t_inv));
    const early = mean(latencies.slice(0, 10));
    const late = mean(latencies.slice(-10));
    assert.ok(late > 4 * early, `latency did not grow with the queue: first ten ${early} ms, last ten ${late} ms`);
  });

  test('waiting for a connection on the client side counts too (latency from the intended send time)', async () => {
    // Two connections for arrivals twice as fast as the server: requests wait
    // in the attacker for a free connection. Each exchange itself is short
    // (t_cmp - t_inv is at most two service times), but buyers waited longer.
    const history = join(scratch, 'open-queued.jsonl');
    const run = await runCli(
      ['attack', '--target', target, '--buyers', String(BUYERS), '--rate', String(RATE), '--seed', '42', '--concurrency', '2', '--processes', '2', '--history', history, '--json'],
      { env: { CI: 'true' } },
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    const ops = await opsOf(history);
    const exchange = Math.max(...ops.map((op) => ms(op.t_cmp - op.t_inv)));
    assert.ok(summary.latency_ms.max > 3 * exchange, `reported max ${summary.latency_ms.max} ms vs longest exchange ${exchange} ms`);
    assert.ok(summary.late > 0, 'arrivals that waited for a connection are reported late');
    assert.equal(summary.dropped, 0);
  });

  test('an arrival that cannot be sent within the timeout is dropped, counted, and never sent', async () => {
    // One connection, arrivals every 5 ms on average, 20 ms per answer, 100 ms
    // timeout: the backlog soon waits longer than the timeout.
    const history = join(scratch, 'open-dropped.jsonl');
    const run = await runCli(
      ['attack', '--target', target, '--buyers', '60', '--rate', '200', '--seed', '7', '--concurrency', '1', '--processes', '1', '--timeout', '100ms', '--history', history, '--json'],
      { env: { CI: 'true' } },
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.ok(summary.dropped > 0, `nothing dropped: ${run.stdout}`);
    assert.equal(summary.sent + summary.dropped, 60);
    assert.equal(summary.completed, summary.sent);
    assert.equal((await opsOf(history)).length, summary.sent, 'only what was sent is in the history');
  });
});
