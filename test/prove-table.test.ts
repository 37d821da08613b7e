// prove's table says what each fault did, and what it allowed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaultReport } from '../src/prove/faults/index.js';
import type { ProveReport, ScenarioResult } from '../src/prove/prove.js';
import { renderProve } from '../src/report/prove-table.js';

function faultsResult(faults: FaultReport[], status: 'PASS' | 'FAIL', anomalies: string[] = []): ScenarioResult {
  return {
    database: 'postgres://u@h/db',
    databaseUrl: 'postgres://u@h/db?application_name=flashsale-prove-00c0ffee',
    sku: 'flashsale-prove-5',
    scenario: 'faults: kill, pause, drop',
    buyers: 1000,
    concurrency: 10,
    sold: 97,
    soldOut: 890,
    errors: 13,
    allowedErrors: 20,
    faults,
    durationS: 4.5,
    attackS: 4,
    verifyS: 0.5,
    status,
    anomalies,
    history: '/tmp/h/postgres-5.jsonl',
    verdict: { status: 'PASS', checks: [], headline: '', inputs: {} },
  };
}

const kill: FaultReport = { name: 'kill', at: 0.025, detail: 'worker 11 killed with SIGKILL; the primary restarted it as worker 12', ran: true, error: null, skipped: null, durationMs: 700 };

test('a faults row shows unknown outcomes against their allowance, then a line per fault', () => {
  const pause: FaultReport = { name: 'pause', at: 0.05, detail: 'SIGSTOP a server worker, then SIGCONT', ran: false, error: null, skipped: null, durationMs: null };
  const drop: FaultReport = { name: 'drop', at: 0, detail: '', ran: false, error: null, skipped: 'SQLite has no database connections to drop', durationMs: null };
  const report: ProveReport = { status: 'FAIL', strategy: 'lock', workDir: '/tmp/h', results: [faultsResult([kill, pause, drop], 'FAIL', ['fault pause did not run'])] };
  const text = renderProve(report);
  assert.match(text, /│ 13 ≤ 20 │/);
  assert.match(text, /kill after 25 answers: worker 11 killed with SIGKILL; the primary restarted it as worker 12 \(0\.70 s\)/);
  assert.match(text, /pause after 50 answers: did not run \(SIGSTOP a server worker, then SIGCONT\)/);
  assert.match(text, /drop: skipped: SQLite has no database connections to drop/);
  assert.match(text, /unknown outcomes: 13, allowed 20 \(2 faults × 10 buyers in flight\)/);
  // The rerun command quotes the URL's query, so it pastes into a shell as is.
  assert.match(text, /--db 'postgres:\/\/u@h\/db\?application_name=flashsale-prove-00c0ffee' --sku flashsale-prove-5/);
  assert.match(text, /verdict: FAIL: 1 of 1 scenario found an anomaly/);
});

test('a fault that failed says why', () => {
  const failed: FaultReport = { ...kill, detail: 'kill -9 a server worker; the primary restarts it', error: 'no new server worker listened within 10 s after worker 11 was killed' };
  const text = renderProve({ status: 'FAIL', strategy: 'lock', workDir: '/tmp/h', results: [faultsResult([failed], 'FAIL', ['fault kill failed: …'])] });
  assert.match(text, /kill after 25 answers: FAILED: no new server worker listened within 10 s after worker 11 was killed/);
});

test('a strategy module is named by its path', () => {
  const text = renderProve({ status: 'PASS', strategy: 'file:///home/me/shop/mine.js', workDir: '/tmp/h', results: [faultsResult([kill], 'PASS')] });
  assert.match(text, /^flashsale prove: strategy \/home\/me\/shop\/mine\.js \(your module\)$/m);
  assert.match(text, /verdict: PASS: 1 scenario, no oversell/);
});
