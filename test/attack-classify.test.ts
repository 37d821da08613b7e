// The classification rules and the pieces a plan is made of, unit by unit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArrivalSchedule } from '../src/attack/arrivals.js';
import { classifyAnswer, classifyFailure, type ClassifyRules } from '../src/attack/classify.js';
import { childPlans, resolvePlan, type AttackOptions } from '../src/attack/plan.js';
import { compileTemplate } from '../src/attack/template.js';
import { ConfigError } from '../src/errors.js';

const reference: ClassifyRules = {
  okStatus: [200, 201],
  soldOutStatus: [410, 409],
  okBody: null,
  soldOutBody: null,
  refusedStatus: [429, 503],
  refusedBody: null,
  remainingField: 'remaining_stock',
  purchaseIdField: 'purchase_id',
};

describe('classify: answers', () => {
  test('the reference server\'s answers', () => {
    assert.deepEqual(classifyAnswer(200, '{"success":true,"purchase_id":42,"remaining_stock":99,"request_id":"r"}', reference), {
      outcome: 'bought', remaining: 99, purchaseId: '42', error: null, cause: null,
    });
    assert.deepEqual(classifyAnswer(410, '{"success":false,"error":"sold_out","remaining_stock":0}', reference), {
      outcome: 'sold_out', remaining: 0, purchaseId: null, error: null, cause: null,
    });
    assert.equal(classifyAnswer(409, '', reference).outcome, 'sold_out', 'a refusal needs no body');
    assert.equal(classifyAnswer(400, '{"error":"invalid_request"}', reference).outcome, 'rejected');
    assert.equal(classifyAnswer(404, '', reference).outcome, 'rejected');
    const unavailable = classifyAnswer(503, '{"error":"lock_timeout"}', reference);
    assert.equal(unavailable.outcome, 'http_5xx');
    assert.match(unavailable.error!, /^HTTP 503: \{"error":"lock_timeout"\}$/);
    assert.equal(unavailable.cause, 'HTTP 503', 'causes carry no details, so they can be counted');
    const garbage = classifyAnswer(200, '<html>oops</html>', reference);
    assert.equal(garbage.cause, 'HTTP 200, the body is not JSON');
    assert.equal(garbage.error, 'HTTP 200, the body is not JSON: <html>oops</html>');
  });

  test('an ok status whose body cannot be understood is never taken for a purchase', () => {
    for (const body of ['', 'not json', '{"remaining_stock":1.5}', '{"remaining_stock":"x"}', '{"remaining_stock":"-1.5"}', '{"success":true}', '[]']) {
      assert.equal(classifyAnswer(200, body, reference).outcome, 'bad_body', body);
    }
    assert.equal(classifyAnswer(200, '{"remaining_stock":"7"}', reference).remaining, 7, 'a numeric string is a number');
    assert.equal(classifyAnswer(202, '{"queued":true}', reference).outcome, 'bad_body', 'a status no rule names is unknown');
    assert.equal(classifyAnswer(302, '', reference).outcome, 'bad_body');
  });

  test('an ok answer claiming negative stock is recorded as said: evidence of an oversell, not an unknown', () => {
    assert.deepEqual(classifyAnswer(200, '{"success":true,"purchase_id":7,"remaining_stock":-3}', reference), {
      outcome: 'bought', remaining: -3, purchaseId: '7', error: null, cause: null,
    });
    assert.equal(classifyAnswer(200, '{"remaining_stock":"-2"}', reference).remaining, -2, 'a numeric string too');
    assert.equal(classifyAnswer(410, '{"remaining_stock":-1}', reference).remaining, -1, 'and on a sold-out answer');
  });

  test('refused: "not now, try again", and its precedence over the other rules', () => {
    const rules = { ...reference, refusedBody: /try again/i };
    const refused = (status: number, body: string, retryAfter = false) => classifyAnswer(status, body, rules, retryAfter).outcome;
    // Statuses: a 4xx always, a 5xx only with Retry-After (a bare 503 may come from a proxy after the server acted).
    assert.equal(refused(429, ''), 'refused');
    assert.equal(refused(503, '{"error":"lock_timeout"}', true), 'refused');
    assert.equal(refused(503, '{"error":"lock_timeout"}', false), 'http_5xx');
    assert.equal(refused(502, '', true), 'http_5xx', 'a 5xx not in --refused-status stays unknown, Retry-After or not');
    assert.equal(refused(500, 'please try again', true), 'http_5xx', 'the body rule never applies to a 5xx');
    // Bodies, below 500: refused beats sold out (both say not bought, refused claims nothing about stock) and an ok status.
    assert.equal(refused(200, '{"ok":false,"msg":"lock missed, try again"}'), 'refused');
    assert.equal(refused(400, 'Try again later'), 'refused');
    assert.equal(classifyAnswer(200, 'sold out, try again', { ...rules, soldOutBody: /sold out/ }).outcome, 'refused');
    assert.equal(classifyAnswer(200, '{"ok":true} try again', { ...rules, okBody: /"ok":true/ }).outcome, 'bad_body', 'a body that says both bought and refused is unknown');
    assert.equal(refused(410, 'gone'), 'sold_out', 'the other rules are untouched');
    const typed = classifyAnswer(429, 'slow down', rules);
    assert.equal(typed.cause, 'HTTP 429');
    assert.equal(typed.remaining, null, 'a refusal says nothing about stock');
    assert.equal(classifyAnswer(429, '', { ...rules, refusedStatus: [] }).outcome, 'rejected', 'with --refused-status "" a 429 is a plain 4xx');
  });

  test('without a remaining field, an ok status is a purchase whatever the body', () => {
    const rules = { ...reference, remainingField: '', purchaseIdField: '' };
    assert.deepEqual(classifyAnswer(201, 'Created', rules), { outcome: 'bought', remaining: null, purchaseId: null, error: null, cause: null });
  });

  test('dotted paths reach into nested answers', () => {
    const rules = { ...reference, remainingField: 'order.stock.left', purchaseIdField: 'order.id' };
    assert.deepEqual(classifyAnswer(200, '{"order":{"id":"o-9","stock":{"left":3}}}', rules), { outcome: 'bought', remaining: 3, purchaseId: 'o-9', error: null, cause: null });
    assert.equal(classifyAnswer(200, '{"order":{"id":"o-9"}}', rules).outcome, 'bad_body');
  });

  test('body rules for servers that answer 200 to everything', () => {
    const rules = { ...reference, okBody: /"ok":true/, soldOutBody: /sold.?out/i, remainingField: '' };
    assert.equal(classifyAnswer(200, '{"ok":true}', rules).outcome, 'bought');
    assert.equal(classifyAnswer(200, '{"ok":false,"msg":"Sold out"}', rules).outcome, 'sold_out');
    assert.equal(classifyAnswer(200, '{"ok":false,"msg":"try later"}', rules).outcome, 'bad_body', 'matches neither rule: unknown');
    assert.equal(classifyAnswer(200, '{"ok":true,"msg":"sold out now"}', rules).outcome, 'bad_body', 'matches both rules: unknown');
    assert.equal(classifyAnswer(400, '{"msg":"SOLD_OUT"}', rules).outcome, 'sold_out', 'a 4xx that says sold out');
    assert.equal(classifyAnswer(500, '{"msg":"sold out"}', rules).outcome, 'http_5xx', 'a 5xx stays unknown whatever it says');
    const soldOutOnly = { ...reference, soldOutBody: /SOLD_OUT/, remainingField: '' };
    assert.equal(classifyAnswer(200, '{"status":"SOLD_OUT"}', soldOutOnly).outcome, 'sold_out');
    assert.equal(classifyAnswer(200, '{"status":"CONFIRMED"}', soldOutOnly).outcome, 'bought');
  });
});

describe('classify: failures', () => {
  const failure = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  test('no connection means surely not bought; anything after sending is unknown', () => {
    assert.equal(classifyFailure(failure('ECONNREFUSED')).outcome, 'conn_refused');
    assert.equal(classifyFailure(failure('UND_ERR_CONNECT_TIMEOUT')).outcome, 'conn_refused');
    assert.equal(classifyFailure(failure('UND_ERR_HEADERS_TIMEOUT')).outcome, 'timeout');
    assert.equal(classifyFailure(failure('UND_ERR_BODY_TIMEOUT')).outcome, 'timeout');
    assert.equal(classifyFailure(failure('UND_ERR_SOCKET', 'other side closed')).outcome, 'conn_reset');
    assert.equal(classifyFailure(failure('ECONNRESET')).outcome, 'conn_reset');
    assert.equal(classifyFailure(failure('HPE_INVALID_CONSTANT')).outcome, 'bad_body');
    assert.equal(classifyFailure(new Error('something unforeseen')).outcome, 'conn_reset');
    assert.equal(classifyFailure(failure('UND_ERR_SOCKET', 'other side closed')).error, 'UND_ERR_SOCKET: other side closed');
    assert.equal(classifyFailure(failure('UND_ERR_SOCKET', 'other side closed')).cause, 'UND_ERR_SOCKET');
  });
});

describe('plan', () => {
  const options: AttackOptions = {
    target: 'http://127.0.0.1:3000/buy',
    timeoutMs: 5000,
    quantity: 2,
    headers: [],
    method: 'post',
    okStatus: [200, 201],
    soldOutStatus: [410, 409],
    remainingField: 'remaining_stock',
    purchaseIdField: 'purchase_id',
    historyPath: 'h.jsonl',
  };

  test('defaults: 1000 buyers, all in flight, default body and headers', () => {
    const plan = resolvePlan({ ...options, processes: 3 });
    assert.equal(plan.buyers, 1000);
    assert.equal(plan.concurrency, 1000);
    assert.equal(plan.method, 'POST');
    assert.equal(plan.path, '/buy');
    assert.equal(plan.body, '{"buyer_id":"{{buyer}}","quantity":{{quantity}}}');
    assert.deepEqual(plan.headers, [['content-type', 'application/json'], ['idempotency-key', '{{request_id}}']]);
    const children = childPlans(plan);
    assert.deepEqual(children.map((child) => child.connections), [334, 333, 333]);
    assert.notEqual(resolvePlan(options).runId, plan.runId, 'each run has its own request ids');
  });

  test('never more processes than connections, nor connections than buyers', () => {
    const plan = resolvePlan({ ...options, buyers: 3, processes: 8 });
    assert.equal(plan.concurrency, 3);
    assert.equal(plan.processes, 3);
    assert.equal(resolvePlan({ ...options, buyers: 5000 }).concurrency, 1000, 'at most 1000 by default');
    assert.equal(resolvePlan({ ...options, rate: 50, durationMs: 2000 }).buyers, 100, 'buyers = rate x duration');
  });

  test('refused statuses: defaults give way to the other lists, explicit overlaps are errors', () => {
    assert.deepEqual(resolvePlan(options).rules.refusedStatus, [429, 503]);
    assert.deepEqual(resolvePlan({ ...options, soldOutStatus: [410, 503] }).rules.refusedStatus, [429], 'a user who calls 503 sold out keeps it');
    assert.throws(() => resolvePlan({ ...options, refusedStatus: [410] }), /410 is in both --sold-out-status and --refused-status/);
    assert.throws(() => resolvePlan({ ...options, faults: [{ at: 1, name: 'command', detail: 'x', run: async () => undefined }] }), ConfigError);
  });

  test('mistakes are ConfigErrors', () => {
    assert.throws(() => resolvePlan({ ...options, method: 'GET', body: '{}' }), ConfigError);
    assert.throws(() => resolvePlan({ ...options, target: 'http://user:pw@host/buy' }), /credentials/);
    assert.throws(() => resolvePlan({ ...options, headers: ['X-A: {{what}}'] }), /unknown placeholder/);
  });
});

describe('template and arrivals', () => {
  test('placeholders are filled, everything else is kept', () => {
    const fill = compileTemplate('{"b":"{{buyer}}","r":"{{ request_id }}","i":{{i}},"q":{{quantity}},"x":"{literal}"}', 'test');
    assert.equal(fill({ buyer: 'b-3', request_id: 'run-3', i: 3, quantity: 2 }), '{"b":"b-3","r":"run-3","i":3,"q":2,"x":"{literal}"}');
  });

  test('the children together arrive at exactly the seeded sequence, at the given rate', () => {
    const whole = new ArrivalSchedule(1000, 42, 0, 1, 3000);
    const all: { index: number; offsetNs: number }[] = [];
    for (let next = whole.next(); next; next = whole.next()) all.push(next);
    assert.equal(all.length, 3000);
    // Mean gap 1 ms: 3000 arrivals in about 3 s.
    assert.ok(Math.abs(all.at(-1)!.offsetNs / 1e9 - 3) < 0.3, `${all.at(-1)!.offsetNs / 1e9} s`);
    const split = [0, 1, 2].flatMap((child) => {
      const schedule = new ArrivalSchedule(1000, 42, child, 3, 3000);
      const mine: { index: number; offsetNs: number }[] = [];
      for (let next = schedule.next(); next; next = schedule.next()) mine.push(next);
      return mine;
    });
    assert.deepEqual(split.sort((a, b) => a.index - b.index), all);
    assert.notDeepEqual(new ArrivalSchedule(1000, 43, 0, 1, 10).next(), all[0], 'another seed, another schedule');
  });
});
