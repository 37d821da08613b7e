// The checker's core claim, tested against the definition: for one unit per
// purchase, verify FAILS a history exactly when no linearization of it
// exists. Thousands of small random histories (stock ≤ 4, ≤ 7 operations,
// overlapping intervals, unknown outcomes, with and without a final stock)
// are judged both by verify and by an exhaustive search written here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Operation } from '../src/verify/operation.js';
import { judge } from '../src/verify/verify.js';

type Kind = 'ok' | 'sold_out' | 'info' | 'rejected' | 'refused';

interface SmallOp {
  kind: Kind;
  invoke: number;
  complete: number;
  /** For ok: the remaining stock the buyer was told. */
  remaining: number;
}

interface SmallHistory {
  stock: number;
  ops: SmallOp[];
  finalStock: number | undefined;
}

function toOperation(op: SmallOp, index: number): Operation {
  const type = op.kind === 'ok' ? 'ok' : op.kind === 'info' ? 'info' : 'fail';
  return {
    type,
    outcome: op.kind === 'ok' ? 'bought' : op.kind === 'info' ? 'timeout' : op.kind,
    // A refused answer ("try again") is a fail that says nothing of the stock.
    invoke: op.invoke,
    complete: op.complete,
    remaining: op.kind === 'ok' ? op.remaining : null,
    quantity: 1,
    requestId: `r${index}`,
    buyer: `b${index}`,
    purchaseId: null,
    process: 0,
    status: null,
    error: null,
    file: 'generated',
    line: index + 2,
  };
}

/**
 * PASS or FAIL. Without a final stock the run is judged history-only; with
 * one but no ledger, only the ledger checks may be left undecided, which the
 * oracle (which knows no ledger) does not judge either.
 */
function verdictOf(history: SmallHistory): 'PASS' | 'FAIL' {
  const state = history.finalStock === undefined ? undefined : { finalStock: history.finalStock, ledger: undefined, columns: { requestId: false, stockAfter: false }, source: 'test' };
  const verdict = judge(history.ops.map(toOperation), { initialStock: history.stock, state, realtime: { exact: true }, maxErrors: Infinity, historyOnly: state === undefined });
  if (verdict.status === 'FAIL') return 'FAIL';
  const undecided = verdict.checks.filter((check) => check.status === 'UNKNOWN' && !check.waived && check.needs !== '--ledger-sql');
  assert.deepEqual(undecided, [], 'only the ledger checks may be undecided');
  return 'PASS';
}

/**
 * Exhaustive search for a linearization. Rejected and refused requests had
 * no effect and take no part: a refusal ("try again") is not a sold-out, so
 * it may come at any stock. Each unknown (info) op either took effect or did not; one that
 * did may land at any time after its invocation (it never "completes"). An op
 * may come next only when every op that completed before it was invoked has
 * come already.
 */
function linearizable(history: SmallHistory): boolean {
  const ops = history.ops.filter((op) => op.kind !== 'rejected' && op.kind !== 'refused');
  const infos = ops.map((op, i) => (op.kind === 'info' ? i : -1)).filter((i) => i >= 0);
  for (let subset = 0; subset < 1 << infos.length; subset++) {
    const applied = ops.filter((op, i) => op.kind !== 'info' || (subset >> infos.indexOf(i)) & 1);
    if (search(applied, history.stock, history.finalStock)) return true;
  }
  return false;
}

function search(ops: SmallOp[], stock: number, finalStock: number | undefined): boolean {
  const complete = (op: SmallOp) => (op.kind === 'info' ? Infinity : op.complete);
  const everything = (1 << ops.length) - 1;
  const seen = new Set<string>();
  const step = (done: number, current: number): boolean => {
    if (done === everything) return finalStock === undefined || current === finalStock;
    const key = `${done}/${current}`;
    if (seen.has(key)) return false;
    seen.add(key);
    for (let i = 0; i < ops.length; i++) {
      if (done & (1 << i)) continue;
      const op = ops[i]!;
      const blocked = ops.some((other, j) => !(done & (1 << j)) && j !== i && complete(other) < op.invoke);
      if (blocked) continue;
      let next: number | undefined;
      if (op.kind === 'ok' && current >= 1 && current - 1 === op.remaining) next = current - 1;
      if (op.kind === 'sold_out' && current === 0) next = current;
      if (op.kind === 'info' && current >= 1) next = current - 1;
      if (next !== undefined && step(done | (1 << i), next)) return true;
    }
    return false;
  };
  return step(0, stock);
}

const interval = fc.record({ invoke: fc.integer({ min: 0, max: 12 }), length: fc.integer({ min: 0, max: 8 }) });

/** Any small history: most are not linearizable. */
const randomHistory: fc.Arbitrary<SmallHistory> = fc.integer({ min: 0, max: 4 }).chain((stock) =>
  fc.record({
    stock: fc.constant(stock),
    ops: fc.array(
      fc.record({
        kind: fc.constantFrom<Kind>('ok', 'ok', 'ok', 'sold_out', 'info', 'rejected', 'refused'),
        time: interval,
        // -1: a server that claims a negative stock.
        remaining: fc.integer({ min: -1, max: stock + 1 }),
      }).map(({ kind, time, remaining }) => ({ kind, invoke: time.invoke, complete: time.invoke + time.length, remaining })),
      { maxLength: 7 },
    ),
    finalStock: fc.option(fc.integer({ min: 0, max: stock + 1 }), { nil: undefined }),
  }),
);

/**
 * A history produced by a real sequential execution (each op takes effect at
 * a point inside its interval), so it is linearizable; optionally nudged by
 * one change, which often breaks it in a subtle way.
 */
const executedHistory: fc.Arbitrary<SmallHistory> = fc
  .record({
    stock: fc.integer({ min: 0, max: 4 }),
    ops: fc.array(
      fc.record({ time: interval, point: fc.double({ min: 0, max: 1, noNaN: true }), unknown: fc.boolean(), unknownTookEffect: fc.boolean(), refused: fc.integer({ min: 0, max: 4 }) }),
      { maxLength: 7 },
    ),
    withFinal: fc.boolean(),
    nudge: fc.option(fc.record({ index: fc.nat(), field: fc.constantFrom('remaining', 'invoke', 'complete', 'kind', 'final'), delta: fc.constantFrom(-2, -1, 1, 2) }), { nil: undefined }),
  })
  .map(({ stock, ops: drafts, withFinal, nudge }) => {
    const timeline = drafts
      .map((draft) => ({ ...draft, at: draft.time.invoke + draft.point * draft.time.length }))
      .sort((a, b) => a.at - b.at);
    let current = stock;
    const ops: SmallOp[] = [];
    for (const draft of timeline) {
      const invoke = draft.time.invoke;
      const complete = invoke + draft.time.length;
      if (draft.refused === 0) {
        // A server may refuse ("try again") at any stock; nothing changes.
        ops.push({ kind: 'refused', invoke, complete, remaining: 0 });
      } else if (draft.unknown) {
        if (draft.unknownTookEffect && current >= 1) current -= 1;
        ops.push({ kind: 'info', invoke, complete, remaining: 0 });
      } else if (current >= 1) {
        current -= 1;
        ops.push({ kind: 'ok', invoke, complete, remaining: current });
      } else {
        ops.push({ kind: 'sold_out', invoke, complete, remaining: 0 });
      }
    }
    const history: SmallHistory = { stock, ops, finalStock: withFinal ? current : undefined };
    if (nudge && ops.length > 0) {
      const op = ops[nudge.index % ops.length]!;
      if (nudge.field === 'remaining') op.remaining = Math.max(0, op.remaining + nudge.delta);
      if (nudge.field === 'invoke') op.invoke = Math.max(0, Math.min(op.complete, op.invoke + nudge.delta));
      if (nudge.field === 'complete') op.complete = Math.max(op.invoke, op.complete + nudge.delta);
      if (nudge.field === 'kind') op.kind = op.kind === 'ok' ? 'sold_out' : op.kind === 'refused' ? 'sold_out' : 'ok';
      if (nudge.field === 'final' && history.finalStock !== undefined) history.finalStock = Math.max(0, history.finalStock + nudge.delta);
    }
    return history;
  });

test('verify FAILS exactly the histories that have no linearization (10,000 random cases)', (t) => {
  const tally = { linearizable: 0, not: 0 };
  fc.assert(
    fc.property(fc.oneof(randomHistory, executedHistory), (history) => {
      const expected = linearizable(history);
      tally[expected ? 'linearizable' : 'not'] += 1;
      assert.equal(verdictOf(history), expected ? 'PASS' : 'FAIL', JSON.stringify(history));
    }),
    { numRuns: 10_000, seed: Number(process.env.FLASHSALE_PROPERTY_SEED ?? 20261122) },
  );
  t.diagnostic(`linearizable ${tally.linearizable}, not ${tally.not}`);
  // Both verdicts must be well represented, or the agreement means little.
  assert.ok(tally.linearizable > 2000, `only ${tally.linearizable} linearizable cases`);
  assert.ok(tally.not > 2000, `only ${tally.not} non-linearizable cases`);
});

test('the brute force itself: a known-good and a known-bad history', () => {
  const good: SmallHistory = { stock: 2, finalStock: 0, ops: [
    { kind: 'ok', invoke: 0, complete: 5, remaining: 0 },
    { kind: 'ok', invoke: 1, complete: 3, remaining: 1 },
  ] };
  const bad: SmallHistory = { stock: 2, finalStock: undefined, ops: [
    { kind: 'ok', invoke: 0, complete: 1, remaining: 0 },
    { kind: 'ok', invoke: 2, complete: 3, remaining: 1 },
  ] };
  assert.equal(linearizable(good), true);
  assert.equal(linearizable(bad), false);
  assert.equal(verdictOf(good), 'PASS');
  assert.equal(verdictOf(bad), 'FAIL');
});
