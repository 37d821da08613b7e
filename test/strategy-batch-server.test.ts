// The batch strategy as users run it: `serve --strategy batch` with one and
// four worker processes, attacked by `flashsale attack` and audited by
// `flashsale verify`; one Idempotency-Key sent many times at once; and
// `prove --strategy batch` on every database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startServe } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, countStatuses } from './helpers/http.js';
import { createScratchDatabase, type ScratchDatabase } from './helpers/scratch-database.js';
import { readState } from './helpers/store.js';

const STOCK = 100;
const BUYERS = 1000;
const scratchDir = mkdtempSync(join(tmpdir(), 'flashsale-batch-'));

for (const db of DATABASES) {
  describe(`serve --strategy batch on ${db.name}`, { skip: db.skip }, () => {
    for (const workers of [1, 4]) {
      test(`--workers ${workers}: 1000 buyers for 100 units, exactly 100 sold, stock_after 0..99, verify PASS`, async () => {
        const url = db.url();
        const sku = uniqueSku('batch-stampede');
        const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK), '--strategy', 'batch', '--workers', String(workers)]);
        const history = join(scratchDir, `${sku}.jsonl`);
        try {
          const attack = await runCli(
            ['attack', '--target', `${server.url}/buy`, '--buyers', String(BUYERS), '--processes', '2', '--timeout', '30s', '--history', history],
            { timeoutMs: 120_000 },
          );
          assert.equal(attack.code, 0, attack.stdout + attack.stderr);
        } finally {
          await server.stop();
        }
        const state = await readState(url, sku);
        assert.equal(state.inventory.current_stock, 0);
        assert.deepEqual(
          state.ledger.map((row) => row.stockAfter).sort((a, b) => a - b),
          Array.from({ length: STOCK }, (_, i) => i),
        );
        const verify = await runCli(['verify', '--history', history, '--db', url, '--sku', sku, '--initial-stock', String(STOCK)], { timeoutMs: 60_000 });
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        assert.doesNotMatch(verify.stdout, /FAIL|UNKNOWN/);
      });
    }

    test('one Idempotency-Key sent 20 times at once sells once; every answer is the same purchase', async () => {
      const url = db.url();
      const sku = uniqueSku('batch-key');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', '10', '--strategy', 'batch']);
      const client = new Client(server.url, 32);
      try {
        const key = randomUUID();
        const answers = await Promise.all(Array.from({ length: 20 }, () => client.buy({ buyer_id: 'b-1', sku }, { 'idempotency-key': key })));
        assert.deepEqual(countStatuses(answers), { 200: 20 });
        assert.equal(new Set(answers.map((answer) => answer.body.purchase_id)).size, 1);
        assert.equal(answers.filter((answer) => answer.headers['idempotent-replayed'] === 'true').length, 19);
        const later = await client.buy({ buyer_id: 'b-1', sku, quantity: 2 }, { 'idempotency-key': key });
        assert.equal(later.status, 422, later.text);
      } finally {
        await client.close();
        await server.stop();
      }
      const state = await readState(url, sku);
      assert.equal(state.ledger.length, 1);
      assert.equal(state.inventory.current_stock, 9);
    });
  });
}

describe('prove --strategy batch --db all', () => {
  const scratches: ScratchDatabase[] = [];
  const env: NodeJS.ProcessEnv = {};
  before(async () => {
    // prove sells fixed item names: on the shared servers it gets databases of its own.
    for (const [variable, db] of [['FLASHSALE_PG_URL', 'postgres'], ['FLASHSALE_MYSQL_URL', 'mysql']] as const) {
      const target = DATABASES.find((candidate) => candidate.name === db)!;
      if (target.skip) continue;
      const scratch = await createScratchDatabase(target.url());
      scratches.push(scratch);
      env[variable] = scratch.url;
    }
  });
  after(() => Promise.all(scratches.map((scratch) => scratch.drop())));

  test('passes every scenario on every database, with 4 server workers', async () => {
    const run = await runCli(
      ['prove', '--db', 'all', '--strategy', 'batch', '--stock', '50', '--buyers', '500', '--workers', '4', '--timeout', '30s'],
      { env, timeoutMs: 400_000 },
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const passed = run.stdout.split('\n').filter((line) => /│ PASS/.test(line));
    assert.equal(passed.length, 4 * (1 + scratches.length), run.stdout);
    assert.doesNotMatch(run.stdout, /│ FAIL/);
  });
});
