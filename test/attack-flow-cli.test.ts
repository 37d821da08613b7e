// attack --flow through bin/: every bad flag is one line and exit 2, before
// anything is sent; and a reservation API of another shape (its own routes
// under a prefix, the id nested in the answer, its own confirm body) is
// driven by flags alone.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { flowHistory } from './helpers/flow-history.js';
import { startReservationShop, type ReservationShop } from './helpers/reservation-shop.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-flow-cli-'));

describe('attack --flow: bad flags', () => {
  // Port 9 (discard) on loopback: nothing may be sent anyway.
  const base = ['attack', '--target', 'http://127.0.0.1:9/', '--history', join(scratch, 'never.jsonl')];
  const cases: [string[], RegExp][] = [
    [['--flow', 'buy-twice'], /--flow: unknown flow "buy-twice"; known: reserve-confirm/],
    [['--flow', 'reserve-confirm', '--rate', '10'], /--rate cannot be used with --flow/],
    [['--flow', 'reserve-confirm', '--confirm', '0.8', '--cancel', '30%'], /--confirm 0.8 and --cancel 0.3 add up to more than 1/],
    [['--flow', 'reserve-confirm', '--confirm', '1.5'], /--confirm <share>.*expected a share from 0 to 1/],
    [['--flow', 'reserve-confirm', '--cancel', '-0.1'], /--cancel <share>.*expected a share from 0 to 1/],
    [['--flow', 'reserve-confirm', '--think', '200ms..50ms'], /--think: the range 200ms..50ms ends before it starts/],
    [['--flow', 'reserve-confirm', '--think', 'a while'], /--think <duration>.*expected a duration/],
    [['--flow', 'reserve-confirm', '--think', '1ms..2ms..3ms'], /--think <duration>.*or a range such as 50ms..200ms/],
    [['--confirm', '0.5'], /--confirm needs --flow reserve-confirm/],
    [['--confirm-body', '{}'], /--confirm-body needs --flow reserve-confirm/],
    [['--flow', 'reserve-confirm', '--body', '{}'], /--body cannot be used with --flow; give --reserve-body/],
    [['--flow', 'reserve-confirm', '--reserve-body', '{"id":"{{reserve.reservation_id}}"}'], /--reserve-body: \{\{reserve.reservation_id\}\} names the reserve's answer/],
    [['--flow', 'reserve-confirm', '--cancel-body', '{"id":"{{hold}}"}'], /--cancel-body: unknown placeholder \{\{hold\}\}.*\{\{reserve.FIELD\}\}/],
    // A reserve placeholder that is not a dotted path was sent as literal text (a 400 from the server, counted `rejected`).
    [['--flow', 'reserve-confirm', '--confirm-body', '{"id":"{{reserve.}}"}'], /--confirm-body: \{\{reserve.\}\} is not a field path; write \{\{reserve.FIELD\}\}/],
    [['--flow', 'reserve-confirm', '--cancel-body', '{"id":"{{reserve.items[0].id}}"}'], /--cancel-body: \{\{reserve.items\[0\].id\}\} is not a field path/],
    [['--flow', 'reserve-confirm', '--confirm-path', 'http://127.0.0.2:9/confirm'], /--confirm-path: http:\/\/127.0.0.2:9 is not the target's origin/],
    [['--flow', 'reserve-confirm', '--settle-ok-status', '200,410'], /status 410 is in both --settle-ok-status and --expired-status/],
    [['--flow', 'reserve-confirm', '--expired-status', 'gone'], /--expired-status <list>.*expected HTTP statuses/],
    [['--flow', 'reserve-confirm', '--method', 'GET'], /--method GET cannot carry one/],
    [['--flow', 'reserve-confirm', '--reservation-id-field', ' '], /--reservation-id-field cannot be empty/],
  ];
  for (const [flags, message] of cases) {
    test(flags.join(' '), async () => {
      const run = await runCli([...base, ...flags]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /\n\s+at /);
      assert.equal(run.stdout, '');
      assert.equal(existsSync(join(scratch, 'never.jsonl')), false);
    });
  }
});

describe('attack --flow: a reservation API of another shape', () => {
  let shop: ReservationShop;
  after(() => shop.close());

  test('routes under a prefix, the id nested in the answer, and a confirm body naming it', async () => {
    shop = await startReservationShop({ stock: 50, routes: { reserve: '/api/v1/inventory/reserve', confirm: '/api/v1/checkout/confirm', cancel: '/api/v1/checkout/cancel' }, idField: 'hold.id' });
    const path = join(scratch, 'foreign.jsonl');
    const run = await runCli([
      'attack', '--target', `${shop.url}/api/v1/`, '--flow', 'reserve-confirm', '--buyers', '10', '--concurrency', '3', '--processes', '1',
      '--reserve-path', 'inventory/reserve', '--confirm-path', 'checkout/confirm', '--cancel-path', 'checkout/cancel',
      '--reservation-id-field', 'hold.id', '--confirm', '0.6', '--cancel', '0.4', '--think', '1ms',
      '--confirm-body', '{"reservation_id":"{{reserve.hold.id}}","customer":"{{buyer}}"}',
      '--cancel-body', '{"reservation_id":"{{reserve.hold.id}}","buyer_id":"{{buyer}}","why":"{{reserve.sku}}-{{request_id}}"}',
      '--header', 'X-Idempotency-Key: {{request_id}}', '--history', path,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /POST http:\/\/127\.0\.0\.1:\d+ \/api\/v1\/inventory\/reserve \/api\/v1\/checkout\/confirm \/api\/v1\/checkout\/cancel/);
    const { steps } = await flowHistory(path);
    assert.equal(shop.seen.filter((request) => request.route === 'other').length, 0);
    const reserves = new Map(steps.filter((step) => step.step === 'reserve').map((step) => [step.flow_id, step]));
    assert.equal(reserves.size, 10);
    for (const reserve of reserves.values()) assert.match(reserve.reservation_id!, /^r_[0-9a-f]{24}$/);
    const settles = steps.filter((step) => step.step !== 'reserve');
    assert.equal(settles.length, 10);
    for (const step of settles) {
      assert.equal(step.outcome, step.step === 'confirm' ? 'confirmed' : 'cancelled');
      const request = shop.seen.find((seen) => seen.headers['x-idempotency-key'] === step.request_id)!;
      const body = JSON.parse(request.body) as Record<string, string>;
      assert.equal(body.reservation_id, reserves.get(step.flow_id)!.reservation_id);
      if (step.step === 'cancel') assert.equal(body.why, `A-${step.request_id}`);
      else assert.equal(body.customer, step.buyer);
    }
    assert.equal(shop.available(), 50 - settles.filter((step) => step.step === 'confirm').length);
  });
});
