// End to end: the reference server on SQLite, driven by hand through
// reserve, confirm, cancel and an expiry over HTTP, each step recorded as
// attack records it (formatStepLine, hrtime around the request); then
// `flashsale verify` against the server's database. The real flow passes;
// `--strategy unsafe`, whose confirm ignores the hold's time, is caught.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STEP_OUTCOME_TYPE, type StepName, type StepOutcome, type StepRecord } from '../src/history/types.js';
import { formatEndLine, formatMetaLine, formatStepLine } from '../src/history/writer.js';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { freshSqliteUrl } from './helpers/databases.js';
import { Client } from './helpers/http.js';
import { flowMeta } from './helpers/reservation-steps.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-reservation-e2e-'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drives one server's reservation endpoints and records every step as a step line. */
class FlowDriver {
  readonly lines: string[] = [];
  private flows = 0;
  readonly started = process.hrtime.bigint();

  constructor(private readonly client: Client) {}

  /** Reserves one unit for a new flow; returns its id and the answer. */
  async reserve(): Promise<{ flowId: string; body: any }> {
    const flowId = `e2e-${this.flows++}`;
    const body = await this.step('reserve', flowId, flowId, '/reserve', { buyer_id: `b-${flowId}`, quantity: 1 }, null);
    return { flowId, body };
  }

  async settle(step: 'confirm' | 'cancel', flowId: string, reservationId: string): Promise<any> {
    return this.step(step, flowId, `${flowId}.${step}`, `/${step}`, { reservation_id: reservationId, buyer_id: `b-${flowId}` }, reservationId);
  }

  private async step(step: StepName, flowId: string, requestId: string, path: string, body: unknown, reservationId: string | null): Promise<any> {
    const t_inv = process.hrtime.bigint();
    const answer = await this.client.call({ method: 'POST', path, body, headers: { 'idempotency-key': requestId } });
    const t_cmp = process.hrtime.bigint();
    const outcome = classify(step, answer.status);
    const record: StepRecord = {
      kind: 'step', process: 0, buyer: `b-${flowId}`, flow_id: flowId, step, request_id: requestId, type: STEP_OUTCOME_TYPE[outcome], outcome, t_inv, t_cmp,
      status: answer.status, reservation_id: reservationId ?? answer.body?.reservation_id ?? null, quantity: 1,
      remaining: typeof answer.body?.remaining_stock === 'number' ? answer.body.remaining_stock : null,
      ttl_ms: step === 'reserve' && typeof answer.body?.ttl_seconds === 'number' ? answer.body.ttl_seconds * 1000 : null, error: null,
    };
    this.lines.push(formatStepLine(record));
    return answer.body;
  }

  /** The whole history: meta, the steps in the order they completed, end. */
  write(path: string): void {
    const meta = formatMetaLine({ ...flowMeta('e2e', this.flows, this.started), processes: 1 });
    writeFileSync(path, meta + this.lines.join('') + formatEndLine({ kind: 'end', planned: this.flows, recorded: this.lines.length, reason: 'done' }));
  }
}

/** docs/reservations.md "History": what each answer of each step counts as. */
function classify(step: StepName, status: number): StepOutcome {
  if (status === 200 || status === 201) return step === 'reserve' ? 'reserved' : step === 'confirm' ? 'confirmed' : 'cancelled';
  if (step === 'reserve' && (status === 409 || status === 410)) return 'sold_out';
  if (status === 410) return 'expired';
  if (status === 429) return 'refused';
  return status >= 500 ? 'http_5xx' : 'rejected';
}

describe('verify: a reservation flow driven by hand against the reference server (sqlite)', () => {
  const servers: ServeProcess[] = [];
  const clients: Client[] = [];
  after(async () => {
    for (const client of clients) await client.close();
    for (const server of servers) await server.stop();
  });
  const serve = async (db: string, args: string[]) => {
    const server = await startServe(['--db', db, '--sku', 'A', ...args]);
    servers.push(server);
    const client = new Client(server.url, 8);
    clients.push(client);
    return new FlowDriver(client);
  };

  test('reserve → confirm, reserve → cancel, an abandoned hold that expires, its unit sold again: PASS', async () => {
    const db = freshSqliteUrl();
    const driver = await serve(db, ['--stock', '2', '--reservation-ttl', '1s']);
    const a = await driver.reserve();
    await driver.settle('confirm', a.flowId, a.body.reservation_id);
    const b = await driver.reserve();
    assert.equal(b.body.remaining_stock, 0);
    await driver.reserve(); // sold out: one unit confirmed, one held
    await driver.settle('cancel', b.flowId, b.body.reservation_id);
    const c = await driver.reserve();
    await sleep(1600);
    const late = await driver.settle('confirm', c.flowId, c.body.reservation_id);
    assert.equal(late.error, 'reservation_expired');
    const d = await driver.reserve();
    assert.equal(d.body.success, true, 'the expired unit is on sale again');
    await driver.settle('confirm', d.flowId, d.body.reservation_id);
    const history = join(scratch, 'safe.jsonl');
    driver.write(history);
    const run = await runCli(['verify', '--history', history, '--db', db, '--sku', 'A']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /R6 reservation-conservation\s*│\s*PASS\s*│\s*available 0 \+ held 0 \+ confirmed 2 \+ purchased 0 = 2, initial 2/);
    assert.match(run.stdout, /verdict: PASS: 8 of 8 applicable checks passed/);
  });

  test('--strategy unsafe confirms holds whose time is up: R3 FAILs from the history and from the events', async () => {
    const db = freshSqliteUrl();
    // A 4 s hold is swept once a second: a confirm right after expiry usually
    // comes before the sweep, and the unsafe confirm does not look at the time.
    const driver = await serve(db, ['--stock', '10', '--reservation-ttl', '4s', '--strategy', 'unsafe']);
    let confirmedLate = 0;
    for (let round = 0; round < 3 && confirmedLate === 0; round++) {
      const holds = await Promise.all([driver.reserve(), driver.reserve(), driver.reserve()]);
      await sleep(Date.parse(holds[2]!.body.expires_at) - Date.now() + 60);
      const answers = await Promise.all(holds.map((hold) => driver.settle('confirm', hold.flowId, hold.body.reservation_id)));
      confirmedLate += answers.filter((answer) => answer.success === true).length;
    }
    assert.ok(confirmedLate > 0, 'the unsafe server confirmed no expired hold in three rounds');
    const history = join(scratch, 'unsafe.jsonl');
    driver.write(history);
    const run = await runCli(['verify', '--history', history, '--db', db, '--sku', 'A', '--json']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const verdict = JSON.parse(run.stdout);
    const r3 = verdict.checks.find((check: { id: string }) => check.id === 'R3');
    assert.equal(r3.status, 'FAIL');
    assert.ok(r3.witnesses.some((w: { message: string }) => /its hold had surely expired/.test(w.message)), JSON.stringify(r3.witnesses));
    assert.ok(r3.witnesses.some((w: { message: string }) => /ms after it expired \(expires_at_ms/.test(w.message)), JSON.stringify(r3.witnesses));
  });
});
