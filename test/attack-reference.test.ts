// `flashsale attack` against the real reference server (bin/ serve as a child
// process) on every configured database: 1000 buyers for 100 units must leave
// a history of exactly 1000 operations, 100 of them ok with remaining values
// 0..99, 900 sold out, and a summary that agrees with the history and with
// the server's own inventory.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHistory } from '../src/history/reader.js';
import { OUTCOMES, type HistoryMeta, type OpRecord } from '../src/history/types.js';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';

const STOCK = 100;
const BUYERS = 1000;
const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-'));

async function readAll(path: string): Promise<{ meta: HistoryMeta; ops: OpRecord[] }> {
  const { meta, ops } = await openHistory(path);
  const all: OpRecord[] = [];
  for await (const op of ops) all.push(op);
  return { meta, ops: all };
}

for (const db of DATABASES) {
  describe(`attack: 1000 buyers for 100 units on the reference server (${db.name})`, { skip: db.skip }, () => {
    const sku = uniqueSku('attack');
    let server: ServeProcess;
    let client: Client;

    before(async () => {
      server = await startServe(['--db', db.url(), '--sku', sku, '--stock', String(STOCK)]);
      client = new Client(server.url, 2);
    });
    after(async () => {
      await client?.close();
      await server?.stop();
    });

    test('sells exactly the stock; the history, the --json summary and /inventory agree', async () => {
      const history = join(scratch, `reference-${db.name}.jsonl`);
      const run = await runCli([
        'attack', '--target', `${server.url}/buy`, '--buyers', String(BUYERS), '--processes', '2',
        '--body', `{"buyer_id":"{{buyer}}","sku":"${sku}","quantity":1}`, '--history', history, '--json',
      ], { env: { CI: 'true' } });
      assert.equal(run.code, 0, run.stderr);

      // --json: one JSON object on stdout, nothing else there.
      assert.equal(run.stdout.trim().split('\n').length, 1, run.stdout);
      const summary = JSON.parse(run.stdout);
      const { meta, ops } = await readAll(history);

      assert.equal(meta.buyers, BUYERS);
      assert.equal(meta.target, `${server.url}/buy`);
      assert.equal(ops.length, BUYERS, 'one op line per buyer');
      assert.equal(new Set(ops.map((op) => op.request_id)).size, BUYERS, 'request ids are unique');
      assert.equal(new Set(ops.map((op) => op.buyer)).size, BUYERS, 'buyer ids are unique');
      assert.deepEqual(new Set(ops.map((op) => op.process)), new Set([0, 1]), 'both processes attacked');

      const oks = ops.filter((op) => op.type === 'ok');
      assert.equal(oks.length, STOCK);
      assert.ok(oks.every((op) => op.outcome === 'bought' && op.status === 200 && op.purchase_id !== null));
      assert.deepEqual(oks.map((op) => op.remaining).sort((a, b) => a! - b!), Array.from({ length: STOCK }, (_, k) => k));
      const fails = ops.filter((op) => op.type === 'fail');
      assert.equal(fails.length, BUYERS - STOCK);
      assert.ok(fails.every((op) => op.outcome === 'sold_out' && op.status === 410));
      assert.ok(ops.every((op) => op.t_inv >= meta.released_at && op.t_cmp >= op.t_inv));

      // The summary counts what the history holds, outcome by outcome.
      const counted = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, ops.filter((op) => op.outcome === outcome).length]));
      assert.deepEqual(summary.outcomes, counted);
      assert.deepEqual(summary.types, { ok: STOCK, fail: BUYERS - STOCK, info: 0 });
      assert.equal(summary.completed, BUYERS);
      assert.equal(summary.sent, BUYERS);
      assert.equal(summary.history, history);
      assert.equal(summary.run_id, meta.run_id);
      assert.equal(summary.interrupted, false);
      assert.ok(summary.requests_per_second > 0);
      assert.ok(summary.latency_ms.min <= summary.latency_ms.p50 && summary.latency_ms.p50 <= summary.latency_ms.p99);
      assert.ok(summary.latency_ms.p99 <= summary.latency_ms.max);

      // And the server's own account.
      const inventory = await client.inventory(sku);
      assert.equal(inventory.status, 200);
      assert.equal(inventory.body.current_stock, 0);
      assert.equal(inventory.body.total_purchases, summary.outcomes.bought);
    });
  });
}
