// Every check, on crafted histories: one that passes, one that fails with the
// right witness, and one with unknown (info) operations where some outcome
// makes the run valid, which must not fail.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FinalState, LedgerEntry } from '../src/verify/db-audit.js';
import type { Operation } from '../src/verify/operation.js';
import type { CheckResult } from '../src/verify/verdict.js';
import { judge } from '../src/verify/verify.js';

function op(requestId: string, type: Operation['type'], outcome: Operation['outcome'], invoke: number, complete: number, remaining: number | null, quantity = 1): Operation {
  return { type, outcome, invoke, complete, remaining, quantity, requestId, buyer: `buyer-${requestId}`, purchaseId: null, process: 0, status: null, error: null, file: 'crafted', line: 1 };
}
const ok = (id: string, invoke: number, complete: number, remaining: number | null, quantity = 1) => op(id, 'ok', 'bought', invoke, complete, remaining, quantity);
const soldOut = (id: string, invoke: number, complete: number, quantity = 1) => op(id, 'fail', 'sold_out', invoke, complete, 0, quantity);
const rejected = (id: string, invoke: number, complete: number) => op(id, 'fail', 'rejected', invoke, complete, null);
const info = (id: string, invoke: number, complete = invoke + 100) => ({ ...op(id, 'info', 'timeout', invoke, complete, null), error: 'no answer within 5000 ms' });

const row = (requestId: string, stockAfter: number, quantity = 1): LedgerEntry => ({ requestId, stockAfter, quantity, id: requestId });
const state = (finalStock: number, ledger?: LedgerEntry[]): FinalState => ({
  finalStock,
  ledger,
  columns: { requestId: true, stockAfter: true },
  source: 'crafted',
});

interface Case {
  ops: Operation[];
  stock?: number;
  final?: FinalState;
  maxErrors?: number;
  realtime?: { exact: true } | { exact: false; reason: string };
}

function check(id: string, { ops, stock, final, maxErrors = Infinity, realtime = { exact: true } }: Case): CheckResult {
  const verdict = judge(ops, { initialStock: stock, state: final, realtime, maxErrors });
  const result = verdict.checks.find((c) => c.id === id);
  assert.ok(result, `no check ${id}`);
  return result;
}

function assertFails(result: CheckResult, message: RegExp, requestIds: string[] = []): void {
  assert.equal(result.status, 'FAIL', `${result.id} should fail: ${result.summary}`);
  assert.ok(result.violations > 0);
  const witness = result.witnesses.find((w) => message.test(w.message));
  assert.ok(witness, `${result.id}: no witness matching ${message}; got ${JSON.stringify(result.witnesses.map((w) => w.message))}`);
  const evidence = [...(witness.operations ?? []), ...(witness.rows ?? [])].join('\n');
  for (const requestId of requestIds) assert.match(evidence, new RegExp(`request ${requestId}\\b`), `${result.id} witness names request ${requestId}`);
}

const passes = (result: CheckResult) => assert.equal(result.status, 'PASS', `${result.id}: ${result.summary} ${JSON.stringify(result.witnesses)}`);
const doesNotFail = (result: CheckResult) => assert.notEqual(result.status, 'FAIL', `${result.id}: ${JSON.stringify(result.witnesses)}`);

describe('H1 ok-range', () => {
  test('passes when every remaining is within the stock', () => passes(check('H1', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 2, 3, 0)] })));
  test('fails on a remaining the stock cannot have', () => assertFails(check('H1', { stock: 2, ops: [ok('a', 0, 1, 2)] }), /reports 2 remaining/, ['a']));
  test('with quantities, the units bought must fit too', () => assertFails(check('H1', { stock: 4, ops: [ok('a', 0, 1, 2, 3)] }), /after buying 3/, ['a']));
  test('does not fail when an unknown op took the unit above', () => doesNotFail(check('H1', { stock: 2, ops: [info('i', 0), ok('b', 1, 2, 0)] })));
  test('is UNKNOWN without an initial stock, and names the flag', () => assert.equal(check('H1', { ops: [ok('a', 0, 1, 1)] }).needs, '--initial-stock'));
  test('fails on a negative remaining even without an initial stock, whatever the unknowns', () =>
    assertFails(check('H1', { ops: [ok('a', 0, 1, -2), info('i', 0), info('j', 0)], maxErrors: Infinity }), /reports -2 remaining: the stock went below zero/, ['a']));
  test('is N/A when no ok answer carries a remaining stock, and says so without guessing why', () => {
    const result = check('H1', { stock: 2, ops: [ok('a', 0, 1, null)] });
    assert.equal(result.status, 'N/A');
    assert.equal(result.reason, 'no successful answer carried a remaining stock (the server sends none, or attack --remaining-field does not name it)');
  });
});

describe('H2 duplicate-remaining', () => {
  test('passes on distinct remaining values', () => passes(check('H2', { stock: 2, ops: [ok('a', 0, 5, 1), ok('b', 0, 5, 0)] })));
  test('fails when two buyers are told the same remaining', () => assertFails(check('H2', { stock: 3, ops: [ok('a', 0, 5, 1), ok('b', 0, 5, 1)] }), /both told 1 remaining/, ['a', 'b']));
  test('fails when purchases of several units overlap', () => assertFails(check('H2', { stock: 6, ops: [ok('a', 0, 5, 2, 2), ok('b', 0, 5, 3, 2)] }), /overlapping units/, ['a', 'b']));
  test('does not fail with unknown ops between', () => doesNotFail(check('H2', { stock: 3, ops: [ok('a', 0, 5, 2), info('i', 0), ok('b', 0, 5, 0)] })));
});

describe('H3 oversell-count', () => {
  test('passes when the units sold fit the stock', () => passes(check('H3', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 2, 3, 0)] })));
  test('fails when more units were sold than existed', () => assertFails(check('H3', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 0, 1, 0), ok('c', 0, 1, 0)] }), /oversold by 1/));
  test('unknown ops do not count as sales', () => passes(check('H3', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 0, 1, 0), info('i', 0), info('j', 0)] })));
});

describe('H4 realtime-order', () => {
  test('passes when later buyers are told less', () => passes(check('H4', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 2, 3, 0)] })));
  test('passes when overlapping buyers are told either order', () => passes(check('H4', { stock: 2, ops: [ok('a', 0, 5, 0), ok('b', 1, 6, 1)] })));
  test('fails when the stock goes back up for a later buyer', () => assertFails(check('H4', { stock: 2, ops: [ok('a', 0, 1, 0), ok('b', 2, 3, 1)] }), /went back up/, ['a', 'b']));
  test('does not fail when an unknown op explains the gap', () => doesNotFail(check('H4', { stock: 3, ops: [ok('a', 0, 1, 2), info('i', 0), ok('b', 2, 3, 0)] })));
  test('is N/A across clocks of different machines', () => {
    const result = check('H4', { stock: 2, ops: [ok('a', 0, 1, 0), ok('b', 2, 3, 1)], realtime: { exact: false, reason: 'merged shards come from 2 machines' } });
    assert.equal(result.status, 'N/A');
    assert.match(result.reason!, /2 machines/);
  });
});

describe('H5 early-sold-out', () => {
  test('passes when sold out comes after the last sale', () => passes(check('H5', { stock: 1, ops: [ok('a', 0, 1, 0), soldOut('s', 2, 3)] })));
  test('fails when a sale succeeds after a buyer was told sold out', () => assertFails(check('H5', { stock: 1, ops: [soldOut('s', 0, 1), ok('a', 2, 3, 0)] }), /undersell/, ['s', 'a']));
  test('fails when a sold-out answer itself reports enough stock', () => {
    const contradictory = { ...soldOut('s', 0, 1), remaining: 5 };
    assertFails(check('H5', { stock: 9, ops: [contradictory] }), /told sold out while the same answer says 5 remain/, ['s']);
  });
  test('a smaller purchase may still succeed after a larger one was refused', () => passes(check('H5', { stock: 3, ops: [ok('x', 0, 1, 1, 2), soldOut('s', 2, 3, 2), ok('a', 4, 5, 0, 1)] })));
  test('does not fail when an unknown op bought the last unit', () => doesNotFail(check('H5', { stock: 1, ops: [info('i', 0), soldOut('s', 2, 3)] })));
});

describe('H6 unexplained-decrements', () => {
  test('passes when every sold unit has an owner', () => passes(check('H6', { stock: 3, ops: [ok('a', 0, 1, 2), ok('b', 2, 3, 1), ok('c', 4, 5, 0)] })));
  test('fails when units vanished before a buyer was answered', () => assertFails(check('H6', { stock: 3, ops: [ok('a', 0, 1, 0)] }), /units 1\.\.2 were sold before the answer below/, ['a']));
  test('fails when the only unknown op was invoked too late to explain the gap', () =>
    assertFails(check('H6', { stock: 2, ops: [ok('a', 0, 1, 0), info('late', 5)] }), /unexplained/, ['a']));
  test('does not fail when unknown ops invoked in time explain the gap', () => passes(check('H6', { stock: 3, ops: [info('i', 0), info('j', 1), ok('a', 2, 3, 0)] })));
  test('a sold-out answer implies every unit was gone', () => assertFails(check('H6', { stock: 2, ops: [soldOut('s', 0, 1)] }), /units 0\.\.1 were sold/, ['s']));
  test('with the final stock from the database, units down to it must be explained', () => {
    assertFails(check('H6', { stock: 3, ops: [ok('a', 0, 1, 2)], final: state(0) }), /by the end of the run/);
    passes(check('H6', { stock: 3, ops: [ok('a', 0, 1, 2), info('i', 5), info('j', 6)], final: state(0) }));
  });
});

describe('D1 stock-bounds', () => {
  test('passes when the final stock is what the answers imply', () => passes(check('D1', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(1) })));
  test('fails when a sale the buyer was told about is missing from the stock', () => assertFails(check('D1', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(2) }), /a sale was lost/));
  test('fails when units vanished', () => assertFails(check('D1', { stock: 3, ops: [ok('a', 0, 1, 2)], final: state(0) }), /units vanished/));
  test('fails when the stock ends above what a buyer was told', () => assertFails(check('D1', { stock: 3, ops: [ok('a', 0, 1, 0)], final: state(1) }), /went back up/, ['a']));
  test('does not fail when an unknown op took the rest', () => passes(check('D1', { stock: 2, ops: [ok('a', 0, 1, 1), info('i', 0)], final: state(0) })));
  test('is UNKNOWN without a database', () => assert.match(check('D1', { stock: 2, ops: [] }).reason!, /no store given/));
  test('on an oversell the bounds read right: no negative stock is expected', () => {
    const result = check('D1', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 0, 1, 0), ok('c', 0, 1, 0)], final: state(0) });
    assertFails(result, /^buyers were told they bought 3 units of 2: oversold by 1, so no final stock can account for the sales$/);
    assert.match(result.summary, /3 units ok, 0 units unknown: expected: none possible \(more sold than the stock\)$/);
    assert.doesNotMatch(JSON.stringify(result), /-1|\.\.-/);
  });
  test('a final stock below zero is said once, not again as "units vanished"', () => {
    // The DECR-without-undo shop: all 100 sold, the counter at -900. "At least 0 must remain
    // (units vanished)" would repeat "below zero" and blame a vanishing that did not happen.
    const sold = Array.from({ length: 3 }, (_, i) => ok(`s${i}`, 0, 1, 2 - i));
    const counter = check('D1', { stock: 3, ops: sold, final: state(-900) });
    assert.deepEqual(counter.witnesses.map((w) => w.message), ['the final stock is -900: below zero']);
    const oversold = check('D1', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 0, 1, 0), ok('c', 0, 1, -1)], final: state(-1) });
    assert.deepEqual(oversold.witnesses.map((w) => w.message), [
      'the final stock is -1: below zero',
      'buyers were told they bought 3 units of 2: oversold by 1, so no final stock can account for the sales',
    ]);
    // Below zero while units must remain: both are true and both are said.
    assertFails(check('D1', { stock: 5, ops: [ok('a', 0, 1, 4)], final: state(-1) }), /at least 4 must remain \(units vanished\)/);
  });
  test('speaks of 1 unit, not 1 units', () => assert.match(check('D1', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(1) }).summary, /1 unit ok, 0 units unknown: expected 1$/));
});

describe('D2 conservation', () => {
  test('passes when stock plus ledger is the initial stock', () => passes(check('D2', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(1, [row('a', 1)]) })));
  test('fails when the ledger records more than left the stock, and says what is known of the cause', () =>
    assertFails(
      check('D2', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 0, 1, 1)], final: state(1, [row('a', 1), row('b', 1)]) }),
      /^the ledger records 1 unit more than left the stock: sales were recorded without their decrement \(a lost update, or a decrement that did not apply\)$/,
    ));
  test('fails when stock left without a ledger row', () => assertFails(check('D2', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(0, [row('a', 1)]) }), /without a ledger row/));
  test('passes with a row for an unknown op that did happen', () => passes(check('D2', { stock: 2, ops: [ok('a', 0, 1, 1), info('i', 0)], final: state(0, [row('a', 1), row('i', 0)]) })));
});

describe('D3 ledger-vs-responses', () => {
  test('passes when every ok has its row and nothing else does', () => passes(check('D3', { stock: 2, ops: [ok('a', 0, 1, 1), soldOut('s', 0, 1)], final: state(1, [row('a', 1)]) })));
  test('fails on a lost sale: ok without a row', () => assertFails(check('D3', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(1, []) }), /^lost/, ['a']));
  test('fails on a row for a request never sent', () => assertFails(check('D3', { stock: 2, ops: [], final: state(1, [row('ghost', 1)]) }), /^unexpected/, ['ghost']));
  test('fails on a row for a request the buyer was told failed', () => assertFails(check('D3', { stock: 2, ops: [rejected('r', 0, 1)], final: state(1, [row('r', 1)]) }), /^aborted-visible/, ['r']));
  test('fails on two rows for one request', () => assertFails(check('D3', { stock: 3, ops: [ok('a', 0, 1, 2)], final: state(1, [row('a', 2), row('a', 1)]) }), /^duplicated/, ['a']));
  test('counts a row for an unknown op as recovered, not as a failure', () => {
    const result = check('D3', { stock: 2, ops: [info('i', 0)], final: state(1, [row('i', 1)]) });
    passes(result);
    assert.match(result.summary, /recovered 1/);
  });
  test('is N/A when nothing joins the ledger to the answers, and says which columns would', () => {
    const result = check('D3', { stock: 2, ops: [ok('a', 0, 1, 1)], final: { ...state(1, [{ quantity: 1, id: 1 }]), columns: { requestId: false, stockAfter: false } } });
    assert.equal(result.status, 'N/A');
    assert.match(result.reason!, /no request_id column; the ledger has no buyer_id column; no answer carried a purchase id/);
  });
});

describe('an explicit --join that cannot be made', () => {
  test('is UNKNOWN, not N/A, when another join would work: the verdict is INCONCLUSIVE and names it', () => {
    // A ledger of request ids, answers without purchase ids, and --join purchase: D3 must not pass
    // the run by vanishing as "not applicable" while --join request would have checked it.
    const ops = [ok('a', 0, 1, 0), soldOut('s', 2, 3)];
    const verdict = judge(ops, { initialStock: 1, state: state(0, [row('a', 0)]), realtime: { exact: true }, maxErrors: 0, join: 'purchase' });
    const d3 = verdict.checks.find((c) => c.id === 'D3')!;
    assert.equal(d3.status, 'UNKNOWN', JSON.stringify(d3));
    assert.equal(d3.needs, '--join request');
    assert.match(d3.reason!, /cannot join on purchase id \(--join purchase\): no answer carried a purchase id; --join request can/);
    assert.equal(verdict.status, 'INCONCLUSIVE');
  });
  test('stays N/A when no join can be made at all', () => {
    const ledger: FinalState = { ...state(1, [{ quantity: 1 }]), columns: { requestId: false, stockAfter: false } };
    const verdict = judge([ok('a', 0, 1, 1)], { initialStock: 2, state: ledger, realtime: { exact: true }, maxErrors: 0, join: 'buyer' });
    assert.equal(verdict.checks.find((c) => c.id === 'D3')!.status, 'N/A');
  });
});

describe('D3 joined on purchase id', () => {
  const bought = (id: string, remaining: number, purchaseId: string | null) => ({ ...ok(id, 0, 1, remaining), purchaseId });
  const byId = (id: number, stockAfter: number): LedgerEntry => ({ id, quantity: 1, stockAfter });
  const ledgerOnlyIds = (finalStock: number, ledger: LedgerEntry[]): FinalState => ({ ...state(finalStock, ledger), columns: { requestId: false, stockAfter: true } });
  test('a row no answer names is recovered when an unknown op could own it', () => {
    const result = check('D3', { stock: 2, ops: [bought('a', 1, '7'), info('i', 0)], final: ledgerOnlyIds(0, [byId(7, 1), byId(8, 0)]) });
    passes(result);
    assert.match(result.summary, /^joined on purchase id: 2 rows: lost 0, unexpected 0, aborted-visible 0, duplicated 0, recovered 1$/);
  });
  test('one row more than the unknown ops could own is unexpected', () =>
    assertFails(check('D3', { stock: 3, ops: [bought('a', 2, '7'), info('i', 0)], final: ledgerOnlyIds(0, [byId(7, 2), byId(8, 1), byId(9, 0)]) }), /^unexpected: a ledger row whose id no answer gave/));
  test('an ok whose purchase id has no row is lost', () =>
    assertFails(check('D3', { stock: 2, ops: [bought('a', 1, '7')], final: ledgerOnlyIds(1, [byId(8, 1)]) }), /^lost/, ['a']));
  test('two answers naming one purchase fail', () =>
    assertFails(check('D3', { stock: 2, ops: [bought('a', 1, '7'), bought('b', 0, '7')], final: ledgerOnlyIds(1, [byId(7, 1)]) }), /two answers name one purchase id/, ['a', 'b']));
});

describe('D4 stock-after-match', () => {
  test('passes when every row says what its buyer was told', () => passes(check('D4', { stock: 2, ops: [ok('a', 0, 1, 1), ok('b', 2, 3, 0)], final: state(0, [row('a', 1), row('b', 0)]) })));
  test('fails when a row disagrees with the answer', () => assertFails(check('D4', { stock: 2, ops: [ok('a', 0, 1, 1)], final: state(1, [row('a', 0)]) }), /told 1 remaining, the ledger row says 0/, ['a']));
  test('fails when two rows claim the same units', () => assertFails(check('D4', { stock: 3, ops: [info('i', 0), info('j', 0)], final: state(1, [row('i', 1), row('j', 1)]) }), /claim the same units/, ['i', 'j']));
  test('passes with rows for unknown ops on distinct units', () => passes(check('D4', { stock: 3, ops: [ok('a', 0, 1, 2), info('i', 0)], final: state(1, [row('a', 2), row('i', 1)]) })));
  test('is N/A without a stock_after column', () => {
    const result = check('D4', { stock: 2, ops: [], final: { ...state(1, []), columns: { requestId: true, stockAfter: false } } });
    assert.match(result.reason!, /stock_after column/);
  });
});

describe('D5 sold-out-final', () => {
  test('passes when sold out and the stock ends at zero', () => passes(check('D5', { stock: 1, ops: [ok('a', 0, 1, 0), soldOut('s', 2, 3)], final: state(0) })));
  test('fails when a buyer was refused while stock remains at the end', () => assertFails(check('D5', { stock: 1, ops: [soldOut('s', 0, 1)], final: state(1) }), /undersell/, ['s']));
  test('with quantities, fewer than the refused quantity may remain', () => passes(check('D5', { stock: 3, ops: [ok('a', 0, 1, 1, 2), soldOut('s', 2, 3, 2)], final: state(1) })));
  test('passes when an unknown op bought the last unit', () => passes(check('D5', { stock: 1, ops: [info('i', 0), soldOut('s', 2, 3)], final: state(0) })));
});

describe('D6 resolved-recheck', () => {
  test('passes when the settled history is consistent', () =>
    passes(check('D6', { stock: 2, ops: [ok('a', 0, 1, 1), info('i', 2), info('j', 3)], final: state(0, [row('a', 1), row('i', 0)]) })));
  test('fails when an unknown op, settled from the ledger, collides with a sale', () =>
    assertFails(check('D6', { stock: 2, ops: [ok('a', 0, 1, 1), info('i', 2)], final: state(0, [row('a', 1), row('i', 1)]) }), /H2 duplicate-remaining after settling/, ['a', 'i']));
  test('fails when units vanished and no unknown op turned out to take them', () =>
    assertFails(check('D6', { stock: 2, ops: [info('i', 0), ok('a', 1, 2, 0)], final: state(0, [row('a', 0)]) }), /H6 unexplained-decrements after settling/));
  test('does not fail when the ledger shows the unknown op did take the unit', () => passes(check('D6', { stock: 2, ops: [info('i', 0), ok('a', 1, 2, 0)], final: state(0, [row('i', 1), row('a', 0)]) })));
});

describe('E1 error-budget', () => {
  test('passes within the budget', () => passes(check('E1', { ops: [info('i', 0)], maxErrors: 1 })));
  test('fails over the budget and names the causes', () => {
    const result = check('E1', { ops: [info('i', 0), info('j', 0), rejected('r', 0, 1)], maxErrors: 1 });
    assertFails(result, /2 × timeout: no answer within 5000 ms/);
    assert.equal(result.violations, 1);
  });
  test('refused and rejected requests are not unknowns', () => passes(check('E1', { ops: [rejected('r', 0, 1), soldOut('s', 0, 1)], maxErrors: 0 })));
});

test('the verdict is FAIL when any check fails, INCONCLUSIVE when one could not run, PASS history-only when that was chosen', () => {
  const failing = judge([ok('a', 0, 1, 0), ok('b', 2, 3, 1)], { initialStock: 2, state: undefined, realtime: { exact: true }, maxErrors: 0 });
  assert.equal(failing.status, 'FAIL');
  assert.match(failing.headline, /^FAIL: H4 realtime-order/);
  const noDatabase = judge([ok('a', 0, 1, 1)], { initialStock: 2, state: undefined, realtime: { exact: true }, maxErrors: 0 });
  assert.equal(noDatabase.status, 'INCONCLUSIVE');
  assert.match(noDatabase.headline, /^INCONCLUSIVE: 6 of 13 checks could not run \(D1 D2 D3 D4 D5 D6\): the database was not read; give --db to decide them, or --history-only/);
  const historyOnly = judge([ok('a', 0, 1, 1)], { initialStock: 2, state: undefined, realtime: { exact: true }, maxErrors: 0, historyOnly: true });
  assert.equal(historyOnly.status, 'PASS');
  assert.match(historyOnly.headline, /^PASS \(history only\): 7 of 7 applicable checks passed, none failed; history only: D1 D2 D3 D4 D5 D6 not run/);
});
