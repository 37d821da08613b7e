// Bad input to the reservation routes, on every database: each request gets
// its 4xx and a JSON error word, and changes neither stock, ledger,
// reservations nor events; the server still reserves afterwards. The same
// shape as server-bad-input.test.ts, for /reserve, /confirm, /cancel and
// GET /reservations/:id.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Adapter } from '../adapters/adapter.js';
import { openAdapter } from '../adapters/open.js';
import { reservationFlow } from '../adapters/reservations/index.js';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, type Answer, type Call } from './helpers/http.js';
import { rawCall, type RawCall } from './helpers/raw-http.js';
import { comparableReservations, eventually, post, readReservationState } from './helpers/reservation-state.js';

/** The holds every case can name: one in each state, all bought by `owner`. */
interface Holds {
  held: string;
  confirmed: string;
  cancelled: string;
  expired: string;
  /** The Idempotency-Key of the `held` hold's reserve, and of the `confirmed` hold's confirm (unique per run: the databases are shared). */
  heldKey: string;
  confirmKey: string;
}

interface BadInput {
  name: string;
  status: number;
  error: string;
  send: (sku: string, holds: Holds) => Call | { raw: RawCall };
}

const text = (path: string, body: string, contentType?: string): Call => ({ method: 'POST', path, body, headers: contentType ? { 'content-type': contentType } : {} });
const raw = (path: string, body: string, headers: Array<[string, string]>) => ({ raw: { method: 'POST', path, headers, body } });
const big = 'x'.repeat(17 * 1024);

const BAD_INPUTS: BadInput[] = [
  // POST /reserve: the /buy rules
  { name: 'reserve: malformed JSON', status: 400, error: 'invalid_request', send: () => text('/reserve', '{"quantity": 1', 'application/json') },
  { name: 'reserve: a JSON array', status: 400, error: 'invalid_request', send: () => post('/reserve', [1]) },
  { name: 'reserve: quantity 0', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: 0 }) },
  { name: 'reserve: quantity negative', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: -2 }) },
  { name: 'reserve: quantity huge', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: 1e12 }) },
  { name: 'reserve: quantity one over the limit', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: 1001 }) },
  { name: 'reserve: quantity fractional', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: 1.5 }) },
  { name: 'reserve: quantity as a string', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, quantity: '1' }) },
  { name: 'reserve: buyer_id as an object', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku, buyer_id: { id: 1 } }) },
  { name: 'reserve: sku as a number', status: 400, error: 'invalid_request', send: () => post('/reserve', { sku: 7 }) },
  { name: 'reserve: unknown sku', status: 404, error: 'unknown_sku', send: () => post('/reserve', { sku: `nope-${randomUUID()}` }) },
  { name: 'reserve: sku with a trailing space', status: 404, error: 'unknown_sku', send: (sku) => post('/reserve', { sku: `${sku} ` }) },
  { name: 'reserve: text/plain body', status: 415, error: 'unsupported_media_type', send: (sku) => text('/reserve', JSON.stringify({ sku }), 'text/plain') },
  { name: 'reserve: JSON without a content type', status: 415, error: 'unsupported_media_type', send: (sku) => raw('/reserve', JSON.stringify({ sku }), []) },
  { name: 'reserve: body over 16 KiB', status: 413, error: 'body_too_large', send: (sku) => post('/reserve', { sku, pad: big }) },
  { name: 'reserve: empty Idempotency-Key', status: 400, error: 'invalid_request', send: (sku) => post('/reserve', { sku }, '') },
  { name: 'reserve: a key already used by a confirm', status: 422, error: 'idempotency_key_reused', send: (sku, holds) => post('/reserve', { sku }, holds.confirmKey) },
  { name: 'reserve: a key already used for another quantity', status: 422, error: 'idempotency_key_reused', send: (sku, holds) => post('/reserve', { sku, buyer_id: 'owner', quantity: 2 }, holds.heldKey) },
  // POST /confirm
  { name: 'confirm: missing reservation_id', status: 400, error: 'invalid_request', send: () => post('/confirm', { buyer_id: 'owner' }) },
  { name: 'confirm: empty body', status: 400, error: 'invalid_request', send: () => ({ method: 'POST', path: '/confirm' }) },
  { name: 'confirm: reservation_id as a number', status: 400, error: 'invalid_request', send: () => post('/confirm', { reservation_id: 42 }) },
  { name: 'confirm: reservation_id null', status: 400, error: 'invalid_request', send: () => post('/confirm', { reservation_id: null }) },
  { name: 'confirm: empty reservation_id', status: 400, error: 'invalid_request', send: () => post('/confirm', { reservation_id: '' }) },
  { name: 'confirm: reservation_id too long', status: 400, error: 'invalid_request', send: () => post('/confirm', { reservation_id: 'r'.repeat(65) }) },
  { name: 'confirm: reservation_id with NUL', status: 400, error: 'invalid_request', send: (_sku, holds) => post('/confirm', { reservation_id: `${holds.held}\u0000` }) },
  { name: 'confirm: buyer_id as an array', status: 400, error: 'invalid_request', send: (_sku, holds) => post('/confirm', { reservation_id: holds.held, buyer_id: ['owner'] }) },
  { name: 'confirm: malformed JSON', status: 400, error: 'invalid_request', send: () => text('/confirm', '{"reservation_id":', 'application/json') },
  { name: 'confirm: text/plain body', status: 415, error: 'unsupported_media_type', send: (_sku, holds) => text('/confirm', JSON.stringify({ reservation_id: holds.held }), 'text/plain') },
  { name: 'confirm: body over 16 KiB', status: 413, error: 'body_too_large', send: (_sku, holds) => post('/confirm', { reservation_id: holds.held, pad: big }) },
  { name: 'confirm: unknown reservation id', status: 404, error: 'unknown_reservation', send: () => post('/confirm', { reservation_id: `r_${'0'.repeat(24)}` }) },
  { name: 'confirm: a reservation id in upper case', status: 404, error: 'unknown_reservation', send: (_sku, holds) => post('/confirm', { reservation_id: holds.held.toUpperCase() }) },
  { name: 'confirm: another buyer\'s reservation', status: 403, error: 'foreign_reservation', send: (_sku, holds) => post('/confirm', { reservation_id: holds.held, buyer_id: 'thief' }) },
  { name: 'confirm: twice (another key)', status: 409, error: 'already_confirmed', send: (_sku, holds) => post('/confirm', { reservation_id: holds.confirmed }) },
  { name: 'confirm: after cancel', status: 409, error: 'reservation_cancelled', send: (_sku, holds) => post('/confirm', { reservation_id: holds.cancelled }) },
  { name: 'confirm: after expiry', status: 410, error: 'reservation_expired', send: (_sku, holds) => post('/confirm', { reservation_id: holds.expired, buyer_id: 'owner' }) },
  { name: 'confirm: a key already used by the reserve', status: 422, error: 'idempotency_key_reused', send: (_sku, holds) => post('/confirm', { reservation_id: holds.held }, holds.heldKey) },
  // POST /cancel
  { name: 'cancel: missing reservation_id', status: 400, error: 'invalid_request', send: () => post('/cancel', {}) },
  { name: 'cancel: reservation_id as an object', status: 400, error: 'invalid_request', send: () => post('/cancel', { reservation_id: { id: 'r_1' } }) },
  { name: 'cancel: form body', status: 415, error: 'unsupported_media_type', send: (_sku, holds) => text('/cancel', `reservation_id=${holds.held}`, 'application/x-www-form-urlencoded') },
  { name: 'cancel: unknown reservation id', status: 404, error: 'unknown_reservation', send: () => post('/cancel', { reservation_id: `r_${randomUUID()}` }) },
  { name: 'cancel: another buyer\'s reservation', status: 403, error: 'foreign_reservation', send: (_sku, holds) => post('/cancel', { reservation_id: holds.held, buyer_id: 'thief' }) },
  { name: 'cancel: after confirm', status: 409, error: 'already_confirmed', send: (_sku, holds) => post('/cancel', { reservation_id: holds.confirmed }) },
  { name: 'cancel: twice (another key)', status: 409, error: 'already_cancelled', send: (_sku, holds) => post('/cancel', { reservation_id: holds.cancelled }) },
  { name: 'cancel: after expiry', status: 410, error: 'reservation_expired', send: (_sku, holds) => post('/cancel', { reservation_id: holds.expired }) },
  { name: 'cancel: the confirm\'s key on another step', status: 422, error: 'idempotency_key_reused', send: (_sku, holds) => post('/cancel', { reservation_id: holds.held }, holds.confirmKey) },
  // GET /reservations/:id and methods
  { name: 'GET an unknown reservation', status: 404, error: 'unknown_reservation', send: () => ({ path: `/reservations/r_${'f'.repeat(24)}` }) },
  { name: 'GET a reservation id with NUL', status: 400, error: 'invalid_request', send: () => ({ path: '/reservations/r_%00' }) },
  { name: 'GET /reserve', status: 405, error: 'method_not_allowed', send: () => ({ path: '/reserve' }) },
  { name: 'PUT /confirm', status: 405, error: 'method_not_allowed', send: () => ({ method: 'PUT', path: '/confirm', body: {} }) },
  { name: 'DELETE /cancel', status: 405, error: 'method_not_allowed', send: () => ({ method: 'DELETE', path: '/cancel' }) },
  { name: 'POST /reservations/:id', status: 405, error: 'method_not_allowed', send: (_sku, holds) => ({ method: 'POST', path: `/reservations/${holds.held}`, body: {} }) },
];

test('the reservation bad-input table has the cases the issue names, each once', () => {
  assert.ok(BAD_INPUTS.length >= 45, `${BAD_INPUTS.length} cases`);
  assert.equal(new Set(BAD_INPUTS.map((bad) => bad.name)).size, BAD_INPUTS.length);
});

for (const db of DATABASES) {
  describe(`reservation bad input on ${db.name}`, { skip: db.skip }, () => {
    const url = db.url();
    const sku = uniqueSku('rbad');
    let server: ServeProcess;
    let client: Client;
    let adapter: Adapter;
    let holds: Holds;

    before(async () => {
      server = await startServe(['--db', url, '--sku', sku, '--stock', '20', '--reservation-ttl', '10m']);
      client = new Client(server.url, 8);
      adapter = await openAdapter({ url });
      const hold = async (key?: string) => (await client.call(post('/reserve', { sku, buyer_id: 'owner' }, key))).body.reservation_id as string;
      const heldKey = `held-${randomUUID()}`;
      const confirmKey = `confirm-${randomUUID()}`;
      holds = { held: await hold(heldKey), confirmed: await hold(), cancelled: await hold(), expired: '', heldKey, confirmKey };
      assert.equal((await client.call(post('/confirm', { reservation_id: holds.confirmed }, confirmKey))).status, 200);
      assert.equal((await client.call(post('/cancel', { reservation_id: holds.cancelled }))).status, 200);
      // A hold made ten minutes ago by the clock, so already due: the server's sweeper expires it.
      const past = reservationFlow(adapter, 'lock', () => Date.now() - 600_000);
      const made = await past.reserve({ sku, buyerId: 'owner', quantity: 1, requestId: `past-${randomUUID()}`, ttlMs: 1000 });
      holds.expired = made.kind === 'reserved' ? made.reservation.reservationId : '';
      assert.ok(await eventually(async () => (await past.find(holds.expired))?.state === 'expired'), 'the sweeper expired the old hold');
    });
    after(async () => {
      await client?.close();
      await adapter?.close();
      await server?.stop();
    });

    const send = (call: Call | { raw: RawCall }): Promise<Answer> => ('raw' in call ? rawCall(server.url, call.raw) : client.call(call));

    for (const bad of BAD_INPUTS) {
      test(`${bad.name} → ${bad.status} ${bad.error}; stock, reservations and events unchanged`, async () => {
        const before = comparableReservations(await readReservationState(adapter, sku));
        const answer = await send(bad.send(sku, holds));
        assert.equal(answer.status, bad.status, answer.text);
        assert.deepEqual([answer.body?.success, answer.body?.error], [false, bad.error], answer.text);
        assert.equal(typeof answer.body?.code, 'string');
        assert.equal(typeof answer.body?.message, 'string');
        assert.deepEqual(comparableReservations(await readReservationState(adapter, sku)), before);

        // Still serving: a good hold, given back at once.
        const good = await client.call(post('/reserve', { sku, buyer_id: 'after' }));
        assert.equal(good.status, 201, good.text);
        assert.equal((await client.call(post('/cancel', { reservation_id: good.body.reservation_id }))).status, 200);
      });
    }
  });
}
