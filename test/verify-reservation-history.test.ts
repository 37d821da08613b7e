// The reservation checks' history parts (R1–R4) on crafted flows: each one
// catches a real anomaly with the right witness and passes a healthy flow,
// and an unknown step never makes a false FAIL. Then loading: step lines read
// the same in order and by worker threads, and a flow run is refused mixed
// with op lines or with a purchase history.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatMetaLine, formatOpLine } from '../src/history/writer.js';
import { loadHistories } from '../src/verify/load-history.js';
import type { Step } from '../src/verify/step.js';
import type { CheckResult } from '../src/verify/verdict.js';
import { judgeFlow } from '../src/verify/verify.js';
import { runCli } from './helpers/cli.js';
import {
  cancelled,
  cancelUnknown,
  confirmed,
  confirmExpired,
  confirmUnknown,
  flowMeta,
  reserved,
  reserveUnknown,
  soldOut,
  writeFlowHistory,
} from './helpers/reservation-steps.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-reservation-history-'));

interface Case {
  steps: Step[];
  stock?: number;
  ttlMs?: number;
  realtime?: { exact: true } | { exact: false; reason: string };
}

function check(id: string, { steps, stock, ttlMs, realtime = { exact: true } }: Case): CheckResult {
  const verdict = judgeFlow(steps, { initialStock: stock, reservations: { none: true }, realtime, maxErrors: Infinity, historyOnly: true, ttlMs });
  const result = verdict.checks.find((c) => c.id === id);
  assert.ok(result, `no check ${id}`);
  return result;
}

function assertFails(result: CheckResult, message: RegExp, names: string[]): void {
  assert.equal(result.status, 'FAIL', `${result.id} should fail: ${result.summary} ${result.reason ?? ''}`);
  const witness = result.witnesses.find((w) => message.test(w.message));
  assert.ok(witness, `${result.id}: no witness matching ${message}; got ${JSON.stringify(result.witnesses.map((w) => w.message))}`);
  const evidence = [witness.message, ...(witness.operations ?? []), ...(witness.rows ?? [])].join('\n');
  for (const name of names) assert.ok(evidence.includes(name), `${result.id} witness names ${name}:\n${evidence}`);
}

const passes = (result: CheckResult) => assert.equal(result.status, 'PASS', `${result.id}: ${result.summary} ${result.reason ?? ''} ${JSON.stringify(result.witnesses)}`);

describe('R1 confirmed-within-stock', () => {
  test('passes when the confirmed units fit the stock', () => passes(check('R1', { stock: 2, steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 5, 6), reserved('f2', 'r_2', 0, 1), confirmed('f2', 'r_2', 5, 6)] })));
  test('fails when more units were confirmed than existed, naming the confirms', () =>
    assertFails(
      check('R1', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 5, 6), reserved('f2', 'r_2', 0, 1), confirmed('f2', 'r_2', 5, 6)] }),
      /told 2 units were confirmed, but only 1 existed/,
      ['f1.confirm', 'f2.confirm', 'r_1', 'r_2', 'crafted:0'],
    ));
  test('an unknown confirm is not counted', () => passes(check('R1', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 5, 6), reserved('f2', 'r_2', 0, 1), confirmUnknown('f2', 'r_2', 5)] })));
  test('is UNKNOWN without an initial stock, and names the flag', () => assert.equal(check('R1', { steps: [reserved('f1', 'r_1', 0, 1)] }).needs, '--initial-stock'));
});

describe('R2 holds-within-stock', () => {
  test('fails when two holds were surely alive at once on a stock of one', () =>
    assertFails(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), reserved('f2', 'r_2', 2, 3)] }), /2 units were surely held or confirmed .*r_1, r_2/, ['f1', 'f2']));
  test('passes when the first hold was cancelled before the second was made', () =>
    passes(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), cancelled('f1', 'r_1', 2, 3), reserved('f2', 'r_2', 4, 5)] })));
  test('passes when the first hold had surely expired (reserve t_inv + ttl) before the second', () =>
    passes(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 10 }), reserved('f2', 'r_2', 20, 21)] })));
  test('fails when the first hold could not have expired yet', () =>
    assertFails(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 30 }), reserved('f2', 'r_2', 20, 21)] }), /surely held/, ['r_1', 'r_2']));
  test('a confirmed hold stays counted after its hold time', () =>
    assertFails(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 10 }), confirmed('f1', 'r_1', 2, 3), reserved('f2', 'r_2', 20, 21)] }), /surely held or confirmed/, ['f1.confirm', 'f2']));
  test('a confirmed hold that a cancel then acted on is no longer surely confirmed (that is R4\'s anomaly, not R2\'s)', () =>
    passes(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3), cancelled('f9', 'r_1', 4, 5), reserved('f2', 'r_2', 6, 7)] })));
  test('an unknown cancel may have freed the units: no FAIL', () =>
    passes(check('R2', { stock: 1, steps: [reserved('f1', 'r_1', 0, 1), cancelUnknown('f1', 'r_1', 2), reserved('f2', 'r_2', 4, 5)] })));
  test('an unknown reserve holds nothing surely: no FAIL', () => passes(check('R2', { stock: 1, steps: [reserveUnknown('f1', 0), reserved('f2', 'r_2', 1, 2)] })));
  test('a hold whose answer stated no ttl is UNKNOWN, naming --reservation-ttl, and the flag decides it', () => {
    const steps = [reserved('f1', 'r_1', 0, 1, { ttlMs: null }), reserved('f2', 'r_2', 20, 21)];
    const undecided = check('R2', { stock: 1, steps });
    assert.equal(undecided.status, 'UNKNOWN');
    assert.equal(undecided.needs, '--reservation-ttl');
    assert.match(undecided.reason!, /crafted:0 stated no ttl_seconds/);
    passes(check('R2', { stock: 1, steps, ttlMs: 10 }));
    assert.equal(check('R2', { stock: 1, steps, ttlMs: 30 }).status, 'FAIL');
  });
  test('is N/A when the clocks of merged shards cannot be compared', () =>
    assert.equal(check('R2', { stock: 1, realtime: { exact: false, reason: 'two machines' }, steps: [reserved('f1', 'r_1', 0, 1)] }).status, 'N/A'));
});

describe('R3 no-confirm-after-end (history)', () => {
  test('passes a confirm sent within the hold time', () => passes(check('R3', { steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 100 }), confirmed('f1', 'r_1', 50, 51)] })));
  test("fails a confirm sent after the reserve's t_cmp + ttl", () =>
    assertFails(check('R3', { steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 100 }), confirmed('f1', 'r_1', 150, 151)] }), /r_1 was confirmed, but its hold had surely expired 49\.000 ms before/, ['f1.confirm', 'reserve request f1 of r_1']));
  test('does not fail a confirm sent between t_inv + ttl and t_cmp + ttl (the hold may still have been alive)', () =>
    passes(check('R3', { steps: [reserved('f1', 'r_1', 0, 60, { ttlMs: 100 }), confirmed('f1', 'r_1', 150, 151)] })));
  test('fails a confirm sent after an ok cancel of the same hold completed', () =>
    assertFails(check('R3', { steps: [reserved('f1', 'r_1', 0, 1), cancelled('f1', 'r_1', 2, 3), confirmed('f2', 'r_1', 4, 5)] }), /confirmed after a cancel of it had succeeded/, ['f1.cancel', 'f2.confirm']));
  test('an unknown cancel before the confirm is no FAIL', () => passes(check('R3', { steps: [reserved('f1', 'r_1', 0, 1), cancelUnknown('f1', 'r_1', 2), confirmed('f2', 'r_1', 4, 5)] })));
  test('a refused (expired) confirm is never a violation', () => passes(check('R3', { steps: [reserved('f1', 'r_1', 0, 1, { ttlMs: 10 }), confirmExpired('f1', 'r_1', 150, 151)] })));
});

describe('R4 single-settlement (history)', () => {
  test('passes one confirm per hold', () => passes(check('R4', { steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3)] })));
  test('fails a hold confirmed twice, naming both confirms', () =>
    assertFails(check('R4', { steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3), confirmed('f2', 'r_1', 2, 4)] }), /r_1 was confirmed 2 times/, ['f1.confirm', 'f2.confirm']));
  test('fails a hold both confirmed and cancelled', () =>
    assertFails(check('R4', { steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3), cancelled('f2', 'r_1', 2, 4)] }), /both confirmed and cancelled/, ['f1.confirm', 'f2.cancel']));
  test('an unknown second confirm is no FAIL', () => passes(check('R4', { steps: [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3), confirmUnknown('f2', 'r_1', 2)] })));
});

describe('a flow verdict without the database', () => {
  const steps = [reserved('f1', 'r_1', 0, 1), confirmed('f1', 'r_1', 2, 3), soldOut('f2', 0, 1)];
  test('--history-only passes on R1–R4 and waives R5–R7; the purchase checks are left out', () => {
    const verdict = judgeFlow(steps, { initialStock: 1, reservations: { none: true }, realtime: { exact: true }, maxErrors: 0, historyOnly: true });
    assert.deepEqual(verdict.checks.map((c) => c.id), ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'E1']);
    assert.equal(verdict.status, 'PASS', verdict.headline);
    assert.deepEqual(verdict.checks.filter((c) => c.waived).map((c) => c.id), ['R5', 'R6', 'R7']);
    assert.deepEqual(verdict.inputs.outcomes, { 'reserve reserved': 1, 'confirm confirmed': 1, 'reserve sold_out': 1 });
  });
  test('without --history-only it is INCONCLUSIVE, asking for --db', () => {
    const verdict = judgeFlow(steps, { initialStock: 1, reservations: { none: true }, realtime: { exact: true }, maxErrors: 0 });
    assert.equal(verdict.status, 'INCONCLUSIVE');
    assert.match(verdict.headline, /give --db/);
  });
  test('E1 counts unknown steps against --max-errors', () => {
    const verdict = judgeFlow([...steps, confirmUnknown('f3', 'r_3', 4)], { initialStock: 1, reservations: { none: true }, realtime: { exact: true }, maxErrors: 0, historyOnly: true });
    assertFails(verdict.checks.find((c) => c.id === 'E1')!, /1 × timeout/, ['f3.confirm']);
  });
});

describe('loading step lines', () => {
  const flows = 3000;
  const steps: Step[] = [];
  for (let i = 0; i < flows; i++) {
    const id = `run-${i}`;
    steps.push(reserved(id, `r_${i}`, i, i + 1, { remaining: i % 7, buyer: i % 11 === 0 ? `bü"yer\n${i}` : `b-${i}` }));
    if (i % 3 === 0) steps.push(confirmed(id, `r_${i}`, i + 2, i + 3));
    else if (i % 3 === 1) steps.push(cancelUnknown(id, `r_${i}`, i + 2));
  }
  const path = join(scratch, 'flow.jsonl');
  writeFlowHistory(path, 'run', flows, steps);

  test('a flow history loads its steps; the threads leave it to the ordered read, which gives the same steps', async () => {
    const ordered = await loadHistories([path], { parallelMinBytes: Number.MAX_SAFE_INTEGER });
    const parallel = await loadHistories([path], { parallelMinBytes: 1, threads: 3 });
    assert.equal(ordered.flow, 'reserve-confirm');
    assert.equal(ordered.ops.length, 0);
    assert.equal(ordered.steps.length, steps.length);
    assert.equal(ordered.files[0]!.recorded, steps.length);
    assert.deepEqual(parallel.steps, ordered.steps);
    const first = ordered.steps[0]!;
    assert.equal(first.line, 2);
    assert.equal(first.file, 'flow.jsonl');
    assert.equal(ordered.steps[2]!.invoke - first.invoke, 1e6);
    assert.equal(ordered.steps.at(-1)!.line, steps.length + 1);
  });

  test('verify --history-only on a flow history prints the R rows and passes', async () => {
    const run = await runCli(['verify', '--history', path, '--history-only', '--initial-stock', String(flows), '--max-errors', String(flows)]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (const row of ['R1 confirmed-within-stock', 'R2 holds-within-stock', 'R3 no-confirm-after-end', 'R4 single-settlement', 'R5 returned-once', 'E1 error-budget']) assert.match(run.stdout, new RegExp(row));
    assert.doesNotMatch(run.stdout, /H1 ok-range/);
    const junit = join(scratch, 'flow.xml');
    assert.equal((await runCli(['verify', '--history', path, '--history-only', '--initial-stock', String(flows), '--max-errors', String(flows), '--junit', junit])).code, 0);
    assert.match(readFileSync(junit, 'utf8'), /<testcase classname="flashsale.verify" name="R7 reservation-ledger-vs-responses">\n    <skipped message="not run: the database was not read \(--history-only\)"\/>/);
  });

  test('--reservation-ttl decides holds whose answer stated no ttl; a bad value is one line and exit 2', async () => {
    const noTtl = join(scratch, 'no-ttl.jsonl');
    writeFlowHistory(noTtl, 'run', 2, [reserved('run-0', 'r_0', 0, 1, { ttlMs: null }), reserved('run-1', 'r_1', 20, 21, { ttlMs: null })]);
    const args = ['verify', '--history', noTtl, '--history-only', '--initial-stock', '1'];
    const undecided = await runCli(args);
    assert.equal(undecided.code, 3, undecided.stdout);
    assert.match(undecided.stdout, /give --reservation-ttl to decide them/);
    assert.equal((await runCli([...args, '--reservation-ttl', '10ms'])).code, 0);
    assert.equal((await runCli([...args, '--reservation-ttl', '1s'])).code, 1);
    const bad = await runCli([...args, '--reservation-ttl', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--reservation-ttl.*expected a duration/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  });

  test('a repeated request id among steps is a format error naming both lines', async () => {
    const twice = join(scratch, 'twice.jsonl');
    writeFlowHistory(twice, 'run', 2, [reserved('run-0', 'r_0', 0, 1), confirmed('run-0', 'r_0', 2, 3), confirmed('run-0', 'r_0', 4, 5)]);
    await assert.rejects(loadHistories([twice]), /twice\.jsonl:4: request id run-0\.confirm was already recorded on line 3/);
  });

  test('an op line in a flow history, or a step line in a purchase history, is refused naming its line', async () => {
    const withOp = join(scratch, 'with-op.jsonl');
    writeFlowHistory(withOp, 'run', 2, [reserved('run-0', 'r_0', 0, 1)], { end: false });
    appendFileSync(withOp, formatOpLine({ kind: 'op', process: 0, buyer: 'b', request_id: 'run-1', type: 'ok', outcome: 'bought', t_inv: 7_000_000_000n, t_cmp: 7_000_000_001n, status: 200, remaining: 0, purchase_id: '1', error: null }));
    await assert.rejects(loadHistories([withOp]), /with-op\.jsonl:3: an op line in a flow history/);
    const purchases = join(scratch, 'purchases.jsonl');
    const { flow: _flow, ...meta } = flowMeta('run', 1, 7_000_000_000n);
    writeFileSync(purchases, formatMetaLine(meta) + readFileSync(path, 'utf8').split('\n')[1] + '\n');
    await assert.rejects(loadHistories([purchases]), /purchases\.jsonl:2: a step line in a purchase history/);
    // A mixed audit is out of scope: refused, never half-checked.
    const plain = join(scratch, 'plain.jsonl');
    writeFileSync(plain, formatMetaLine({ ...meta, run_id: 'other' }));
    await assert.rejects(loadHistories([path, plain]), /records purchases, the first history a reserve-confirm flow: verify audits one kind of run at a time/);
  });

  test('a cut-short flow history says how many planned flows have no reserve line', async () => {
    const cut = join(scratch, 'cut.jsonl');
    writeFlowHistory(cut, 'run', 5, [reserved('run-0', 'r_0', 0, 1), confirmed('run-0', 'r_0', 2, 3)], { end: false });
    const loaded = await loadHistories([cut]);
    assert.equal(loaded.files[0]!.unrecorded, 4);
  });

  test('in a cut-short history a hold without its settle line may have been cancelled by a lost step: R2 does not fail', async () => {
    const steps = [reserved('run-0', 'r_0', 0, 1), reserved('run-1', 'r_1', 5, 6)];
    const [whole, cut] = [join(scratch, 'whole-2.jsonl'), join(scratch, 'cut-2.jsonl')];
    writeFlowHistory(whole, 'run', 2, steps);
    writeFlowHistory(cut, 'run', 3, steps, { end: false });
    const args = ['--history-only', '--initial-stock', '1', '--json'];
    const verdictOf = async (path: string) => JSON.parse((await runCli(['verify', '--history', path, ...args])).stdout);
    const r2 = async (path: string) => (await verdictOf(path)).checks.find((c: CheckResult) => c.id === 'R2').status;
    assert.equal(await r2(whole), 'FAIL');
    assert.equal(await r2(cut), 'PASS');
  });
});
