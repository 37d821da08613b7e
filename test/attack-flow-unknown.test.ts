// attack --flow when steps go wrong: a 500 or a connection cut before the
// answer is an unknown (info), never guessed into a confirm or a refusal; an
// expired hold's confirm is a definite `expired`; a server gone between the
// steps refuses the connection (nothing sent: a fail), and the history is
// still whole.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, spawnCli } from './helpers/cli.js';
import { flowHistory } from './helpers/flow-history.js';
import { startReservationShop, type ReservationShop, type ReservationShopOptions } from './helpers/reservation-shop.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-flow-unknown-'));
const BUYERS = 12;

describe('attack --flow: unknown and refused steps', () => {
  let shop: ReservationShop | undefined;
  afterEach(() => shop?.close());

  /** Every buyer reserves and then confirms; returns the history. */
  async function confirmAll(name: string, options: ReservationShopOptions, think = '0ms') {
    shop = await startReservationShop(options);
    const path = join(scratch, `${name}.jsonl`);
    const run = await runCli(['attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', String(BUYERS), '--concurrency', '4', '--processes', '2', '--confirm', '1', '--think', think, '--history', path]);
    assert.equal(run.code, 0, run.stderr);
    return { run, history: await flowHistory(path) };
  }

  test('a confirm answered 500 is recorded as info (http_5xx), not as confirmed or refused', async () => {
    const { run, history } = await confirmAll('confirm-500', { stock: 100, fault: { route: 'confirm', kind: '500' } });
    const confirms = history.steps.filter((step) => step.step === 'confirm');
    assert.equal(confirms.length, BUYERS);
    for (const confirm of confirms) {
      assert.equal(confirm.outcome, 'http_5xx');
      assert.equal(confirm.type, 'info');
      assert.equal(confirm.status, 500);
      assert.match(confirm.error!, /^HTTP 500/);
    }
    assert.match(run.stdout, /confirm\s*│ http_5xx\s*│ info\s*│\s*12 │/);
    assert.match(run.stdout, /12\s+confirm: HTTP 500/);
  });

  test('a confirm whose connection is cut before the answer is recorded as info (conn_reset)', async () => {
    const { history } = await confirmAll('confirm-reset', { stock: 100, fault: { route: 'confirm', kind: 'reset' } });
    const confirms = history.steps.filter((step) => step.step === 'confirm');
    assert.equal(confirms.length, BUYERS);
    for (const confirm of confirms) {
      assert.equal(confirm.type, 'info', JSON.stringify(confirm.error));
      assert.equal(confirm.outcome, 'conn_reset');
      assert.equal(confirm.status, null);
    }
  });

  test('a reserve with an unknown outcome gets no second step', async () => {
    const { history } = await confirmAll('reserve-reset', { stock: 100, fault: { route: 'reserve', kind: 'reset' } });
    assert.equal(history.steps.length, BUYERS);
    for (const step of history.steps) {
      assert.equal(step.step, 'reserve');
      assert.equal(step.type, 'info');
      assert.equal(step.reservation_id, null);
    }
  });

  for (const kind of ['429', '503'] as const) {
    test(`a reserve answered ${kind} with Retry-After is refused (fail) and gets no second step`, async () => {
      const { history } = await confirmAll(`reserve-${kind}`, { stock: 100, fault: { route: 'reserve', kind } });
      assert.equal(history.steps.length, BUYERS);
      for (const step of history.steps) assert.deepEqual([step.step, step.outcome, step.type, step.status], ['reserve', 'refused', 'fail', Number(kind)]);
    });
  }

  test('a confirm answered 429 is refused: surely not confirmed, the hold stays held', async () => {
    const { history } = await confirmAll('confirm-429', { stock: 100, fault: { route: 'confirm', kind: '429' } });
    const confirms = history.steps.filter((step) => step.step === 'confirm');
    assert.equal(confirms.length, BUYERS);
    for (const step of confirms) assert.deepEqual([step.outcome, step.type], ['refused', 'fail']);
    assert.ok([...shop!.holds.values()].every((hold) => hold.state === 'held'));
  });

  test('a confirm body naming a field the reserve\'s answer lacks is not sent, and the summary says why', async () => {
    shop = await startReservationShop({ stock: 100 });
    const path = join(scratch, 'missing-field.jsonl');
    const run = await runCli(['attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', String(BUYERS), '--concurrency', '4', '--processes', '1', '--confirm', '1', '--think', '0ms', '--confirm-body', '{"reservation_id":"{{reserve.hold_id}}"}', '--history', path]);
    assert.equal(run.code, 0, run.stderr);
    const { steps } = await flowHistory(path);
    assert.equal(steps.length, BUYERS);
    assert.ok(steps.every((step) => step.step === 'reserve' && step.outcome === 'reserved'));
    assert.equal(shop.seen.length, BUYERS);
    assert.match(run.stdout, /12 not sent \(stopped, or a field missing\)/);
    assert.match(run.stdout, /12\s+confirm not sent: no "hold_id" in the reserve's answer/);
  });

  test('Ctrl-C during the think time: no confirm is sent, the history ends interrupted, exit 130', async () => {
    shop = await startReservationShop({ stock: 100 });
    const path = join(scratch, 'interrupted.jsonl');
    const attack = spawnCli(['attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', String(BUYERS), '--concurrency', String(BUYERS), '--processes', '2', '--confirm', '1', '--think', '20s', '--history', path, '--json']);
    for (let waited = 0; shop.seen.length < BUYERS && waited < 20_000; waited += 20) await sleep(20);
    assert.equal(shop.seen.length, BUYERS, 'every reserve arrived');
    await sleep(200);
    const stoppedAt = Date.now();
    attack.child.kill('SIGINT');
    const run = await attack.done;
    assert.equal(run.code, 130, run.stderr);
    // The stop ends the think time itself; a run that waited the 20 s out would still send nothing.
    assert.ok(Date.now() - stoppedAt < 10_000, `the run waited ${Date.now() - stoppedAt} ms after Ctrl-C`);
    assert.equal(shop.seen.length, BUYERS, 'no confirm was sent');
    const { steps, end } = await flowHistory(path);
    assert.deepEqual(end, { kind: 'end', planned: BUYERS, recorded: BUYERS, reason: 'interrupted' });
    assert.ok(steps.every((step) => step.step === 'reserve' && step.outcome === 'reserved'));
    const summary = JSON.parse(run.stdout) as { flow: { unsent: number; abandoned: number } };
    assert.deepEqual([summary.flow.unsent, summary.flow.abandoned], [BUYERS, 0]);
  });

  test('a confirm after the hold expired is a definite expired (410), and the reserve records the hold time', async () => {
    const { history } = await confirmAll('expired', { stock: 100, ttlMs: 20 }, '60ms');
    for (const step of history.steps) {
      if (step.step === 'reserve') assert.equal(step.ttl_ms, 20);
      else {
        assert.equal(step.outcome, 'expired');
        assert.equal(step.type, 'fail');
        assert.equal(step.status, 410);
      }
    }
    assert.equal(history.steps.filter((step) => step.step === 'confirm').length, BUYERS);
  });

  test('a server killed during the think time: the confirms are refused connections (never sent), the history is whole', async () => {
    shop = await startReservationShop({ stock: 100 });
    const path = join(scratch, 'killed.jsonl');
    const attack = spawnCli(['attack', '--target', shop.url, '--flow', 'reserve-confirm', '--buyers', String(BUYERS), '--concurrency', String(BUYERS), '--processes', '2', '--confirm', '1', '--think', '1500ms', '--history', path]);
    for (let waited = 0; shop.seen.length < BUYERS && waited < 20_000; waited += 20) await sleep(20);
    assert.equal(shop.seen.length, BUYERS, 'every reserve arrived');
    await shop.close();
    shop = undefined;
    const run = await attack.done;
    assert.equal(run.code, 0, run.stderr);
    const { steps, end } = await flowHistory(path);
    assert.deepEqual(end, { kind: 'end', planned: BUYERS, recorded: 2 * BUYERS, reason: 'done' });
    for (const step of steps) {
      if (step.step === 'reserve') assert.equal(step.outcome, 'reserved');
      else {
        assert.equal(step.outcome, 'conn_refused', JSON.stringify(step.error));
        assert.equal(step.type, 'fail');
      }
    }
  });
});
