// The reservation checks against real databases: crafted reservation rows and
// events, written through a session into the reference schema that migrate()
// creates, audited by `verify` with the matching crafted history. A healthy
// run passes every check on SQLite, PostgreSQL and MySQL; each anomaly fails
// its check with a witness naming the reservation, request and event.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openAdapter } from '../adapters/open.js';
import { prepareStore } from '../adapters/store.js';
import { withTransaction } from '../adapters/transaction.js';
import type { Step } from '../src/verify/step.js';
import type { CheckResult, Verdict } from '../src/verify/verdict.js';
import { verify } from '../src/verify/verify.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { cancelled, confirmed, confirmUnknown, reserved, reserveUnknown, soldOut, writeFlowHistory } from './helpers/reservation-steps.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-reservation-db-'));

interface Row {
  reservation_id: string;
  request_id: string;
  state: string;
  stock_after: number;
  expires_at_ms: number;
  quantity?: number;
}
interface Event {
  reservation_id: string;
  kind: string;
  stock_after: number;
  request_id: string | null;
  at_ms: number;
  quantity?: number;
}

/**
 * A healthy run on 4 units, as rows: r0 confirmed, r1 cancelled, r2
 * abandoned and expired, r3 confirmed by a confirm whose answer was lost, r4
 * held by a reserve whose answer was lost; 1 unit left available.
 */
const ROWS: Row[] = [
  { reservation_id: 'r0', request_id: 'f0', state: 'confirmed', stock_after: 3, expires_at_ms: 2000 },
  { reservation_id: 'r1', request_id: 'f1', state: 'cancelled', stock_after: 2, expires_at_ms: 2001 },
  { reservation_id: 'r2', request_id: 'f2', state: 'expired', stock_after: 1, expires_at_ms: 1052 },
  { reservation_id: 'r3', request_id: 'f3', state: 'confirmed', stock_after: 1, expires_at_ms: 2014 },
  { reservation_id: 'r4', request_id: 'f4', state: 'held', stock_after: 1, expires_at_ms: 2080 },
];
const EVENTS: Event[] = [
  { reservation_id: 'r0', kind: 'hold', stock_after: 3, request_id: 'f0', at_ms: 1000 },
  { reservation_id: 'r1', kind: 'hold', stock_after: 2, request_id: 'f1', at_ms: 1001 },
  { reservation_id: 'r2', kind: 'hold', stock_after: 1, request_id: 'f2', at_ms: 1002 },
  { reservation_id: 'r0', kind: 'confirm', stock_after: 1, request_id: 'f0.confirm', at_ms: 1010 },
  { reservation_id: 'r1', kind: 'cancel', stock_after: 2, request_id: 'f1.cancel', at_ms: 1012 },
  { reservation_id: 'r3', kind: 'hold', stock_after: 1, request_id: 'f3', at_ms: 1014 },
  { reservation_id: 'r2', kind: 'expire', stock_after: 2, request_id: null, at_ms: 1060 },
  { reservation_id: 'r3', kind: 'confirm', stock_after: 2, request_id: 'f3.confirm', at_ms: 1070 },
  { reservation_id: 'r4', kind: 'hold', stock_after: 1, request_id: 'f4', at_ms: 1080 },
];
const STEPS: Step[] = [
  reserved('f0', 'r0', 0, 1, { remaining: 3 }),
  reserved('f1', 'r1', 1, 2, { remaining: 2 }),
  reserved('f2', 'r2', 2, 3, { remaining: 1, ttlMs: 50 }),
  confirmed('f0', 'r0', 10, 11),
  cancelled('f1', 'r1', 12, 13, { remaining: 2 }),
  reserved('f3', 'r3', 14, 15, { remaining: 1 }),
  confirmUnknown('f3', 'r3', 70),
  reserveUnknown('f4', 80),
  soldOut('f5', 90, 91),
];
const STOCK = 4;
const FINAL = 1;

interface Scenario {
  rows?: Row[];
  events?: Event[];
  steps?: Step[];
  final?: number;
  /** false: the history has no end record (the run was cut short). */
  end?: boolean;
}

const literal = (value: string | number | null) => (value === null ? 'NULL' : typeof value === 'number' ? String(value) : `'${value}'`);

/** Writes the scenario's rows through a session (INSERT … RETURNING answers rows on all three databases), then verifies its history against them. */
async function audit(url: string, scenario: Scenario, extra: { finalStock?: number } = {}): Promise<Verdict> {
  const sku = uniqueSku('res');
  const adapter = await openAdapter({ url });
  try {
    await prepareStore(adapter, { sku, itemName: 'crafted', stock: STOCK });
    await withTransaction(adapter, async (session) => {
      for (const row of scenario.rows ?? ROWS) {
        const values = [`${row.reservation_id}-${sku}`, sku, 'buyer', row.quantity ?? 1, `${sku}-${row.request_id}`, row.state, row.stock_after, 990, row.expires_at_ms, row.state === 'held' ? null : 1100];
        await session.select(
          `INSERT INTO reservations (reservation_id, sku, buyer_id, quantity, request_id, state, stock_after, created_at_ms, expires_at_ms, settled_at_ms) VALUES (${values.map(literal).join(', ')}) RETURNING id`,
        );
      }
      for (const event of scenario.events ?? EVENTS) {
        const values = [`${event.reservation_id}-${sku}`, sku, event.kind, event.quantity ?? 1, event.stock_after, event.request_id && `${sku}-${event.request_id}`, event.at_ms];
        await session.select(`INSERT INTO reservation_events (reservation_id, sku, kind, quantity, stock_after, request_id, at_ms) VALUES (${values.map(literal).join(', ')}) RETURNING id`);
      }
      await session.writeStock(sku, scenario.final ?? FINAL);
    });
    // Ids carry the sku: tests sharing a server database never share a (UNIQUE) request id.
    const steps = (scenario.steps ?? STEPS).map((step) => ({
      ...step,
      flowId: `${sku}-${step.flowId}`,
      requestId: `${sku}-${step.requestId}`,
      reservationId: step.reservationId && `${step.reservationId}-${sku}`,
    }));
    const path = join(scratch, `${sku}.jsonl`);
    // The run id is the sku: a flow's request id is `<run>-<name>`, as attack makes them.
    writeFlowHistory(path, sku, 6, steps, { end: scenario.end });
    return await verify({ histories: [path], db: extra.finalStock === undefined ? url : undefined, sku, maxErrors: 10, ...extra });
  } finally {
    await adapter.close();
  }
}

function result(verdict: Verdict, id: string): CheckResult {
  const found = verdict.checks.find((check) => check.id === id);
  assert.ok(found, `no check ${id}`);
  return found;
}

function assertFails(verdict: Verdict, id: string, message: RegExp, names: string[]): void {
  const check = result(verdict, id);
  assert.equal(check.status, 'FAIL', `${id} should fail: ${check.summary} ${check.reason ?? ''}`);
  const witness = check.witnesses.find((w) => message.test(w.message));
  assert.ok(witness, `${id}: no witness matching ${message}; got ${JSON.stringify(check.witnesses.map((w) => w.message))}`);
  const evidence = [witness.message, ...(witness.operations ?? []), ...(witness.rows ?? [])].join('\n');
  for (const name of names) assert.match(evidence, new RegExp(name), `${id} witness names ${name}:\n${evidence}`);
}

const statuses = (verdict: Verdict) => Object.fromEntries(verdict.checks.map((check) => [check.id, check.status]));

for (const db of DATABASES) {
  describe(`verify: reservation checks against the database (${db.name})`, { skip: db.skip }, () => {
    test('a healthy run passes R1–R7; the rows of unknown steps are recovered', async () => {
      const verdict = await audit(db.url(), {});
      assert.equal(verdict.status, 'PASS', `${verdict.headline}\n${JSON.stringify(verdict.checks, null, 1)}`);
      assert.match(result(verdict, 'R7').summary, /lost 0, mismatched 0, aborted-visible 0, unexpected 0, recovered 2/);
      assert.match(result(verdict, 'R6').summary, /available 1 \+ held 1 \+ confirmed 2 \+ purchased 0 = 4, initial 4/);
    });

    test('R3: a confirm event at or after the hold expired fails, naming the reservation and event', async () => {
      const rows = ROWS.map((row) => (row.reservation_id === 'r0' ? { ...row, expires_at_ms: 1005 } : row));
      assertFails(await audit(db.url(), { rows }), 'R3', /r0-\S+ was confirmed at 1010, 5 ms after it expired/, ['event \\d+: confirm of r0', 'request \\S*f0\\.confirm']);
    });

    test('R4: a second confirm event of one hold fails', async () => {
      const events = [...EVENTS, { reservation_id: 'r0', kind: 'confirm', stock_after: 1, request_id: null, at_ms: 1090 }];
      assertFails(await audit(db.url(), { events }), 'R4', /r0-\S+ was confirmed 2 times/, ['request \\S*f0\\.confirm', 'no request']);
    });

    test('the unsafe expiry that returns a confirmed hold fails R4, R5 and R7 (conservation still holds)', async () => {
      const rows = ROWS.map((row) => (row.reservation_id === 'r0' ? { ...row, state: 'expired' } : row));
      const events = [...EVENTS, { reservation_id: 'r0', kind: 'expire', stock_after: 2, request_id: null, at_ms: 1090 }];
      const verdict = await audit(db.url(), { rows, events, final: 2 });
      assertFails(verdict, 'R4', /r0-\S+ was ended 2 times \(confirm, expire\)/, ['event \\d+: expire of r0']);
      assertFails(verdict, 'R5', /r0-\S+ was confirmed \(event \d+\), yet its units were given back/, ['request \\S*f0\\b', 'event \\d+: expire']);
      assertFails(verdict, 'R7', /told r0-\S+ was confirmed, but the row says expired/, ['confirm request \\S*f0\\.confirm', 'crafted|\\.jsonl:\\d+']);
      assert.equal(result(verdict, 'R6').status, 'PASS');
    });

    test('R5 and R6: a hold returned twice', async () => {
      const events = [...EVENTS, { reservation_id: 'r2', kind: 'expire', stock_after: 2, request_id: null, at_ms: 1090 }];
      const verdict = await audit(db.url(), { events, final: 2 });
      assertFails(verdict, 'R5', /r2-\S+ gave its units back 2 times/, ['request \\S*f2\\b', 'event \\d+: expire of r2']);
      assertFails(verdict, 'R6', /1 unit more than the initial stock/, []);
    });

    test('R5 and R6: a unit taken from the stock with nothing to show for it', async () => {
      const verdict = await audit(db.url(), { final: 0 });
      assertFails(verdict, 'R5', /the events imply 1 units available .* but the stock is 0/, []);
      assertFails(verdict, 'R6', /1 unit of the initial stock are unaccounted for/, []);
      assert.match(result(verdict, 'R6').summary, /available 0 \+ held 1 \+ confirmed 2 \+ purchased 0 = 3, initial 4/);
    });

    test('R5: a return lost in the event chain (two returns read the same stock) names both events', async () => {
      // The cancel wrote stock_after 1 where the hold before it left 1: its unit never came back.
      const events = EVENTS.map((event) => (event.kind === 'cancel' ? { ...event, stock_after: 1 } : event.kind === 'hold' && event.reservation_id === 'r3' ? { ...event, stock_after: 0 } : event));
      const rest = events.map((event) => (event.at_ms > 1014 ? { ...event, stock_after: event.stock_after - 1 } : event));
      const verdict = await audit(db.url(), { events: rest, final: 0 });
      assertFails(verdict, 'R5', /after cancel of 1 the stock should be 2, event \d+ says 1/, ['event \\d+: confirm of r0', 'event \\d+: cancel of r1']);
    });

    test('R7: rows of a flow a cut-short history never recorded are recovered; with the end record they are unexpected', async () => {
      const steps = STEPS.filter((step) => step.flowId !== 'f4');
      const cut = await audit(db.url(), { steps, end: false });
      assert.equal(result(cut, 'R7').status, 'PASS', JSON.stringify(result(cut, 'R7')));
      assert.match(result(cut, 'R7').summary, /unexpected 0, recovered 1 \(\+1 of flows the cut-short history did not record\)/);
      assertFails(await audit(db.url(), { steps }), 'R7', /unexpected: rows for request \S*-f4, which this run never sent/, ['reservation r4-\\S+: state held']);
    });

    test('R7: lost, aborted-visible and unexpected rows fail with the step and the row', async () => {
      const steps = STEPS.map((step) => (step.requestId === 'f1.cancel' ? { ...step, type: 'fail' as const, outcome: 'rejected' as const, status: 409 } : step));
      steps.push(confirmed('f2', 'r2', 20, 21));
      const rows = [...ROWS, { reservation_id: 'r9', request_id: 'other-9', state: 'held', stock_after: 0, expires_at_ms: 3000 }];
      const events = [...EVENTS, { reservation_id: 'r9', kind: 'hold', stock_after: 0, request_id: 'other-9', at_ms: 1100 }];
      const verdict = await audit(db.url(), { steps, rows, events, final: 0 });
      assertFails(verdict, 'R7', /lost: the buyer was told r2-\S+ was confirmed, but no confirm event/, ['confirm request \\S*f2\\.confirm']);
      assertFails(verdict, 'R7', /aborted-visible: the cancel was answered rejected/, ['cancel request \\S*f1\\.cancel', 'event \\d+: cancel of r1']);
      assertFails(verdict, 'R7', /unexpected: rows for request \S*other-9/, ['reservation r9-\\S+: state held']);
      assert.match(result(verdict, 'R7').summary, /lost 1, mismatched 0, aborted-visible 1, unexpected 1/);
      // Only R7 fails: the rows themselves are consistent.
      assert.deepEqual(
        Object.entries(statuses(verdict)).filter(([, status]) => status === 'FAIL').map(([id]) => id),
        ['R7'],
      );
    });
  });
}

describe('verify: reservation checks on a store that is not the reference schema', () => {
  test('--final-stock: the database checks are N/A, saying "reference schema only"; R3/R4 keep their history part', async () => {
    const verdict = await audit(DATABASES[0]!.url(), {}, { finalStock: FINAL });
    for (const id of ['R5', 'R6', 'R7']) {
      assert.equal(result(verdict, id).status, 'N/A');
      assert.match(result(verdict, id).reason!, /reference schema only/);
    }
    assert.equal(result(verdict, 'R3').status, 'PASS');
    assert.match(result(verdict, 'R4').summary, /database part N\/A: reference schema only/);
  });
});
