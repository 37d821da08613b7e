// Servers that misbehave, written here: each kind of answer (or non-answer)
// must map to its documented outcome and type. One server plays every part,
// chosen by the buyer's index, so one attack covers them all.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHistory } from '../src/history/reader.js';
import type { OpRecord, Outcome, OpType } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-outcomes-'));

/** What the server does for buyer i, by i modulo the number of parts. */
const PARTS: { name: string; outcome: Outcome; type: OpType; status: number | null }[] = [
  { name: 'buys', outcome: 'bought', type: 'ok', status: 200 },
  { name: 'sold out', outcome: 'sold_out', type: 'fail', status: 410 },
  { name: '5xx', outcome: 'http_5xx', type: 'info', status: 503 },
  { name: 'hangs past the timeout', outcome: 'timeout', type: 'info', status: null },
  { name: 'resets the connection', outcome: 'conn_reset', type: 'info', status: null },
  { name: 'garbage body', outcome: 'bad_body', type: 'info', status: 200 },
  { name: '4xx', outcome: 'rejected', type: 'fail', status: 400 },
  { name: 'ok without the remaining field', outcome: 'bad_body', type: 'info', status: 200 },
  { name: '202 (no rule)', outcome: 'bad_body', type: 'info', status: 202 },
];
const BUYERS = PARTS.length * 4;

describe('attack: every misbehaviour maps to its outcome and type', () => {
  let server: Server;
  let target: string;
  let stock = 1000;

  before(async () => {
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => (text += chunk));
      request.on('end', () => {
        const i = (JSON.parse(text) as { i: number }).i;
        const json = (status: number, body: unknown) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(body));
        };
        switch (PARTS[i % PARTS.length]!.name) {
          case 'buys':
            return json(200, { success: true, purchase_id: 1000 + i, remaining_stock: --stock });
          case 'sold out':
            return json(410, { success: false, error: 'sold_out', remaining_stock: 0 });
          case '5xx':
            return json(503, { success: false, error: 'lock_timeout' });
          case 'hangs past the timeout':
            return; // never answers
          case 'resets the connection':
            return request.socket.destroy();
          case 'garbage body':
            response.writeHead(200, { 'content-type': 'application/json' });
            return response.end('<html>Internal oops</html>');
          case '4xx':
            return json(400, { success: false, error: 'invalid_request' });
          case 'ok without the remaining field':
            return json(200, { success: true });
          case '202 (no rule)':
            return json(202, { queued: true });
        }
      });
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('one attack, each part checked op by op', async () => {
    const history = join(scratch, 'outcomes.jsonl');
    const run = await runCli(
      ['attack', '--target', target, '--buyers', String(BUYERS), '--processes', '2', '--timeout', '500ms', '--body', '{"i":{{i}}}', '--history', history, '--json'],
      { env: { CI: 'true' } },
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    const { ops } = await openHistory(history);
    const seen: OpRecord[] = [];
    for await (const op of ops) seen.push(op);
    assert.equal(seen.length, BUYERS);

    for (const op of seen) {
      const i = Number(op.buyer.slice('b-'.length));
      const part = PARTS[i % PARTS.length]!;
      assert.equal(op.outcome, part.outcome, `${part.name} (buyer ${op.buyer}): ${JSON.stringify(op, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      assert.equal(op.type, part.type, part.name);
      assert.equal(op.status, part.status, part.name);
      if (part.type === 'info' || part.outcome === 'rejected') assert.ok(op.error, `${part.name} says why`);
      if (part.outcome === 'bought') {
        assert.equal(op.purchase_id, String(1000 + i));
        assert.equal(typeof op.remaining, 'number');
        assert.equal(op.error, null);
      }
      if (part.outcome === 'sold_out') assert.equal(op.remaining, 0);
      if (part.outcome === 'timeout') {
        // Cut at the timeout, not long after.
        const waitedMs = Number(op.t_cmp - op.t_inv) / 1e6;
        assert.ok(waitedMs >= 450 && waitedMs < 3000, `timed out after ${waitedMs} ms`);
      }
    }
    assert.equal(summary.types.info, 4 * PARTS.filter((part) => part.type === 'info').length);
    assert.ok(summary.errors.some((error: { cause: string }) => error.cause === 'HTTP 503'));
  });
});
