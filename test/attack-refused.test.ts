// Refused answers ("not now, try again") and answers that contradict the
// stock, through the real bin/ against a server that plays each part by the
// buyer's index: each must land in its documented outcome, and the summary
// must count refused apart from sold out.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Outcome } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';
import { historyLines, opLines, show } from './helpers/history-lines.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-refused-'));

const PARTS: { name: string; outcome: Outcome; status: number; headers?: Record<string, string>; body: unknown; remaining?: number | null }[] = [
  { name: '429', outcome: 'refused', status: 429, body: { error: 'slow down' } },
  { name: '503 with Retry-After (the reference server\'s lock timeout)', outcome: 'refused', status: 503, headers: { 'retry-after': '1' }, body: { success: false, error: 'lock_timeout' } },
  { name: 'bare 503 (maybe a proxy, after the server acted)', outcome: 'http_5xx', status: 503, body: { error: 'unavailable' } },
  { name: '200 whose body says try again', outcome: 'refused', status: 200, body: { success: false, message: 'lock missed, try again' } },
  { name: '400 whose body says try again', outcome: 'refused', status: 400, body: { message: 'busy, try again' } },
  { name: 'sold out', outcome: 'sold_out', status: 410, body: { success: false, error: 'sold_out', remaining_stock: 0 }, remaining: 0 },
  { name: 'ok with a negative remaining', outcome: 'bought', status: 200, body: { success: true, purchase_id: 1, remaining_stock: -3 }, remaining: -3 },
  { name: 'ok with a fractional remaining', outcome: 'bad_body', status: 200, body: { success: true, purchase_id: 2, remaining_stock: 2.5 }, remaining: null },
];
const ROUNDS = 3;

describe('attack: refused answers and contradicting stock', () => {
  let server: Server;
  let target: string;

  before(async () => {
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => (text += chunk));
      request.on('end', () => {
        const part = PARTS[(JSON.parse(text) as { i: number }).i % PARTS.length]!;
        response.writeHead(part.status, { 'content-type': 'application/json', ...part.headers });
        response.end(JSON.stringify(part.body));
      });
    });
    target = await listenOnLoopback(server);
  });
  after(() => closeNow(server));

  test('each part lands in its outcome; the summary counts refused apart', async () => {
    const history = join(scratch, 'refused.jsonl');
    const buyers = PARTS.length * ROUNDS;
    const args = ['attack', '--target', target, '--buyers', String(buyers), '--processes', '2', '--body', '{"i":{{i}}}', '--refused-body', 'try again', '--history', history];
    const run = await runCli([...args, '--json'], { env: { CI: 'true' } });
    assert.equal(run.code, 0, run.stderr);
    const ops = opLines(historyLines(history));
    assert.equal(ops.length, buyers);
    for (const op of ops) {
      const part = PARTS[Number(op.buyer.slice(2)) % PARTS.length]!;
      assert.equal(op.outcome, part.outcome, `${part.name}: ${show(op)}`);
      assert.equal(op.type, part.outcome === 'bought' ? 'ok' : part.outcome === 'http_5xx' || part.outcome === 'bad_body' ? 'info' : 'fail', part.name);
      if (part.remaining !== undefined) assert.equal(op.remaining, part.remaining, part.name);
      if (part.outcome === 'refused') assert.equal(op.remaining, null, 'a refusal claims nothing about stock');
    }
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.outcomes.refused, 4 * ROUNDS);
    assert.equal(summary.outcomes.sold_out, ROUNDS);
    assert.equal(summary.outcomes.bought, ROUNDS);

    const text = await runCli(args, { env: { CI: 'true' } });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /refused\s+│ fail\s+│\s+12 │/);
    assert.match(text.stdout, /fail 15 \(surely not, 12 of them refused "try again"\)/);
  });

  test('--refused-status "" turns the status rule off: a 429 is a plain rejection, a 503 with Retry-After unknown', async () => {
    const history = join(scratch, 'no-refused.jsonl');
    const run = await runCli(['attack', '--target', target, '--buyers', '2', '--processes', '1', '--body', '{"i":{{i}}}', '--refused-status', '', '--history', history, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const outcomes = Object.fromEntries(opLines(historyLines(history)).map((op) => [op.buyer, op.outcome]));
    assert.deepEqual(outcomes, { 'b-0': 'rejected', 'b-1': 'http_5xx' });
  });

  test('a 409 "conflict, retry" is sold out by default, and refused with --refused-status 409 alone', async () => {
    const conflict = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(409, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'conflict, retry' }));
      });
    });
    const conflictTarget = await listenOnLoopback(conflict);
    try {
      const byDefault = join(scratch, 'conflict-default.jsonl');
      const plain = await runCli(['attack', '--target', conflictTarget, '--buyers', '2', '--processes', '1', '--history', byDefault, '--json']);
      assert.equal(plain.code, 0, plain.stderr);
      assert.deepEqual(opLines(historyLines(byDefault)).map((op) => op.outcome), ['sold_out', 'sold_out']);
      // The user said what 409 means here; the default sold-out list must give way, as the refused defaults do.
      const history = join(scratch, 'conflict-refused.jsonl');
      const run = await runCli(['attack', '--target', conflictTarget, '--buyers', '2', '--processes', '1', '--refused-status', '409', '--history', history, '--json']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(opLines(historyLines(history)).map((op) => op.outcome), ['refused', 'refused']);
      // Both given on purpose is still a contradiction.
      const both = await runCli(['attack', '--target', conflictTarget, '--buyers', '2', '--sold-out-status', '409', '--refused-status', '409', '--history', join(scratch, 'both.jsonl')]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /409 is in both --sold-out-status and --refused-status/);
    } finally {
      closeNow(conflict);
    }
  });
});
