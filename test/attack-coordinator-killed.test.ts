// kill -9 of the attack coordinator itself mid-run (the `bin/flashsale attack`
// process, not the target). Its buyer processes must not linger and keep
// buying for nobody; the history it leaves is cut (no end record, maybe half a
// line), and verify on that history against the database must say, in one
// line, that the history is incomplete, and must not blame an honest server
// for the rows the unrecorded requests wrote.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-coordinator-killed-'));
/** Far more buyers than can be served before the kill, so the kill lands mid-run. */
const BUYERS = 20_000;
const STOCK = 1_000_000;
const BEFORE_KILL = 300;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((line) => Number(line.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

async function sold(url: string, sku: string): Promise<number> {
  const client = new Client(url, 1);
  try {
    const { body } = await client.inventory(sku);
    return body.initial_stock - body.current_stock;
  } finally {
    await client.close();
  }
}

describe('attack: the coordinator is killed with SIGKILL mid-run', () => {
  const servers: ServeProcess[] = [];
  after(async () => {
    for (const server of servers) await server.stop('SIGKILL');
  });

  for (const database of DATABASES) {
    test(`${database.name}: buyers exit, verify says incomplete and does not FAIL the server`, { skip: database.skip }, async () => {
      const sku = uniqueSku('coordkill');
      const url = database.url();
      const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK)]);
      servers.push(server);
      const history = join(scratch, `${database.name}.jsonl`);
      const coordinator = spawn(process.execPath, [BIN, 'attack', '--target', `${server.url}/buy`, '--body', JSON.stringify({ sku, buyer_id: '{{buyer}}' }), '--buyers', String(BUYERS), '--concurrency', '16', '--processes', '2', '--timeout', '2s', '--history', history], { stdio: 'ignore', timeout: 120_000 });
      const closed = once(coordinator, 'close');

      // Kill once the stampede is well under way, with both buyers running.
      let buyers: number[] = [];
      for (let attempt = 0; attempt < 1500; attempt++) {
        buyers = childrenOf(coordinator.pid!);
        if (buyers.length === 2 && (await sold(server.url, sku)) >= BEFORE_KILL) break;
        await sleep(20);
      }
      assert.equal(buyers.length, 2, 'two buyer processes were running');
      assert.ok((await sold(server.url, sku)) >= BEFORE_KILL, 'the stampede was under way');
      coordinator.kill('SIGKILL');
      await closed;

      // The orphans must go away by themselves, and stop buying.
      for (let attempt = 0; attempt < 500 && buyers.some(alive); attempt++) await sleep(20);
      assert.deepEqual(buyers.filter(alive), [], 'no buyer process outlives its coordinator');
      const settled = await sold(server.url, sku);
      await sleep(300);
      assert.equal(await sold(server.url, sku), settled, 'nobody buys after the coordinator died');

      const text = readFileSync(history, 'utf8');
      assert.doesNotMatch(text, /"kind":"end"/, 'a killed coordinator writes no end record');
      const run = await runCli(['verify', '--history', history, '--db', url, '--sku', sku]);
      const output = run.stdout + run.stderr;
      assert.doesNotMatch(output, /internal error|\n\s+at /, output);
      assert.ok(run.code === 0 || run.code === 3, `PASS or INCONCLUSIVE, never FAIL (exit ${run.code}):\n${output}`);
      assert.doesNotMatch(output, /│ FAIL/, output);
      const incomplete = output.split('\n').filter((line) => /^history: .*incomplete/.test(line));
      assert.equal(incomplete.length, 1, `one line says the history is incomplete:\n${output}`);
      assert.match(incomplete[0]!, new RegExp(`of ${BUYERS} planned requests have no answer recorded`));
    });
  }
});
