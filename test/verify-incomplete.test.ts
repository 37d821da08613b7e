// A history may be cut at any byte (the attack killed, the disk full): verify
// must read what is there, say what is missing, count every planned request
// without an answer as unknown, and never blame the server for the ledger
// rows those requests wrote. Cut at every byte after the meta line, a run
// whose every sale is in the ledger never FAILS; a lost sale still does.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { FinalState, LedgerEntry } from '../src/verify/db-audit.js';
import { loadHistories } from '../src/verify/load-history.js';
import { judge } from '../src/verify/verify.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-incomplete-'));
const RELEASED = 7_000_000_000;

const meta = (buyers: number, runId = 'r9') =>
  JSON.stringify({
    kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/buy', buyers, started_at: '2026-11-23T10:00:00.000Z', method: 'POST',
    quantity: 1, processes: 2, concurrency: buyers, rate: null, seed: 1, run_id: runId, host_id: 'test/boot', ready_at: RELEASED - 10, released_at: RELEASED,
  });

const op = (requestId: string, buyer: string, outcome: 'bought' | 'sold_out' | 'timeout', t: number, remaining: number | null) =>
  JSON.stringify({
    kind: 'op', process: 0, buyer, request_id: requestId, type: { bought: 'ok', sold_out: 'fail', timeout: 'info' }[outcome], outcome,
    t_inv: RELEASED + t, t_cmp: RELEASED + t + 500, status: { bought: 200, sold_out: 410, timeout: null }[outcome], remaining,
    purchase_id: outcome === 'bought' ? String(100 + t) : null, error: outcome === 'timeout' ? 'no answer within 5000 ms' : null,
  });

const row = (requestId: string, stockAfter: number, buyerId?: string): LedgerEntry => ({ requestId, buyerId, quantity: 1, stockAfter, id: `row-${requestId}` });
const state = (finalStock: number, ledger: LedgerEntry[]): FinalState => ({ finalStock, ledger, columns: { requestId: true, stockAfter: true }, source: 'crafted' });

// Stock 4, six buyers planned: buyers 0–3 bought (stock_after 3..0), 4 and 5
// were told sold out. A fault ran mid-way; the end record closes the file.
const lines = [
  meta(6),
  op('r9-0', 'b-0', 'bought', 0, 3),
  op('r9-1', 'b-1', 'bought', 1000, 2),
  '{"kind":"fault","name":"kill","detail":"server pid 42","t_start":7000001600,"t_end":7000001700,"error":null}',
  op('r9-2', 'b-2', 'bought', 2000, 1),
  op('r9-3', 'b-3', 'timeout', 3000, null),
  op('r9-4', 'b-4', 'sold_out', 9000, 0),
  op('r9-5', 'b-5', 'sold_out', 9100, 0),
  '{"kind":"end","planned":6,"recorded":6,"reason":"done"}',
];
const text = `${lines.join('\n')}\n`;
const everySale = state(0, [row('r9-0', 3), row('r9-1', 2), row('r9-2', 1), row('r9-3', 0)]);

async function judgeCut(bytes: number, finalState: FinalState) {
  const path = join(scratch, `cut-${bytes}.jsonl`);
  writeFileSync(path, text.slice(0, bytes));
  const history = await loadHistories([path]);
  return { history, verdict: judge(history.ops, { initialStock: 4, state: finalState, realtime: history.realtime, maxErrors: 1, files: history.files }) };
}

describe('a history cut at any byte', () => {
  test('whole, it passes and reads its fault and end record', async () => {
    const { history, verdict } = await judgeCut(text.length, everySale);
    assert.equal(verdict.status, 'PASS', verdict.headline);
    assert.equal(history.files[0]!.end?.reason, 'done');
    assert.deepEqual(history.files[0]!.faults.map((fault) => fault.detail), ['server pid 42']);
    assert.equal(verdict.inputs.history, 'complete (end record present)');
  });

  test('cut anywhere after the meta line, never FAIL, and every planned request is accounted for', async () => {
    const start = text.indexOf('\n') + 1;
    // Up to the end record's last brace: with it, only the newline is missing, and the history is whole.
    for (let bytes = start; bytes <= text.lastIndexOf('}'); bytes++) {
      const { history, verdict } = await judgeCut(bytes, everySale);
      const where = `cut at byte ${bytes} of ${text.length}: ${verdict.headline}`;
      assert.notEqual(verdict.status, 'FAIL', where);
      const [file] = history.files;
      assert.equal(file!.end, undefined, where);
      // Recorded ops and unrecorded unknowns together are the six planned requests, each once.
      assert.deepEqual(history.ops.map((o) => o.requestId).sort(), ['r9-0', 'r9-1', 'r9-2', 'r9-3', 'r9-4', 'r9-5'], where);
      if (file!.unrecorded > 0) assert.match(verdict.headline, /incomplete history: cut-\d+\.jsonl has no end record/, where);
      const d3 = verdict.checks.find((check) => check.id === 'D3')!;
      assert.match(d3.summary, /unexpected 0/, where);
    }
  });

  test('cut anywhere, a sale missing from the ledger is still lost', async () => {
    const lostOne = state(1, [row('r9-0', 3), row('r9-2', 1), row('r9-3', 0)]);
    // From the line of buyer 1's answer on, the lost sale is on record.
    const recorded = text.indexOf('\n', text.indexOf('"r9-1"')) + 1;
    for (let bytes = recorded; bytes < text.length; bytes += 7) {
      const { verdict } = await judgeCut(bytes, lostOne);
      assert.equal(verdict.status, 'FAIL', `cut at byte ${bytes}`);
      assert.match(verdict.headline, /D3 ledger-vs-responses/);
    }
  });
});

describe('unrecorded requests of a history whose ids are not the attack\'s', () => {
  // Foreign ids: verify cannot name the missing requests, so it adds them
  // without ids, and their rows are recovered by count.
  const path = join(scratch, 'foreign-ids.jsonl');
  writeFileSync(path, `${[meta(4, 'r7'), op('order-a', 'alice', 'bought', 0, 3), op('order-b', 'bob', 'bought', 1000, 2)].join('\n')}\n`);

  test('rows up to the number of unrecorded requests are recovered; one more is unexpected', async () => {
    const history = await loadHistories([path]);
    assert.equal(history.files[0]!.unrecorded, 2);
    assert.ok(history.ops.filter((o) => o.outcome === 'unrecorded').every((o) => o.requestId === '' && o.type === 'info' && o.complete === Infinity));
    const rows = [row('order-a', 3), row('order-b', 2), row('someone-1', 1), row('someone-2', 0)];
    const passing = judge(history.ops, { initialStock: 4, state: state(0, rows), realtime: history.realtime, maxErrors: 0, files: history.files });
    assert.equal(passing.status, 'PASS', passing.headline);
    assert.match(passing.checks.find((c) => c.id === 'D3')!.summary, /recovered 2 \(2 by requests the incomplete history did not record\)/);
    assert.match(passing.checks.find((c) => c.id === 'D6')!.summary, /2 unknown ops settled as bought/);
    const extra = judge(history.ops, { initialStock: 5, state: state(0, [...rows, row('someone-3', 4)]), realtime: history.realtime, maxErrors: 0, files: history.files });
    const d3 = extra.checks.find((c) => c.id === 'D3')!;
    assert.equal(d3.status, 'FAIL');
    assert.equal(d3.violations, 1);
  });
});
