// The start barrier: every child opens its connections, then waits; only
// when the last one is ready are they released together. Checked from both
// sides: the history's own times, and a server (in this process, on the same
// monotonic clock) that notes when connections and requests arrive.
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

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-barrier-'));
const CONCURRENCY = 40;
const BUYERS = 400;

describe('attack: start barrier', () => {
  let server: Server;
  let target: string;
  /** Connections accepted, and open at the moment. */
  let accepted = 0;
  let open = 0;
  /** Connections open when the first request arrived. */
  let openAtFirstRequest: number | undefined;
  /** hrtime of every request's arrival at the server. */
  const arrivals: bigint[] = [];

  before(async () => {
    server = createServer((request, response) => {
      arrivals.push(process.hrtime.bigint());
      openAtFirstRequest ??= open;
      request.resume();
      request.on('end', () => {
        response.writeHead(410, { 'content-type': 'application/json' });
        response.end('{"success":false,"error":"sold_out","remaining_stock":0}');
      });
    });
    server.on('connection', (socket) => {
      accepted += 1;
      open += 1;
      socket.on('close', () => (open -= 1));
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('no request is invoked, or arrives, before the last child reported ready; all connections were open first', async () => {
    const history = join(scratch, 'barrier.jsonl');
    const run = await runCli(
      ['attack', '--target', target, '--buyers', String(BUYERS), '--concurrency', String(CONCURRENCY), '--processes', '2', '--history', history, '--json'],
      { env: { CI: 'true' } },
    );
    assert.equal(run.code, 0, run.stderr);
    const { meta, ops } = await openHistory(history);
    const seen: OpRecord[] = [];
    for await (const op of ops) seen.push(op);
    assert.equal(seen.length, BUYERS);
    assert.equal(arrivals.length, BUYERS);

    assert.ok(meta.ready_at > 0n && meta.released_at >= meta.ready_at, 'the meta line records the barrier');
    const firstInvocation = seen.reduce((first, op) => (op.t_inv < first ? op.t_inv : first), seen[0]!.t_inv);
    const firstArrival = arrivals.reduce((first, at) => (at < first ? at : first));
    assert.ok(firstInvocation >= meta.ready_at, `first t_inv ${firstInvocation} precedes ready_at ${meta.ready_at}`);
    assert.ok(firstArrival >= meta.ready_at, `a request reached the server at ${firstArrival}, before ready_at ${meta.ready_at}`);
    // Every connection (40, split over 2 children) was open before the first
    // request: the children connect first, then wait at the barrier.
    assert.equal(openAtFirstRequest, CONCURRENCY);
    // …and were reused: no connection was opened during the run (the one
    // more is the preflight's, opened and closed before anything else).
    assert.ok(accepted <= CONCURRENCY + 1, `${accepted} connections accepted`);
    assert.deepEqual(new Set(seen.map((op) => op.process)), new Set([0, 1]));
  });
});
