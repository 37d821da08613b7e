// The flow plan without a server: step templates ({{reserve.FIELD}}), the
// seeded choices, the defaults and the step classification.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileStepTemplate, flowDecision, resolveFlow } from '../src/attack/flow.js';
import { classifyStepAnswer, stepRules } from '../src/attack/step-classify.js';
import type { RuleSources } from '../src/attack/plan.js';
import { ConfigError } from '../src/errors.js';

const values = { buyer: 'b-3', request_id: 'run-3.confirm', i: 3, quantity: 2 };
const context = { target: new URL('http://127.0.0.1:3000/buy'), method: 'POST', rate: null, body: undefined };

describe('step templates', () => {
  test('{{reserve.FIELD}} takes any dotted field of the reserve\'s answer; strings are JSON-escaped, numbers and objects as JSON', () => {
    const template = compileStepTemplate('{"id":"{{reserve.data.id}}","n":{{reserve.n}},"o":{{ reserve.o }},"b":"{{buyer}}","k":"{{request_id}}"}', '--confirm-body', true);
    const filled = template(values, { data: { id: 'r_"1"\\' }, n: 7, o: { a: [1] } });
    assert.deepEqual(filled, { text: '{"id":"r_\\"1\\"\\\\","n":7,"o":{"a":[1]},"b":"b-3","k":"run-3.confirm"}' });
    assert.deepEqual(JSON.parse((filled as { text: string }).text), { id: 'r_"1"\\', n: 7, o: { a: [1] }, b: 'b-3', k: 'run-3.confirm' });
  });

  test('a field the answer lacks (or null) leaves the body missing, never a hole', () => {
    const template = compileStepTemplate('{"id":"{{reserve.reservation_id}}"}', '--confirm-body', true);
    assert.deepEqual(template(values, { other: 1 }), { missing: 'reservation_id' });
    assert.deepEqual(template(values, { reservation_id: null }), { missing: 'reservation_id' });
    assert.deepEqual(template(values, undefined), { missing: 'reservation_id' });
  });

  test('the reserve body cannot name the reserve\'s answer', () => {
    assert.throws(() => compileStepTemplate('{"x":"{{reserve.id}}"}', '--reserve-body', false), ConfigError);
  });
});

describe('flow decisions', () => {
  const flow = { confirmShare: 0.6, cancelShare: 0.3, thinkMs: { min: 10, max: 50 } };

  test('the same seed and buyer give the same choice and think time; shares hold over many buyers', () => {
    const tally = { confirm: 0, cancel: 0, abandon: 0 };
    for (let i = 0; i < 10_000; i++) {
      const decision = flowDecision(flow, 11, i);
      assert.deepEqual(flowDecision(flow, 11, i), decision);
      assert.ok(decision.thinkMs >= 10 && decision.thinkMs <= 50);
      tally[decision.next] += 1;
    }
    assert.ok(Math.abs(tally.confirm - 6000) < 300, JSON.stringify(tally));
    assert.ok(Math.abs(tally.cancel - 3000) < 300, JSON.stringify(tally));
    assert.ok(Math.abs(tally.abandon - 1000) < 200, JSON.stringify(tally));
    const other = Array.from({ length: 100 }, (_, i) => flowDecision(flow, 12, i).next).join();
    assert.notEqual(other, Array.from({ length: 100 }, (_, i) => flowDecision(flow, 11, i).next).join(), 'another seed, other choices');
  });

  test('a share of 1 always confirms, 0 and 0 always abandon', () => {
    for (let i = 0; i < 200; i++) {
      assert.equal(flowDecision({ ...flow, confirmShare: 1, cancelShare: 0 }, 5, i).next, 'confirm');
      assert.equal(flowDecision({ ...flow, confirmShare: 0, cancelShare: 0 }, 5, i).next, 'abandon');
    }
  });
});

describe('resolveFlow', () => {
  test('defaults: the contract\'s routes on the target\'s origin, 0.7 / 0.1, 100 ms, the reference bodies', () => {
    const plan = resolveFlow({ name: 'reserve-confirm' }, context);
    assert.deepEqual(plan.paths, { reserve: '/reserve', confirm: '/confirm', cancel: '/cancel' });
    assert.deepEqual([plan.confirmShare, plan.cancelShare, plan.thinkMs], [0.7, 0.1, { min: 100, max: 100 }]);
    assert.equal(plan.bodies.confirm, '{"reservation_id":"{{reserve.reservation_id}}","buyer_id":"{{buyer}}"}');
    assert.deepEqual([plan.settleOkStatus, plan.expiredStatus, plan.ttlField], [[200], [410], 'ttl_seconds']);
  });

  test('paths resolve like links; the default cancel share gives way to a large confirm share; the id field moves the default bodies', () => {
    const plan = resolveFlow(
      { name: 'reserve-confirm', confirm: 0.95, paths: { reserve: 'inventory/reserve?x=1', confirm: '/checkout/confirm' }, reservationIdField: 'hold.id' },
      { ...context, target: new URL('http://127.0.0.1:3000/api/v1/') },
    );
    assert.deepEqual(plan.paths, { reserve: '/api/v1/inventory/reserve?x=1', confirm: '/checkout/confirm', cancel: '/cancel' });
    assert.ok(Math.abs(plan.cancelShare - 0.05) < 1e-9);
    assert.equal(plan.bodies.cancel, '{"reservation_id":"{{reserve.hold.id}}","buyer_id":"{{buyer}}"}');
  });
});

describe('step classification', () => {
  const rules: RuleSources = { okStatus: [200, 201], soldOutStatus: [410, 409], okBody: null, soldOutBody: null, refusedStatus: [429, 503], refusedBody: null, remainingField: 'remaining_stock', purchaseIdField: 'purchase_id' };
  const flow = resolveFlow({ name: 'reserve-confirm' }, context);
  const compiled = stepRules(rules, flow);
  const classify = (step: 'reserve' | 'confirm' | 'cancel', status: number, body: unknown, retryAfter = false) =>
    classifyStepAnswer(step, status, JSON.stringify(body), compiled, flow, 'remaining_stock', retryAfter);

  test('reserve: 201 with an id is reserved (id, remaining, ttl); without an id it is unknown; 409 is sold out', () => {
    const held = classify('reserve', 201, { reservation_id: 'r_1', remaining_stock: 4, ttl_seconds: 1.5 });
    assert.deepEqual([held.outcome, held.reservationId, held.remaining, held.ttlMs], ['reserved', 'r_1', 4, 1500]);
    const nameless = classify('reserve', 201, { remaining_stock: 4 });
    assert.deepEqual([nameless.outcome, nameless.reservationId], ['bad_body', null]);
    assert.match(nameless.error!, /no "reservation_id" in the body/);
    assert.equal(classify('reserve', 409, { error: 'sold_out', remaining_stock: 0 }).outcome, 'sold_out');
  });

  test('confirm and cancel: 200 done, 410 expired, 409 rejected, 5xx unknown, 503 + Retry-After refused', () => {
    assert.equal(classify('confirm', 200, { state: 'confirmed' }).outcome, 'confirmed');
    const cancelled = classify('cancel', 200, { state: 'cancelled', remaining_stock: 9 });
    assert.deepEqual([cancelled.outcome, cancelled.remaining], ['cancelled', 9]);
    assert.equal(classify('confirm', 410, { error: 'reservation_expired' }).outcome, 'expired');
    assert.equal(classify('cancel', 410, {}).outcome, 'expired');
    assert.equal(classify('confirm', 409, { error: 'already_confirmed' }).outcome, 'rejected');
    assert.equal(classify('confirm', 404, { error: 'unknown_reservation' }).outcome, 'rejected');
    assert.equal(classify('confirm', 503, {}).outcome, 'http_5xx');
    assert.equal(classify('confirm', 503, {}, true).outcome, 'refused');
    assert.equal(classify('confirm', 201, {}).outcome, 'bad_body');
  });
});
