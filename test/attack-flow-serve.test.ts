// attack --flow end to end against the reference server (`serve`, SQLite):
// every step line agrees with the rows the server wrote — a reserved step
// has its reservation row (same id, request id, buyer, stock after), an ok
// confirm or cancel has its event under the step's request id, a refused
// reserve has nothing — and holds confirmed after their time are `expired`.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { flowHistory } from './helpers/flow-history.js';
import { readReservationState, unitsAccountedFor } from './helpers/reservation-state.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-flow-serve-'));

describe('attack --flow against serve (SQLite)', () => {
  let server: ServeProcess | undefined;
  let adapter: Adapter | undefined;
  afterEach(async () => {
    await adapter?.close();
    await server?.stop();
  });

  test('step lines and the server\'s reservation rows and events agree, request id by request id', async () => {
    const url = `sqlite:${join(scratch, 'agree.db')}`;
    server = await startServe(['--db', url, '--stock', '20', '--reservation-ttl', '60s']);
    const path = join(scratch, 'agree.jsonl');
    const run = await runCli(['attack', '--target', server.url, '--flow', 'reserve-confirm', '--buyers', '60', '--concurrency', '10', '--processes', '2', '--confirm', '0.6', '--cancel', '0.2', '--think', '5ms..30ms', '--seed', '3', '--history', path]);
    assert.equal(run.code, 0, run.stderr);
    const { steps, end } = await flowHistory(path);
    assert.equal(end!.recorded, steps.length);
    adapter = await openAdapter({ url });
    const state = await readReservationState(adapter, 'A');

    const rows = new Map(state.reservations.map((row) => [row.requestId, row]));
    const reserves = steps.filter((step) => step.step === 'reserve');
    const held = reserves.filter((step) => step.outcome === 'reserved');
    assert.equal(rows.size, held.length, 'one row per reserved step, none for a refused one');
    for (const step of held) {
      const row = rows.get(step.request_id)!;
      assert.ok(row, `no row for ${step.request_id}`);
      assert.deepEqual([row.reservationId, row.buyerId, row.stockAfter], [step.reservation_id, step.buyer, step.remaining]);
      assert.equal(step.ttl_ms, 60_000);
    }
    for (const step of reserves.filter((step) => step.outcome !== 'reserved')) assert.equal(step.outcome, 'sold_out');

    const events = new Map(state.events.filter((event) => event.requestId !== undefined).map((event) => [event.requestId!, event]));
    const settles = steps.filter((step) => step.step !== 'reserve');
    assert.ok(settles.length > 0);
    for (const step of settles) {
      assert.equal(step.outcome, step.step === 'confirm' ? 'confirmed' : 'cancelled', step.error ?? '');
      const event = events.get(step.request_id)!;
      assert.ok(event, `no event for ${step.request_id}`);
      assert.deepEqual([event.kind, event.reservationId], [step.step, step.reservation_id]);
    }
    assert.equal(state.events.filter((event) => event.kind === 'confirm' || event.kind === 'cancel').length, settles.length);
    // Holds never settled are still held (the TTL outlives the test).
    const settled = new Set(settles.map((step) => step.reservation_id));
    assert.equal(state.reservations.filter((row) => row.state === 'held').length, held.filter((step) => !settled.has(step.reservation_id)).length);
    assert.equal(unitsAccountedFor(state), 20);
  });

  test('confirms after the hold\'s time are expired, and the returned units are held again by later buyers', async () => {
    const url = `sqlite:${join(scratch, 'expire.db')}`;
    server = await startServe(['--db', url, '--stock', '5', '--reservation-ttl', '200ms']);
    const path = join(scratch, 'expire.jsonl');
    const run = await runCli(['attack', '--target', server.url, '--flow', 'reserve-confirm', '--buyers', '15', '--concurrency', '5', '--processes', '1', '--confirm', '1', '--think', '400ms', '--history', path, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const { steps } = await flowHistory(path);
    const reserves = steps.filter((step) => step.step === 'reserve');
    assert.equal(reserves.filter((step) => step.outcome === 'reserved').length, 15, 'every buyer held a unit: expired holds came back');
    const confirms = steps.filter((step) => step.step === 'confirm');
    assert.equal(confirms.length, 15);
    for (const confirm of confirms) assert.deepEqual([confirm.outcome, confirm.type, confirm.status], ['expired', 'fail', 410]);
    const summary = JSON.parse(run.stdout) as { flow: { steps: { confirm: { outcomes: Record<string, number> } } } };
    assert.equal(summary.flow.steps.confirm.outcomes.expired, 15);
    adapter = await openAdapter({ url });
    const state = await readReservationState(adapter, 'A');
    assert.equal(state.reservations.filter((row) => row.state === 'expired').length, 15);
    assert.equal(state.inventory.current_stock, 5);
  });
});
