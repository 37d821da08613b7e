// The HTML report's data reduction, without a browser: a million operations
// become a bounded number of points, and no witness operation is ever left out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_BINS, RARE_OUTCOME, reportData, sampleTimeline, STOCK_BUDGET, TIMELINE_BUDGET } from '../src/report/html/data.js';
import { renderHtmlReport } from '../src/report/html/report.js';
import { scriptSafeJson } from '../src/report/html/template.js';
import type { FinalState } from '../src/verify/db-audit.js';
import type { Operation } from '../src/verify/operation.js';
import { judge } from '../src/verify/verify.js';

const FILE = 'crafted.jsonl';

/**
 * A correct run of `count` buyers for `stock` units over two processes, 1 µs
 * apart, each request 0.2–1.2 ms, as bench/verify.ts generates; `timeouts`
 * requests time out (a rare outcome).
 */
function run(count: number, stock: number, timeouts = 0): Operation[] {
  const ops: Operation[] = [];
  for (let i = 0; i < count; i++) {
    const bought = i < stock;
    const timedOut = !bought && i % Math.floor(count / Math.max(1, timeouts)) === 0 && timeouts > 0;
    const invoke = i * 1000;
    ops.push({
      type: bought ? 'ok' : timedOut ? 'info' : 'fail',
      outcome: bought ? 'bought' : timedOut ? 'timeout' : 'sold_out',
      invoke,
      complete: invoke + 200_000 + ((i * 7919) % 1_000_000),
      remaining: bought ? stock - 1 - i : timedOut ? null : 0,
      quantity: 1,
      requestId: `r-${i}`,
      buyer: `b-${i}`,
      purchaseId: bought ? String(i + 1) : null,
      process: i % 2,
      status: bought ? 200 : timedOut ? null : 410,
      error: timedOut ? 'no answer within 5000 ms' : null,
      file: FILE,
      line: i + 2,
    });
  }
  return ops;
}

const evidence = (stock: number, state?: FinalState) => ({ initialStock: stock, state, realtime: { exact: true as const }, maxErrors: Infinity });

describe('the report of a million operations', () => {
  const count = 1_000_000;
  const stock = 500_000;
  const ops = run(count, stock, 200);
  // A lost update deep inside the run: two buyers told the same remaining (H2).
  const lost = ops[123_457]!;
  lost.remaining = ops[123_456]!.remaining;
  const verdict = judge(ops, evidence(stock));
  const data = reportData({ title: '1M', verdict, history: { ops, files: [], base: undefined }, state: undefined });

  test('the crafted anomaly fails H2 with witnesses', () => {
    const h2 = verdict.checks.find((check) => check.id === 'H2')!;
    assert.equal(h2.status, 'FAIL');
    assert.ok(h2.witnesses.length > 0);
  });

  test('the timeline draws a bounded sample, every timeout among it', () => {
    const { timeline } = data;
    assert.equal(timeline.total, count);
    assert.ok(timeline.shown <= TIMELINE_BUDGET + RARE_OUTCOME + 50, `${timeline.shown} operations drawn`);
    assert.ok(timeline.shown >= TIMELINE_BUDGET / 2, `${timeline.shown} operations drawn: the budget is used`);
    const timeouts = timeline.ops.outcome.filter((_, i) => timeline.ops.status[i] === null).length;
    assert.equal(timeouts, ops.filter((op) => op.outcome === 'timeout').length, 'a rare outcome is drawn whole');
  });

  test('every witness operation is on the timeline, marked, and its link points at it', () => {
    const { timeline, checks } = data;
    const links = checks.flatMap((check) => check.witnesses.flatMap((witness) => witness.operations));
    assert.ok(links.length > 0);
    for (const link of links) {
      assert.notEqual(link.op, null, `${link.text} has no place on the timeline`);
      const column = link.op!;
      assert.equal(timeline.ops.witness[column], 1);
      assert.ok(link.text.endsWith(`[${timeline.files[timeline.ops.file[column]!]}:${timeline.ops.line[column]}]`), `${link.text} links to line ${timeline.ops.line[column]}`);
    }
    const lines = new Set(links.map((link) => timeline.ops.line[link.op!]));
    assert.ok(lines.has(lost.line), 'the lost update itself is linked');
  });

  test('the charts over time, the percentile curve and the stock chart are bounded', () => {
    assert.ok(data.overTime.t.length <= MAX_BINS);
    for (const series of Object.values(data.overTime.throughput)) assert.equal(series.length, data.overTime.t.length);
    const totalRate = data.overTime.t.reduce((sum, _, bin) => sum + Object.values(data.overTime.throughput).reduce((s, series) => s + series[bin]!, 0), 0);
    // Rates times the bin width give back every answered operation (to rounding).
    assert.ok(Math.abs((totalRate * data.overTime.binMs) / 1000 - count) < count * 0.01, `${(totalRate * data.overTime.binMs) / 1000} answers in the bins`);
    assert.ok(data.percentiles.percentiles.length <= 30);
    assert.equal(data.percentiles.counts.all, count);
    assert.ok(data.stock.shown <= STOCK_BUDGET + 20);
    assert.equal(data.stock.total, stock);
    assert.ok(data.stock.witnesses.length > 0, 'the witness answers are on the stock chart');
  });

  test('the page stays small', () => {
    const html = renderHtmlReport('1M', [data]);
    assert.ok(html.length < 4_000_000, `${html.length} bytes`);
  });
});

describe('sampling', () => {
  test('a run under the budget is drawn whole', () => {
    const ops = run(500, 100);
    assert.equal(sampleTimeline(ops, new Set()).length, 500);
  });

  test('a kept operation is drawn even where the stride skips it', () => {
    const ops = run(100_000, 50_000);
    const sample = sampleTimeline(ops, new Set([77_777]), 1_000);
    assert.ok(sample.includes(77_777));
    assert.ok(sample.length <= 1_001 + 1, `${sample.length}`);
  });

  test('unanswered operations have no place on the time axis', () => {
    const ops = run(10, 5);
    ops[3]!.complete = Infinity;
    assert.ok(!sampleTimeline(ops, new Set()).includes(3));
  });
});

describe('the stock chart', () => {
  test("joins each answer to its ledger row's stock_after by request id", () => {
    const ops = run(10, 5);
    const ledger = ops.slice(0, 5).map((op, i) => ({ requestId: op.requestId, quantity: 1, stockAfter: i === 2 ? 99 : op.remaining! }));
    const state: FinalState = { finalStock: 0, ledger, columns: { requestId: true, stockAfter: true }, source: 'crafted' };
    const data = reportData({ title: 't', verdict: judge(ops, evidence(5, state)), history: { ops, files: [], base: undefined }, state });
    assert.equal(data.stock.joined, 'request id');
    const byTime = data.stock.t.map((t, i) => [t, data.stock.reported[i], data.stock.ledger[i]]);
    assert.ok(byTime.some(([, reported, ledger]) => reported === 2 && ledger === 99), JSON.stringify(byTime));
  });
});

describe('faults', () => {
  test('are placed on the operations’ time axis', () => {
    const ops = run(10, 5);
    const base = 1_000_000_000n;
    const fault = { kind: 'fault' as const, name: 'kill', detail: 'worker 1', t_start: base + 2_000_000n, t_end: base + 3_500_000n, error: null };
    const files = [{ file: FILE, meta: {} as never, end: undefined, faults: [fault], cutLine: undefined, recorded: 10, unrecorded: 0 }];
    const data = reportData({ title: 't', verdict: judge(ops, evidence(5)), history: { ops, files, base }, state: undefined });
    assert.deepEqual(data.faults, [{ name: 'kill', detail: 'worker 1', error: null, startMs: 2, endMs: 3.5 }]);
  });
});

test('the embedded data cannot end its script element', () => {
  const json = scriptSafeJson({ text: '</script><script>alert(1)</script>' });
  assert.ok(!json.includes('<'));
  assert.deepEqual(JSON.parse(json), { text: '</script><script>alert(1)</script>' });
});
