// A pool of buyer processes (what prove uses): its processes outlive an
// attack and serve the next one, yet every attack opens its own
// connections and every buyer is answered; a process that dies while idle
// is replaced, not lent out dead.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BuyerPool } from '../src/attack/buyer-pool.js';
import { runAttack } from '../src/attack/coordinator.js';
import type { AttackSummary } from '../src/attack/summary.js';
import { historyLines, opLines } from './helpers/history-lines.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-pool-'));
const BUYERS = 200;
const CONCURRENCY = 20;

describe('attack with a pool of buyer processes', () => {
  let server: Server;
  let target: string;
  let accepted = 0;
  const pool = new BuyerPool(2);

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(410, { 'content-type': 'application/json' });
        response.end('{"success":false,"error":"sold_out","remaining_stock":0}');
      });
    });
    server.on('connection', () => (accepted += 1));
    target = await listenOnLoopback(server);
  });
  after(async () => {
    await pool.close();
    closeNow(server);
  });

  const attack = (name: string): Promise<AttackSummary> =>
    runAttack(
      {
        target, buyers: BUYERS, concurrency: CONCURRENCY, processes: 2, timeoutMs: 5000, quantity: 1, headers: [], method: 'POST',
        okStatus: [200, 201], soldOutStatus: [410, 409], remainingField: 'remaining_stock', purchaseIdField: 'purchase_id', historyPath: join(scratch, `${name}.jsonl`),
      },
      {},
      pool,
    );

  /** The pool's idle processes, lent and given straight back. */
  const idle = (): ChildProcess[] => {
    const children = pool.take(2);
    for (const child of children) pool.give(child);
    return children;
  };

  test('the same processes serve two attacks, each opening its own connections', async () => {
    const before = idle().map((child) => child.pid);
    const first = await attack('first');
    const second = await attack('second');
    for (const [name, summary] of [['first', first], ['second', second]] as const) {
      assert.equal(summary.completed, BUYERS, name);
      assert.equal(summary.outcomes.sold_out, BUYERS, name);
      assert.equal(summary.connections.opened, CONCURRENCY, name);
      assert.equal(opLines(historyLines(join(scratch, `${name}.jsonl`))).length, BUYERS, name);
    }
    // Each attack: its buyers' connections, plus the one its preflight opens and closes.
    assert.equal(accepted, 2 * (CONCURRENCY + 1), 'no connection is carried from one attack into the next');
    const afterwards = idle();
    assert.deepEqual(afterwards.map((child) => child.pid).sort(), before.sort(), 'no process was forked anew');
    for (const child of afterwards) assert.ok(child.connected && child.exitCode === null, 'each waits for the next attack');
  });

  test('a process that died while idle is replaced, and the attack is whole', async () => {
    const [victim, survivor] = idle();
    const gone = once(victim!, 'exit');
    victim!.kill('SIGKILL');
    await gone;
    const summary = await attack('after-a-death');
    assert.equal(summary.completed, BUYERS);
    const now = idle().map((child) => child.pid);
    assert.ok(now.includes(survivor!.pid) && !now.includes(victim!.pid), `pool: ${now.join(', ')}`);
  });

  test('closing the pool ends its processes', async () => {
    const children = idle();
    await pool.close();
    for (const child of children) assert.ok(child.exitCode !== null || child.signalCode !== null);
  });
});
