// Step lines (attack --flow): the writer's text reads back to the same record,
// and a step line that contradicts itself is a format error naming its line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HistoryFormatError } from '../src/errors.js';
import { parseHistoryLine } from '../src/history/reader.js';
import type { StepRecord } from '../src/history/types.js';
import { formatStepLine } from '../src/history/writer.js';

const reserve: StepRecord = {
  kind: 'step',
  process: 0,
  buyer: 'b-3',
  flow_id: 'run-3',
  step: 'reserve',
  request_id: 'run-3',
  type: 'ok',
  outcome: 'reserved',
  t_inv: 9_007_199_254_741_001n,
  t_cmp: 9_007_199_254_741_999n,
  status: 201,
  reservation_id: 'r_0f3a',
  quantity: 2,
  remaining: 7,
  ttl_ms: 1500,
  error: null,
};

describe('step lines', () => {
  test('a step line reads back as written, nanoseconds beyond 2^53 included', () => {
    const line = formatStepLine(reserve);
    assert.ok(line.endsWith('\n'));
    assert.deepEqual(parseHistoryLine(line.trimEnd(), 'h.jsonl', 2), reserve);
  });

  test('a confirm that expired is a fail without a ttl', () => {
    const expired: StepRecord = { ...reserve, step: 'confirm', request_id: 'run-3.confirm', type: 'fail', outcome: 'expired', status: 410, remaining: null, ttl_ms: null };
    assert.deepEqual(parseHistoryLine(formatStepLine(expired).trimEnd(), 'h.jsonl', 3), expired);
  });

  const bad: Array<[string, Partial<Record<keyof StepRecord, unknown>>, RegExp]> = [
    ['an unknown step', { step: 'pay' }, /h\.jsonl:5: unknown step "pay"/],
    ['an outcome of the wrong type', { type: 'info' }, /outcome reserved must have type ok/],
    ['a confirm that ended reserved', { step: 'confirm' }, /a confirm step cannot end reserved/],
    ['a reserved step without its reservation', { reservation_id: null }, /must carry its reservation_id/],
    ['a ttl of zero', { ttl_ms: 0 }, /"ttl_ms" must be above 0/],
    ['an unknown outcome', { outcome: 'held' }, /unknown step outcome "held"/],
  ];
  for (const [name, change, message] of bad) {
    test(`refuses ${name}`, () => {
      const line = JSON.stringify({ ...JSON.parse(formatStepLine({ ...reserve, t_inv: 1n, t_cmp: 2n })), ...change });
      assert.throws(() => parseHistoryLine(line, 'h.jsonl', 5), (error) => error instanceof HistoryFormatError && message.test(error.message));
    });
  }
});
