// prove's nemesis, fault by fault, against a real reference server started
// the way prove starts it (node:cluster workers of this process). Each fault
// is run directly, as the attack's coordinator will run it mid-stampede.
// Tests named `faults:` need the other wave-2 branches (the primary restarts
// a dead worker; serve survives dropped connections) and pass once merged.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { openAdapter } from '../adapters/open.js';
import { withSession } from '../adapters/transaction.js';
import { startServer, type RunningServer } from '../reference-server/launcher.js';
import { isolateServerConnections, parseFaultNames, planFaults, FAULT_SERVER_WORKERS } from '../src/prove/faults/index.js';
import { liveServerWorkers } from '../src/prove/faults/server-workers.js';
import { DATABASES, freshSqliteUrl, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';

/** The reference server as prove's faults scenario runs it: two cluster workers. */
async function startFaultServer(url: string, sku: string): Promise<RunningServer> {
  return startServer({ url, host: '127.0.0.1', port: 0, sku, itemName: 'fault test', stock: 1000, workers: FAULT_SERVER_WORKERS, separateProcess: true, strategy: 'lock' });
}

/** The one-letter state of a process (`T` when stopped), from /proc. */
function processState(pid: number): string {
  return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]!;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `condition` every 20 ms until it holds; fails after `limitMs` (a bound, not a speed claim). */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('fault names', () => {
  test('parse in order, all, and reject unknown or repeated names in one line', () => {
    assert.deepEqual(parseFaultNames('pause,kill'), ['pause', 'kill']);
    assert.deepEqual(parseFaultNames('all'), ['kill', 'pause', 'drop']);
    assert.throws(() => parseFaultNames('kill,explode'), /unknown fault "explode": use kill, pause, drop or all/);
    assert.throws(() => parseFaultNames('kill,kill'), /named twice/);
  });
});

describe('fault plan', () => {
  test('faults strike in order while stock remains, and drop on SQLite is skipped with its reason', () => {
    const { injections, reports } = planFaults({ names: ['kill', 'drop', 'pause'], dialect: 'sqlite', stock: 100, buyers: 1000, connections: undefined });
    assert.deepEqual(injections.map((fault) => fault.name), ['kill', 'pause']);
    const shares = injections.map((fault) => fault.at);
    assert.ok(shares[0]! > 0 && shares[0]! < shares[1]! && shares[1]! < 100 / 1000, `shares ${shares}`);
    const drop = reports.find((report) => report.name === 'drop')!;
    assert.match(drop.skipped ?? '', /SQLite has no database connections to drop/);
    assert.equal(drop.ran, false);
  });
});

describe('kill and pause overlapping on SQLite', () => {
  let server: RunningServer | undefined;
  after(() => server?.stop());

  // In a run, a kill still waiting for its replacement may meet the next
  // fault's share: both must do what they say, on different workers.
  test('both succeed, each on a worker of its own', async () => {
    server = await startFaultServer(freshSqliteUrl(), uniqueSku('overlap'));
    const { injections } = planFaults({ names: ['kill', 'pause'], dialect: 'sqlite', stock: 100, buyers: 1000, connections: undefined });
    const kill = injections.find((fault) => fault.name === 'kill')!;
    const pause = injections.find((fault) => fault.name === 'pause')!;
    const [oldest, youngest] = [liveServerWorkers()[0]!.process.pid!, liveServerWorkers().at(-1)!.process.pid!];
    assert.notEqual(oldest, youngest);
    await Promise.all([kill.run(), pause.run()]);
    assert.match(kill.detail, new RegExp(`^worker ${oldest} killed with SIGKILL`));
    assert.match(pause.detail, new RegExp(`^worker ${youngest} stopped with SIGSTOP for 1.0 s, then SIGCONT`));
  });
});

describe('pause on SQLite', () => {
  let server: RunningServer | undefined;
  after(() => server?.stop());

  test('stops one worker with SIGSTOP, resumes it with SIGCONT, and the server sells on', async () => {
    const sku = uniqueSku('pause');
    server = await startFaultServer(freshSqliteUrl(), sku);
    const [pause] = planFaults({ names: ['pause'], dialect: 'sqlite', stock: 100, buyers: 1000, connections: undefined }).injections;
    // pause acts on the youngest worker (kill on the oldest), so overlapping faults hit different ones.
    const pid = liveServerWorkers().at(-1)!.process.pid!;
    const running = pause!.run();
    await eventually(() => processState(pid) === 'T', `worker ${pid} stopped`);
    await running;
    assert.notEqual(processState(pid), 'T');
    assert.match(pause!.detail, new RegExp(`worker ${pid} stopped with SIGSTOP for 1.0 s, then SIGCONT`));
    const client = new Client(server.url, 4);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.buy({ buyer_id: `after-pause-${i}`, sku })));
    await client.close();
    assert.deepEqual(answers.map((answer) => answer.status), Array(8).fill(200));
  });
});

describe('kill on SQLite', () => {
  let server: RunningServer | undefined;
  after(() => server?.stop());

  test('faults: kill -9 one worker; the primary restarts it and the server sells on', async () => {
    const sku = uniqueSku('kill');
    server = await startFaultServer(freshSqliteUrl(), sku);
    const [kill] = planFaults({ names: ['kill'], dialect: 'sqlite', stock: 100, buyers: 1000, connections: undefined }).injections;
    const before = liveServerWorkers().map((worker) => worker.process.pid!);
    await kill!.run();
    assert.equal(isAlive(before[0]!), false, 'the victim is dead');
    const now = liveServerWorkers().map((worker) => worker.process.pid!);
    assert.equal(now.length, FAULT_SERVER_WORKERS);
    assert.ok(!now.includes(before[0]!));
    assert.match(kill!.detail, new RegExp(`worker ${before[0]} killed with SIGKILL; the primary restarted it as worker ${now.find((pid) => !before.includes(pid))}`));
    const client = new Client(server.url, 4);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.buy({ buyer_id: `after-kill-${i}`, sku })));
    await client.close();
    assert.deepEqual(answers.map((answer) => answer.status), Array(8).fill(200));
  });
});

for (const db of DATABASES.filter((database) => database.name !== 'sqlite')) {
  describe(`drop on ${db.name}`, { skip: db.skip }, () => {
    test("terminates the server's own connections and no other client's", async () => {
      const url = db.url();
      const sku = uniqueSku('drop');
      const connections = (await isolateServerConnections(url))!;
      const bystander = await openAdapter({ url, poolSize: 1 });
      let server: RunningServer | undefined;
      try {
        server = await startFaultServer(connections.serverUrl, sku);
        // Purchases open connections in both workers' pools.
        const client = new Client(server.url, 8);
        await Promise.all(Array.from({ length: 16 }, (_, i) => client.buy({ buyer_id: `before-drop-${i}`, sku })));
        await client.close();
        const bystanderSession = await bystander.acquire();
        try {
          const [drop] = planFaults({ names: ['drop'], dialect: db.name, stock: 100, buyers: 1000, connections }).injections;
          await drop!.run();
          assert.match(drop!.detail, /^terminated \d+ server connections? \((application_name flashsale-prove-[0-9a-f]{8}|connections to database flashsale_prove_[0-9a-f]{8})\)$/);
          // The bystander, on the same database server with the same user, still works.
          const { rows } = await bystanderSession.select('SELECT 1 AS one');
          assert.equal(Number(rows[0]!.one), 1);
          bystander.release(bystanderSession);
        } catch (error) {
          bystander.release(bystanderSession, true);
          throw error;
        }
        // Nothing is left of the server's connections to drop (until a purchase reconnects).
        await eventually(async () => (await connections.drop()) === 0, "the server's connections gone");
      } finally {
        await server?.stop();
        await bystander.close();
        await connections.release(false);
      }
    });
  });
}

describe('isolation leaves nothing behind', { skip: DATABASES.find((db) => db.name === 'mysql')!.skip }, () => {
  test('on MySQL the run database is dropped after a pass', async () => {
    const url = DATABASES.find((db) => db.name === 'mysql')!.url();
    const connections = (await isolateServerConnections(url))!;
    const database = new URL(connections.serverUrl).pathname.slice(1);
    const admin = await openAdapter({ url, poolSize: 1 });
    try {
      const exists = async () => (await withSession(admin, (session) => session.select(`SHOW DATABASES LIKE '${database}'`))).rows.length === 1;
      assert.equal(await exists(), true);
      await connections.release(false);
      assert.equal(await exists(), false);
    } finally {
      await admin.close();
    }
  });
});
