// The reservation flow of the reference server on every database
// (docs/reservations.md): reserve → confirm / cancel, idempotent replays,
// expiry that returns units exactly once and sells them again, and a confirm
// after expiry that is refused and changes nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { reservationFlow } from '../adapters/reservations/index.js';
import { prepareStore, resetStock } from '../adapters/store.js';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';
import { comparableReservations, eventually, post, readReservationState, unitsAccountedFor } from './helpers/reservation-state.js';

const SHORT_TTL_MS = 300;

for (const db of DATABASES) {
  describe(`reservations on ${db.name}`, { skip: db.skip }, () => {
    const url = db.url();
    const sku = uniqueSku('res');
    const shortSku = uniqueSku('ttl');
    let server: ServeProcess;
    let shortServer: ServeProcess;
    let client: Client;
    let shortClient: Client;
    let adapter: Adapter;

    before(async () => {
      // A TTL no test outlives, and one short enough to watch expire.
      server = await startServe(['--db', url, '--sku', sku, '--stock', '10', '--reservation-ttl', '60s']);
      shortServer = await startServe(['--db', url, '--sku', shortSku, '--stock', '10', '--reservation-ttl', `${SHORT_TTL_MS}ms`]);
      client = new Client(server.url, 8);
      shortClient = new Client(shortServer.url, 8);
      adapter = await openAdapter({ url });
    });
    after(async () => {
      await client?.close();
      await shortClient?.close();
      await adapter?.close();
      await server?.stop();
      await shortServer?.stop();
    });

    const reset = async (target: Client, item: string, stock: number) =>
      assert.equal((await target.call({ method: 'POST', path: '/reset', body: { sku: item, stock } })).status, 200);

    test('reserve, confirm and cancel: stock, holds, events and conservation', async () => {
      await reset(client, sku, 10);
      const held = await client.call(post('/reserve', { sku, buyer_id: 'b-1', quantity: 2 }, 'k-hold-1'));
      assert.equal(held.status, 201, held.text);
      assert.match(held.body.reservation_id, /^r_[0-9a-f]{24}$/);
      assert.deepEqual(
        [held.body.success, held.body.sku, held.body.quantity, held.body.ttl_seconds, held.body.remaining_stock, held.body.request_id],
        [true, sku, 2, 60, 8, 'k-hold-1'],
      );
      assert.ok(Math.abs(Date.parse(held.body.expires_at) - Date.now() - 60_000) < 5_000, held.body.expires_at);
      const inventory = (await client.inventory(sku)).body;
      assert.deepEqual([inventory.current_stock, inventory.held, inventory.confirmed], [8, 2, 0]);
      const shown = await client.call({ path: `/reservations/${held.body.reservation_id}` });
      assert.deepEqual([shown.status, shown.body.state, shown.body.buyer_id, shown.body.settled_at], [200, 'held', 'b-1', null]);

      const confirmed = await client.call(post('/confirm', { reservation_id: held.body.reservation_id, buyer_id: 'b-1' }, 'k-confirm-1'));
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.deepEqual(confirmed.body, { success: true, reservation_id: held.body.reservation_id, sku, quantity: 2, state: 'confirmed', request_id: 'k-confirm-1' });

      const second = await client.call(post('/reserve', { sku, buyer_id: 'b-2', quantity: 3 }));
      assert.equal(second.body.remaining_stock, 5);
      const cancelled = await client.call(post('/cancel', { reservation_id: second.body.reservation_id }));
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.deepEqual([cancelled.body.state, cancelled.body.quantity, cancelled.body.remaining_stock], ['cancelled', 3, 8]);

      const state = await readReservationState(adapter, sku);
      assert.deepEqual([state.inventory.current_stock, state.inventory.held, state.inventory.confirmed], [8, 0, 2]);
      assert.deepEqual(state.reservations.map((row) => row.state), ['confirmed', 'cancelled']);
      assert.deepEqual(state.events.map((event) => [event.kind, event.quantity, event.stockAfter]), [['hold', 2, 8], ['confirm', 2, 8], ['hold', 3, 5], ['cancel', 3, 8]]);
      assert.equal(unitsAccountedFor(state), 10);
      // A purchase beside the holds sells from the available stock only.
      assert.equal((await client.buy({ sku, quantity: 8 })).status, 200);
      assert.equal((await client.buy({ sku })).status, 410);
      assert.equal(unitsAccountedFor(await readReservationState(adapter, sku)), 10);
    });

    test('a repeated reserve key returns the original hold and holds nothing new, also when both arrive at once', async () => {
      await reset(client, sku, 10);
      const key = `k-${randomUUID()}`;
      const first = await client.call(post('/reserve', { sku, buyer_id: 'b', quantity: 2 }, key));
      const again = await client.call(post('/reserve', { sku, buyer_id: 'b', quantity: 2 }, key));
      assert.equal(again.status, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.deepEqual(again.body, first.body);

      const twinKey = `k-${randomUUID()}`;
      const twins = await Promise.all([1, 2].map(() => client.call(post('/reserve', { sku, buyer_id: 'b', quantity: 3 }, twinKey))));
      assert.deepEqual(twins.map((answer) => answer.status), [201, 201]);
      assert.equal(twins[0]!.body.reservation_id, twins[1]!.body.reservation_id);
      assert.equal(twins.filter((answer) => answer.headers['idempotent-replayed'] === 'true').length, 1);

      const reused = await client.call(post('/reserve', { sku, buyer_id: 'b', quantity: 1 }, key));
      assert.deepEqual([reused.status, reused.body.error], [422, 'idempotency_key_reused']);
      const state = await readReservationState(adapter, sku);
      assert.deepEqual([state.reservations.length, state.events.length, state.inventory.current_stock, state.inventory.held], [2, 2, 5, 5]);
    });

    test('a repeated confirm key returns the original answer, also when both arrive at once; another key is 409', async () => {
      await reset(client, sku, 10);
      for (const together of [false, true]) {
        const held = (await client.call(post('/reserve', { sku, buyer_id: 'b', quantity: 1 }))).body;
        const key = `c-${randomUUID()}`;
        const call = () => client.call(post('/confirm', { reservation_id: held.reservation_id }, key));
        const answers = together ? await Promise.all([call(), call()]) : [await call(), await call()];
        assert.deepEqual(answers.map((answer) => answer.status), [200, 200], answers.map((answer) => answer.text).join('\n'));
        assert.deepEqual(answers[0]!.body, answers[1]!.body);
        assert.equal(answers.filter((answer) => answer.headers['idempotent-replayed'] === 'true').length, 1);
        const other = await client.call(post('/confirm', { reservation_id: held.reservation_id }));
        assert.deepEqual([other.status, other.body.error], [409, 'already_confirmed']);
      }
      const state = await readReservationState(adapter, sku);
      assert.deepEqual(state.events.map((event) => event.kind), ['hold', 'confirm', 'hold', 'confirm']);
      assert.deepEqual([state.inventory.current_stock, state.inventory.confirmed], [8, 2]);
    });

    test('an expired hold returns its units exactly once, and a later reserve sells them', async () => {
      await reset(shortClient, shortSku, 10);
      const held = (await shortClient.call(post('/reserve', { sku: shortSku, buyer_id: 'slow', quantity: 10 }))).body;
      assert.equal(held.remaining_stock, 0);
      assert.equal((await shortClient.call(post('/reserve', { sku: shortSku, buyer_id: 'next' }))).status, 409);
      // The sweeper (every ttl/4) returns them with nobody touching the item.
      assert.ok(await eventually(async () => (await readReservationState(adapter, shortSku)).inventory.current_stock === 10), 'units back');
      await new Promise((resolve) => setTimeout(resolve, SHORT_TTL_MS));
      const state = await readReservationState(adapter, shortSku);
      assert.deepEqual(state.events.map((event) => [event.kind, event.stockAfter]), [['hold', 0], ['expire', 10]]);
      assert.deepEqual([state.reservations[0]!.state, state.inventory.held], ['expired', 0]);
      assert.equal((await shortClient.call({ path: `/reservations/${held.reservation_id}` })).body.state, 'expired');

      const later = await shortClient.call(post('/reserve', { sku: shortSku, buyer_id: 'next', quantity: 10 }));
      assert.deepEqual([later.status, later.body.remaining_stock], [201, 0], later.text);
      assert.equal(unitsAccountedFor(await readReservationState(adapter, shortSku)), 10);
    });

    test('a confirm or cancel after expiry gets 410 and changes nothing', async () => {
      await reset(shortClient, shortSku, 10);
      const held = (await shortClient.call(post('/reserve', { sku: shortSku, buyer_id: 'late', quantity: 4 }))).body;
      assert.ok(await eventually(async () => (await readReservationState(adapter, shortSku)).inventory.held === 0));
      const before = comparableReservations(await readReservationState(adapter, shortSku));
      for (const step of ['/confirm', '/cancel'] as const) {
        const late = await shortClient.call(post(step, { reservation_id: held.reservation_id }));
        assert.deepEqual([late.status, late.body.error], [410, 'reservation_expired'], late.text);
      }
      assert.deepEqual(comparableReservations(await readReservationState(adapter, shortSku)), before);
    });

    test('a confirm at the expiry time, before any sweep, writes the expiry itself once and answers 410', async () => {
      const item = uniqueSku('clock');
      await prepareStore(adapter, { sku: item, itemName: 'clock', stock: 5 });
      await resetStock(adapter, item, 5);
      // An hour ahead of the real clock: the servers' sweepers (real time,
      // every item of the shared database) leave these holds alone.
      let nowMs = Date.now() + 3_600_000;
      const flow = reservationFlow(adapter, 'lock', () => nowMs);
      const hold = async (quantity: number) => {
        const outcome = await flow.reserve({ sku: item, buyerId: 'b', quantity, requestId: `r-${randomUUID()}`, ttlMs: 1000 });
        assert.equal(outcome.kind, 'reserved');
        return outcome.kind === 'reserved' ? outcome.reservation.reservationId : '';
      };
      const confirm = (reservationId: string) => flow.confirm({ reservationId, buyerId: undefined, requestId: `c-${randomUUID()}` });
      const early = await hold(1);
      const late = await hold(3);
      // Confirmable while now < expires_at…
      nowMs += 999;
      assert.equal((await confirm(early)).reservation.state, 'confirmed');
      // …and not at expires_at: the confirm writes the expiry (returning the units once) and answers 410.
      nowMs += 1;
      await assert.rejects(confirm(late), { httpStatus: 410, httpError: 'reservation_expired' });
      await assert.rejects(confirm(late), { httpStatus: 410 });
      const state = await readReservationState(adapter, item);
      assert.deepEqual(state.events.map((event) => [event.kind, event.stockAfter]), [['hold', 4], ['hold', 1], ['confirm', 1], ['expire', 4]]);
      assert.deepEqual([state.inventory.current_stock, state.inventory.held, state.inventory.confirmed], [4, 0, 1]);
    });
  });
}
