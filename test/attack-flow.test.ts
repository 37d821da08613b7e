// attack --flow reserve-confirm against a reservation API written in the test
// (helpers/reservation-shop.ts): every request is a step line with the
// contract's ids, the confirm carries the reserve's reservation id, the
// seeded choices and think times are the ones the flow plan draws, and a
// reserve refused for stock ends its flow.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { flowDecision } from '../src/attack/flow.js';
import type { AttackSummary } from '../src/attack/summary.js';
import type { StepRecord } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';
import { flowHistory, flowIndex, type FlowHistory } from './helpers/flow-history.js';
import { startReservationShop, type ReservationShop } from './helpers/reservation-shop.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-flow-'));

/** The flow's steps by flow id. */
function byFlow(steps: StepRecord[]): Map<string, StepRecord[]> {
  const flows = new Map<string, StepRecord[]>();
  for (const step of steps) flows.set(step.flow_id, [...(flows.get(step.flow_id) ?? []), step]);
  return flows;
}

describe('attack --flow reserve-confirm', () => {
  const BUYERS = 120;
  const SEED = 7;
  const THINK = { min: 5, max: 30 };
  const shares = { confirmShare: 0.5, cancelShare: 0.25, thinkMs: THINK };
  let shop: ReservationShop;
  let history: FlowHistory;
  let summary: AttackSummary;

  before(async () => {
    shop = await startReservationShop({ stock: 1000 });
    const path = join(scratch, 'plenty.jsonl');
    const run = await runCli([
      'attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', String(BUYERS), '--concurrency', '12', '--processes', '2',
      '--confirm', '50%', '--cancel', '0.25', '--think', `${THINK.min}ms..${THINK.max}ms`, '--seed', String(SEED), '--history', path, '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    summary = JSON.parse(run.stdout) as AttackSummary;
    history = await flowHistory(path);
  });
  after(() => shop.close());

  test('every request the shop received is one step line, with the contract\'s ids', () => {
    const { meta, steps, end } = history;
    assert.equal(meta.flow, 'reserve-confirm');
    assert.deepEqual(end, { kind: 'end', planned: BUYERS, recorded: steps.length, reason: 'done' });
    assert.equal(steps.length, shop.seen.length);
    assert.deepEqual(steps.map((step) => step.request_id).sort(), shop.seen.map((request) => String(request.headers['idempotency-key'])).sort());
    const flows = byFlow(steps);
    assert.equal(flows.size, BUYERS);
    for (const [flowId, [reserve, ...rest]] of flows) {
      const i = flowIndex(meta, flowId);
      assert.equal(flowId, `${meta.run_id}-${i}`);
      assert.equal(reserve!.step, 'reserve');
      assert.equal(reserve!.request_id, flowId);
      assert.equal(reserve!.buyer, `b-${i}`);
      assert.equal(reserve!.outcome, 'reserved');
      assert.equal(reserve!.type, 'ok');
      assert.equal(reserve!.status, 201);
      assert.equal(reserve!.ttl_ms, 60_000);
      assert.ok(reserve!.remaining !== null && reserve!.remaining < 1000);
      assert.ok(rest.length <= 1);
      for (const next of rest) {
        assert.equal(next.request_id, `${flowId}.${next.step}`);
        assert.equal(next.buyer, reserve!.buyer);
        assert.equal(next.outcome, next.step === 'confirm' ? 'confirmed' : 'cancelled');
        assert.equal(next.reservation_id, reserve!.reservation_id);
      }
    }
  });

  test('the confirm and cancel bodies carry the reserve\'s reservation_id, and the shop settled those holds', () => {
    const reserves = new Map(history.steps.filter((step) => step.step === 'reserve').map((step) => [step.flow_id, step]));
    const settles = history.steps.filter((step) => step.step !== 'reserve');
    assert.ok(settles.length > 0);
    for (const step of settles) {
      const request = shop.seen.find((seen) => seen.headers['idempotency-key'] === step.request_id)!;
      assert.equal(request.route, step.step);
      const body = JSON.parse(request.body) as { reservation_id: string; buyer_id: string };
      assert.equal(body.reservation_id, reserves.get(step.flow_id)!.reservation_id);
      assert.equal(body.buyer_id, step.buyer);
      assert.equal(shop.holds.get(body.reservation_id)!.state, step.step === 'confirm' ? 'confirmed' : 'cancelled');
    }
  });

  test('each held flow confirms, cancels or abandons as the seed draws it, in the shares asked for', () => {
    const flows = byFlow(history.steps);
    const tally = { confirm: 0, cancel: 0, abandon: 0 };
    for (const [flowId, steps] of flows) {
      const i = flowIndex(history.meta, flowId);
      const { next } = flowDecision(shares, SEED, i);
      tally[next] += 1;
      assert.deepEqual(steps.slice(1).map((step) => step.step), next === 'abandon' ? [] : [next], `flow ${i}`);
    }
    // Binomial(120, ½) and (120, ¼): well inside four standard deviations.
    assert.ok(tally.confirm >= 38 && tally.confirm <= 82, `confirm ${tally.confirm}`);
    assert.ok(tally.cancel >= 12 && tally.cancel <= 48, `cancel ${tally.cancel}`);
    assert.ok(tally.abandon >= 12 && tally.abandon <= 48, `abandon ${tally.abandon}`);
    assert.equal(summary.flow!.steps.confirm.total, tally.confirm);
    assert.equal(summary.flow!.steps.cancel.total, tally.cancel);
    assert.equal(summary.flow!.abandoned, tally.abandon);
  });

  test('a confirm or cancel goes only after its think time, counted from the reserve\'s answer', () => {
    const reserves = new Map(history.steps.filter((step) => step.step === 'reserve').map((step) => [step.flow_id, step]));
    for (const step of history.steps.filter((step) => step.step !== 'reserve')) {
      const i = flowIndex(history.meta, step.flow_id);
      const { thinkMs } = flowDecision(shares, SEED, i);
      assert.ok(thinkMs >= THINK.min && thinkMs <= THINK.max);
      const waited = step.t_inv - reserves.get(step.flow_id)!.t_cmp;
      assert.ok(waited >= BigInt(Math.round(thinkMs * 1e6)), `flow ${i} waited ${waited} ns for a think time of ${thinkMs} ms`);
    }
  });

  test('the summary counts each step\'s outcomes and latency', () => {
    const flow = summary.flow!;
    assert.equal(flow.flows, BUYERS);
    assert.equal(flow.steps.reserve.outcomes.reserved, BUYERS);
    assert.equal(flow.steps.reserve.total, BUYERS);
    assert.equal(summary.completed, history.steps.length);
    assert.equal(flow.steps.confirm.outcomes.confirmed + flow.steps.cancel.outcomes.cancelled, history.steps.length - BUYERS);
    assert.ok(flow.steps.reserve.latency_ms!.max > 0);
    assert.equal(flow.unsent, 0);
    assert.equal(summary.seed, SEED);
  });
});

describe('attack --flow: a reserve refused for stock', () => {
  let shop: ReservationShop;
  after(() => shop.close());

  test('a reserve answered 409 gets no second step; every hold is confirmed', async () => {
    shop = await startReservationShop({ stock: 5 });
    const path = join(scratch, 'short.jsonl');
    const run = await runCli(['attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', '20', '--concurrency', '4', '--processes', '2', '--confirm', '1', '--think', '0ms', '--history', path]);
    assert.equal(run.code, 0, run.stderr);
    const { steps, end } = await flowHistory(path);
    const reserves = steps.filter((step) => step.step === 'reserve');
    assert.equal(reserves.filter((step) => step.outcome === 'reserved').length, 5);
    const soldOut = reserves.filter((step) => step.outcome === 'sold_out');
    assert.equal(soldOut.length, 15);
    for (const reserve of soldOut) {
      assert.equal(reserve.type, 'fail');
      assert.equal(reserve.status, 409);
      assert.equal(reserve.reservation_id, null);
      assert.deepEqual(steps.filter((step) => step.flow_id === reserve.flow_id), [reserve]);
    }
    assert.equal(steps.filter((step) => step.step === 'confirm' && step.outcome === 'confirmed').length, 5);
    assert.equal(end!.recorded, 25);
    assert.match(run.stdout, /reserve\s*│ sold_out\s*│ fail\s*│\s*15 │/);
    assert.equal(shop.available(), 0);
  });
});
