// Expiry and the rate limit across processes, on every database: two server
// workers (two sweepers) return each expired hold exactly once; holds left
// by a stopped server come back after it starts again; and the per-buyer
// rate limit holds across two workers and a restart, because all of it is
// rows in the database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { startServe } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, countStatuses } from './helpers/http.js';
import { eventually, post, readReservationState, unitsAccountedFor, type ReservationState } from './helpers/reservation-state.js';

/** Each hold ended exactly once: one terminal event per reservation, matching its state. */
function assertEndedOnce(state: ReservationState): void {
  for (const row of state.reservations) {
    const ends = state.events.filter((event) => event.reservationId === row.reservationId && event.kind !== 'hold');
    assert.equal(ends.length, 1, `${row.reservationId} ended ${ends.length} times: ${ends.map((event) => event.kind).join(', ')}`);
  }
}

/** Waits out the end of the current minute when it is near, so that a count stays in one rate window. */
async function awayFromMinuteBoundary(marginMs: number): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 60_000 - marginMs) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 50));
}

for (const db of DATABASES) {
  describe(`reservations across processes on ${db.name}`, { skip: db.skip }, () => {
    const url = db.url();
    let adapter: Adapter;
    before(async () => {
      adapter = await openAdapter({ url });
    });
    after(async () => {
      await adapter?.close();
    });

    test('two workers, two sweepers: 40 expired holds come back exactly once each', async () => {
      const sku = uniqueSku('w2');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', '40', '--workers', '2', '--reservation-ttl', '300ms']);
      const client = new Client(server.url, 16);
      try {
        const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => client.call(post('/reserve', { sku, buyer_id: `b-${i}` }))));
        assert.deepEqual(countStatuses(answers), { 201: 40 });
        assert.ok(await eventually(async () => (await readReservationState(adapter, sku)).inventory.held === 0), 'all swept');
        // Two more sweep periods, in which a double return would show.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const state = await readReservationState(adapter, sku);
        assertEndedOnce(state);
        assert.ok(state.reservations.every((row) => row.state === 'expired'));
        assert.equal(state.inventory.current_stock, 40);
        assert.equal(unitsAccountedFor(state), 40);
      } finally {
        await client.close();
        await server.stop();
      }
    });

    test('holds left by a stopped server come back when it starts again', async () => {
      const sku = uniqueSku('rst');
      const args = ['--db', url, '--sku', sku, '--stock', '10', '--reservation-ttl', '1s'];
      let server = await startServe(args);
      let client = new Client(server.url, 4);
      const held = await client.call(post('/reserve', { sku, buyer_id: 'gone', quantity: 6 }));
      assert.equal(held.status, 201);
      await client.close();
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, 1300));
      const down = await readReservationState(adapter, sku);
      // With nobody serving SQLite, nothing can have expired the hold; a
      // shared server database may have other suites' sweepers running.
      if (db.name === 'sqlite') assert.deepEqual([down.inventory.current_stock, down.reservations[0]!.state], [4, 'held']);

      server = await startServe(args);
      client = new Client(server.url, 4);
      try {
        assert.ok(await eventually(async () => (await readReservationState(adapter, sku)).inventory.current_stock === 10), 'units back after the restart');
        const state = await readReservationState(adapter, sku);
        assertEndedOnce(state);
        assert.deepEqual(state.events.map((event) => [event.kind, event.stockAfter]), [['hold', 4], ['expire', 10]]);
        assert.equal((await client.call(post('/reserve', { sku, buyer_id: 'next', quantity: 10 }))).status, 201);
      } finally {
        await client.close();
        await server.stop();
      }
    });

    test('--rate-limit 5/min answers 429 with Retry-After across two workers and a restart', async () => {
      const sku = uniqueSku('rl');
      const greedy = `greedy-${randomUUID()}`;
      const args = ['--db', url, '--sku', sku, '--stock', '100', '--rate-limit', '5/min', '--reservation-ttl', '60s'];
      await awayFromMinuteBoundary(15_000);
      let server = await startServe([...args, '--workers', '2']);
      let client = new Client(server.url, 12);
      try {
        const answers = await Promise.all(Array.from({ length: 12 }, () => client.call(post('/reserve', { sku, buyer_id: greedy }))));
        assert.deepEqual(countStatuses(answers), { 201: 5, 429: 7 });
        for (const refused of answers.filter((answer) => answer.status === 429)) {
          assert.equal(refused.body.error, 'rate_limited');
          const retryAfter = Number(refused.headers['retry-after']);
          assert.ok(retryAfter >= 1 && retryAfter <= 60, String(refused.headers['retry-after']));
        }
        // Another buyer is not limited by the greedy one.
        assert.equal((await client.call(post('/reserve', { sku, buyer_id: `calm-${randomUUID()}` }))).status, 201);
        // Refused requests held nothing.
        assert.equal((await readReservationState(adapter, sku)).inventory.held, 6);
      } finally {
        await client.close();
        await server.stop();
      }
      server = await startServe(args);
      client = new Client(server.url, 2);
      try {
        const again = await client.call(post('/reserve', { sku, buyer_id: greedy }));
        assert.equal(again.status, 429, 'the count survived the restart');
      } finally {
        await client.close();
        await server.stop();
      }
    });
  });
}
