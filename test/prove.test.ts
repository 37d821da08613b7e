// prove end to end through bin/: the safe strategies pass on every database,
// unsafe is caught on every database and the anomaly is named.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { STRATEGY_NAMES } from '../adapters/strategies/index.js';
import { runCli } from './helpers/cli.js';
import { DATABASES } from './helpers/databases.js';
import { createScratchDatabase, type ScratchDatabase } from './helpers/scratch-database.js';

for (const db of DATABASES) {
  describe(`prove on ${db.name}`, { skip: db.skip }, () => {
    // prove sells fixed items (flashsale-prove-1…): on a shared server it
    // gets a database of its own, so no other prove run resets them mid-run.
    let scratch: ScratchDatabase | undefined;
    before(async () => {
      if (db.name !== 'sqlite') scratch = await createScratchDatabase(db.url());
    });
    after(() => scratch?.drop());

    for (const strategy of STRATEGY_NAMES) {
      const safe = strategy !== 'unsafe';
      test(`${strategy} ${safe ? 'passes' : 'is caught'}`, async () => {
        // A generous answer timeout: this checks correctness, and a busy test machine must not turn slow answers into unknowns.
        const args = ['prove', '--db', scratch?.url ?? db.url(), '--strategy', strategy, '--stock', '50', '--buyers', '500', '--workers', '3', '--timeout', '30s'];
        const run = await runCli(args, { timeoutMs: 240_000 });
        assert.equal(run.code, safe ? 0 : 1, run.stdout + run.stderr);
        const rows = run.stdout.split('\n').filter((line) => /│ (PASS|FAIL)/.test(line));
        assert.equal(rows.length, 4, run.stdout);
        if (safe) {
          assert.match(run.stdout, /verdict: PASS: 4 scenarios/);
          assert.match(run.stdout, /buyers = stock +│ +50 │ +0 │/);
          assert.match(run.stdout, /buyers = 10 × stock +│ +50 │ +450 │/);
          // Buyers arriving while earlier ones are answered: the run that can see a liar.
          assert.match(run.stdout, /10 × stock, 5 in flight +│ +50 │ +450 │ +0 │ .* PASS/);
        } else {
          assert.match(run.stdout, /verdict: FAIL/);
          assert.match(run.stdout, /FAIL: (H2|H3|D1|D2)/);
          assert.match(run.stdout, /flashsale verify --history \S+ --db \S+ --sku flashsale-prove-\d/);
        }
      });
    }
  });
}

test('prove --json is one document with every scenario and its verdict', async () => {
  const run = await runCli(['prove', '--stock', '10', '--buyers', '40', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.status, 'PASS');
  assert.equal(report.results.length, 4);
  for (const result of report.results) assert.equal(result.verdict.status, 'PASS');
});
