// `attack --shard i/n`: how one run's buyers are split over machines, and
// the one-line errors for a shard, run id or start time that cannot be.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buyersOf, childPlans, requestId, resolvePlan, shardIndices, shareOf, type AttackOptions } from '../src/attack/plan.js';
import { ArrivalSchedule } from '../src/attack/arrivals.js';
import { assertOneLineError, runCli } from './helpers/cli.js';

const options: AttackOptions = {
  target: 'http://127.0.0.1:3000/buy',
  timeoutMs: 5000,
  quantity: 1,
  headers: [],
  method: 'POST',
  okStatus: [200, 201],
  soldOutStatus: [410, 409],
  remainingField: 'remaining_stock',
  purchaseIdField: 'purchase_id',
  historyPath: 'h.jsonl',
};

/** The global buyer indices every child of one shard's plan sends, as buyer.ts walks them. */
function indicesOf(shard: { index: number; count: number }, buyers: number, processes: number): number[] {
  const plan = resolvePlan({ ...options, buyers, processes, shard, runId: 'run-1' });
  const indices: number[] = [];
  for (const child of childPlans(plan)) {
    for (let k = 0; k < buyersOf(child); k++) indices.push(child.index + k * child.processes);
  }
  assert.equal(indices.length, plan.buyers, 'the children send exactly the shard\'s buyers');
  return indices;
}

describe('shard split', () => {
  for (const [buyers, count] of [[1000, 3], [10, 3], [7, 7], [11, 4], [1, 1]] as const) {
    test(`${buyers} buyers over ${count} shards: disjoint, covering, uneven shares differ by at most one`, () => {
      const seen = new Uint8Array(buyers);
      const shares: number[] = [];
      for (let index = 1; index <= count; index++) {
        // Each machine its own process count: the split must not depend on it.
        const indices = indicesOf({ index, count }, buyers, 1 + (index % 3));
        assert.deepEqual([...indices].sort((a, b) => a - b), [...shardIndices(buyers, { index, count })]);
        for (const i of indices) {
          assert.ok(i >= 0 && i < buyers, `index ${i} in range`);
          assert.equal(seen[i], 0, `index ${i} sent by two shards`);
          seen[i] = 1;
        }
        shares.push(indices.length);
        assert.equal(indices.length, shareOf(buyers, { index, count }));
      }
      assert.ok(seen.every((bit) => bit === 1), 'every buyer is in some shard');
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1, `shares ${shares}`);
    });
  }

  test('shards of one run share the run id and the seed, so request ids and arrivals line up', () => {
    const first = resolvePlan({ ...options, buyers: 9, shard: { index: 1, count: 3 }, runId: 'ci-42' });
    const third = resolvePlan({ ...options, buyers: 9, shard: { index: 3, count: 3 }, runId: 'ci-42' });
    assert.equal(first.runId, 'ci-42');
    assert.equal(first.seed, third.seed, 'a seed nobody gave comes from the run id');
    assert.equal(requestId(third.runId, 2), 'ci-42-2');
    assert.equal(resolvePlan({ ...options, buyers: 9, shard: { index: 1, count: 3 }, runId: 'ci-42', seed: 7 }).seed, 7);
  });

  test('open model: the shards\' children together draw the one schedule of the unsharded run', () => {
    const [buyers, rate, seed] = [50, 1000, 99];
    const whole = new ArrivalSchedule(rate, seed, 0, 1, buyers);
    const expected: Array<{ index: number; offsetNs: number }> = [];
    for (let next = whole.next(); next; next = whole.next()) expected.push(next);
    const drawn: Array<{ index: number; offsetNs: number }> = [];
    for (let index = 1; index <= 3; index++) {
      const plan = resolvePlan({ ...options, buyers, rate, seed, processes: 2, shard: { index, count: 3 }, runId: 'r' });
      for (const child of childPlans(plan)) {
        const schedule = new ArrivalSchedule(child.rate!, child.seed, child.index, child.processes, child.buyers);
        for (let next = schedule.next(); next; next = schedule.next()) drawn.push(next);
      }
    }
    assert.deepEqual(drawn.sort((a, b) => a.index - b.index), expected);
  });

  test('concurrency is the whole run\'s, shared out', () => {
    const shares = [1, 2, 3].map((index) => resolvePlan({ ...options, buyers: 1000, concurrency: 100, shard: { index, count: 3 }, runId: 'r' }).concurrency);
    assert.deepEqual(shares, [34, 33, 33]);
  });
});


describe('attack --shard, --run-id, --start-at: bad input is one line, exit 2', () => {
  // Port 9 (discard) is never dialled: the flags are refused first.
  const attack = (...flags: string[]) => runCli(['attack', '--target', 'http://127.0.0.1:9/buy', '--buyers', '10', '--history', '/nonexistent/h.jsonl', ...flags]);
  for (const bad of ['0/3', '4/3', '1/0', 'two/three', '1/3/5', '-1/3', '']) {
    test(`--shard ${JSON.stringify(bad)}`, async () => {
      assertOneLineError(await attack('--shard', bad, '--run-id', 'r'), /--shard.*expected i\/n with 1 <= i <= n/);
    });
  }
  test('more shards than buyers', async () => {
    assertOneLineError(await attack('--shard', '2/20', '--run-id', 'r'), /20 shards for 10 buyers leaves some shard none/);
  });
  test('--shard without --run-id', async () => {
    assertOneLineError(await attack('--shard', '1/3'), /--shard 1\/3 needs --run-id/);
  });
  test('a run id that cannot prefix request ids', async () => {
    assertOneLineError(await attack('--shard', '1/3', '--run-id', 'has space'), /--run-id: expected 1 to 40 letters/);
  });
  for (const bad of ['tomorrow', '2026-12-07T10:00:00', '+30s', '2026-13-45T99:00:00Z']) {
    test(`--start-at ${JSON.stringify(bad)}`, async () => {
      assertOneLineError(await attack('--start-at', bad), /--start-at.*expected an ISO 8601 instant with its zone/);
    });
  }
  test('--start-at in the past', async () => {
    assertOneLineError(await attack('--start-at', '2020-01-01T00:00:00Z'), /--start-at 2020-01-01T00:00:00.000Z is \d+ s in the past/);
  });
});
