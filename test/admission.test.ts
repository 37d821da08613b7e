// The admission gate on its own: slots, a bounded line, refusals that say why.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdmissionGate } from '../reference-server/admission.js';

/** A piece of work that runs until `finish()` is called. */
function heldWork(): { run: () => Promise<string>; finish: (value: string) => void; started: () => boolean } {
  let finish: (value: string) => void = () => {};
  let started = false;
  const done = new Promise<string>((resolve) => (finish = resolve));
  return {
    run: () => {
      started = true;
      return done;
    },
    finish: (value) => finish(value),
    started: () => started,
  };
}

describe('AdmissionGate', () => {
  test('runs up to its slots, queues up to maxQueue in arrival order, refuses the rest at once', async () => {
    const gate = new AdmissionGate(1, 2, 60_000);
    const works = [heldWork(), heldWork(), heldWork(), heldWork()];
    const results = works.map((work) => gate.run(work.run));
    await assert.rejects(results[3]!, { code: 'FS_OVERLOADED', message: /2 purchases already wait.*--max-queue/ });
    assert.deepEqual(works.map((work) => work.started()), [true, false, false, false]);
    assert.equal(gate.queued, 2);
    works[0]!.finish('first');
    assert.equal(await results[0], 'first');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(works.map((work) => work.started()), [true, true, false, false], 'the slot passed to the earliest waiter');
    works[1]!.finish('second');
    works[2]!.finish('third');
    assert.deepEqual(await Promise.all(results.slice(0, 3)), ['first', 'second', 'third']);
    assert.equal(gate.queued, 0);
  });

  test('a waiter past waitMs is refused with an honest message, and its slot is not lost', async () => {
    const gate = new AdmissionGate(1, 5, 20);
    const holder = heldWork();
    const held = gate.run(holder.run);
    const waiter = heldWork();
    await assert.rejects(gate.run(waiter.run), { code: 'FS_OVERLOADED', message: /no database connection became free within 0.02 s/ });
    assert.equal(waiter.started(), false);
    holder.finish('done');
    await held;
    const next = heldWork();
    const after = gate.run(next.run);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(next.started(), true, 'the slot is free again');
    next.finish('ok');
    assert.equal(await after, 'ok');
  });
});
