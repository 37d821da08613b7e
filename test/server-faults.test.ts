// The reference server under faults: its database connections killed, its
// database restarted, its workers killed, more buyers than it can queue.
// Each run ends with the ledger audit that matters: every 200 is in the
// ledger, every "refused, retry" (503 + Retry-After) is not, nothing is sold
// twice, and stock + ledger = the initial stock. Databases that die here are
// private servers (test/helpers/private-db.ts), never the shared ones.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openAdapter } from '../adapters/open.js';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { DATABASES, freshSqliteUrl, uniqueSku } from './helpers/databases.js';
import { Client, type Answer } from './helpers/http.js';
import { privateDatabaseSkip, startPrivateMariadb, startPrivatePostgres, type PrivateDatabase } from './helpers/private-db.js';
import { readState } from './helpers/store.js';

interface Attempt {
  requestId: string;
  answer: Answer | undefined;
}

/** Buys `count` times, `parallel` at once, each with its own request id. */
async function buyMany(client: Client, sku: string, count: number, parallel: number, onAnswer?: (done: number) => Promise<void> | void): Promise<Attempt[]> {
  const attempts: Attempt[] = [];
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const requestId = randomUUID();
      const answer = await client.buy({ buyer_id: `b-${index}`, sku }, { 'idempotency-key': requestId }).catch(() => undefined);
      attempts.push({ requestId, answer });
      await onAnswer?.(++done);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return attempts;
}

/**
 * The audit after a fault: every answer is one the server may give, every
 * 200 has its ledger row, every refusal has none, no request id twice, and
 * the units add up. Returns the status counts for the test to look at.
 */
async function auditRun(url: string, sku: string, initial: number, attempts: Attempt[]): Promise<Record<string, number>> {
  const { inventory, ledger } = await readState(url, sku);
  const rows = new Map(ledger.map((row) => [row.requestId, row]));
  assert.equal(rows.size, ledger.length, 'no request id has two ledger rows');
  const counts: Record<string, number> = {};
  for (const { requestId, answer } of attempts) {
    assert.ok(answer, `request ${requestId} got no answer at all`);
    const kind = answer.status === 503 ? `503 ${answer.body?.error}` : String(answer.status);
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (answer.status === 200) {
      assert.ok(rows.has(requestId), `200 for ${requestId} but no ledger row`);
      assert.equal(rows.get(requestId)!.stockAfter, answer.body.remaining_stock);
    } else if (answer.status === 410) {
      assert.ok(!rows.has(requestId), `410 for ${requestId} yet a ledger row`);
    } else if (answer.status === 503 && answer.headers['retry-after'] !== undefined) {
      assert.ok(!rows.has(requestId), `"${answer.body?.error}, retry" for ${requestId} yet a ledger row: a sale was denied`);
    } else {
      // Only an honest unknown may go either way: a COMMIT whose connection broke.
      assert.equal(answer.status, 503, answer.text);
      assert.equal(answer.body?.error, 'commit_outcome_unknown', answer.text);
    }
  }
  const sold = ledger.reduce((sum, row) => sum + row.quantity, 0);
  assert.equal(inventory.current_stock + sold, initial, 'stock + ledger = initial stock');
  assert.ok(inventory.current_stock >= 0);
  return counts;
}

/** Buys until a 200 comes back (the server recovered), at most `tries` times. */
async function buyUntilSold(client: Client, sku: string, tries = 100): Promise<Attempt[]> {
  const attempts: Attempt[] = [];
  for (let i = 0; i < tries; i++) {
    const requestId = randomUUID();
    const answer = await client.buy({ buyer_id: 'recovery', sku }, { 'idempotency-key': requestId }).catch(() => undefined);
    attempts.push({ requestId, answer });
    if (answer?.status === 200) return attempts;
    await sleep(200);
  }
  assert.fail(`no sale within ${tries} tries after the database came back: ${JSON.stringify(attempts.at(-1)?.answer?.body)}`);
}

/** SQL that ends every other session of the private server, as an operator or a failover would. */
async function dropConnections(kind: 'postgres' | 'mysql', url: string): Promise<number> {
  if (kind === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const result = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = $1', ['client backend']);
      return result.rowCount ?? 0;
    } finally {
      await client.end();
    }
  }
  const mysql = (await import('mysql2/promise')).default;
  const connection = await mysql.createConnection(url);
  try {
    const [rows] = await connection.query<Array<{ ID: number } & import('mysql2').RowDataPacket>>(
      "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND USER <> 'system user'",
    );
    let killed = 0;
    for (const row of rows) {
      // A session may end on its own between the SELECT and the KILL.
      await connection.query(`KILL ${Number(row.ID)}`).then(() => killed++, () => {});
    }
    return killed;
  } finally {
    await connection.end();
  }
}

// A test that fails before its server.stop() must not leave the server
// running: its pipes would keep this test process alive forever.
const servers = new Set<ServeProcess>();
after(() => {
  for (const server of servers) if (stillRunning(server)) server.child.kill('SIGKILL');
});
async function serve(args: string[]): Promise<ServeProcess> {
  const server = await startServe(args);
  servers.add(server);
  return server;
}

function stillRunning(server: ServeProcess): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

const PRIVATE = [
  { kind: 'postgres' as const, start: startPrivatePostgres },
  { kind: 'mysql' as const, start: startPrivateMariadb },
];

for (const { kind, start } of PRIVATE) {
  describe(`serve survives its ${kind} database`, { skip: privateDatabaseSkip(kind) }, () => {
    let database: PrivateDatabase;
    before(async () => {
      database = await start();
    });
    after(async () => {
      await database?.destroy();
    });

    for (const workers of [1, 2]) {
      test(`connections killed mid-run (--workers ${workers}): 503s with Retry-After, no crash, ledger exact`, async () => {
        const sku = uniqueSku('drop');
        const stock = 1000;
        const server = await serve(['--db', database.url, '--sku', sku, '--stock', String(stock), '--workers', String(workers), '--pool', '4']);
        const client = new Client(server.url, 32);
        let dropped = 0;
        // Three rounds of killing every server connection while purchases are in flight.
        const attempts = await buyMany(client, sku, 600, 32, async (done) => {
          if (done % 150 === 0 && done < 600) dropped += await dropConnections(kind, database.url);
        });
        assert.ok(dropped > 0, 'the fault really killed connections');
        attempts.push(...(await buyUntilSold(client, sku)));
        assert.ok(stillRunning(server), `serve died:\n${server.output().stderr}`);
        const counts = await auditRun(database.url, sku, stock, attempts);
        assert.ok(counts['200']! > 0, JSON.stringify(counts));
        assert.doesNotMatch(server.output().stderr, /Emitted 'error'|internal error|exited/, server.output().stderr);
        await client.close();
        const exit = await server.stop('SIGTERM');
        assert.equal(exit.code, 0, exit.stderr);
      });
    }

    test('database stopped and started mid-run (--workers 2): 503 during the outage, sales after, never dies', async () => {
      const sku = uniqueSku('restart');
      const stock = 300;
      const server = await serve(['--db', database.url, '--sku', sku, '--stock', String(stock), '--workers', '2', '--pool', '4']);
      const client = new Client(server.url, 16);
      const attempts = await buyMany(client, sku, 100, 16);
      // The outage: purchases in flight while the database shuts down, then
      // purchases against no database at all.
      const outage = buyMany(client, sku, 100, 16);
      await database.stop();
      attempts.push(...(await outage));
      const during = await buyMany(client, sku, 20, 4);
      for (const { answer } of during) {
        assert.equal(answer?.status, 503, answer?.text);
        assert.ok(answer.headers['retry-after'], 'a refusal during the outage says when to retry');
      }
      attempts.push(...during);
      assert.ok(stillRunning(server), `serve died during the outage:\n${server.output().stderr}`);
      await database.start();
      attempts.push(...(await buyUntilSold(client, sku)));
      attempts.push(...(await buyMany(client, sku, 50, 8)));
      const counts = await auditRun(database.url, sku, stock, attempts);
      assert.ok(counts['200']! > 100, JSON.stringify(counts));
      assert.doesNotMatch(server.output().stderr, /exited|internal error/, server.output().stderr);
      await client.close();
      const exit = await server.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
    });
  });
}

/** Process ids of a process's children (the cluster workers of a serve primary). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('serve supervises its workers', () => {
  test('a worker killed with SIGKILL is restarted, and the server keeps selling', async () => {
    const url = freshSqliteUrl();
    const sku = uniqueSku('respawn');
    const server = await serve(['--db', url, '--sku', sku, '--stock', '100', '--workers', '2']);
    const primary = server.child.pid!;
    const first = await waitFor('two workers', () => (childrenOf(primary).length === 2 ? childrenOf(primary) : undefined));
    process.kill(first[0]!, 'SIGKILL');
    const restarted = await waitFor('the restart', () => /restarted as worker (\d+)/.exec(server.output().stderr)?.[1]);
    assert.ok(childrenOf(primary).includes(Number(restarted)), 'the replacement is a child of the primary');
    assert.equal(childrenOf(primary).length, 2);
    const client = new Client(server.url, 8);
    const attempts = await buyMany(client, sku, 40, 8);
    const counts = await auditRun(url, sku, 100, attempts);
    assert.deepEqual(counts, { 200: 40 });
    await client.close();
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
  });

  test('workers that keep dying: the primary gives up and exits non-zero', async () => {
    const server = await serve(['--db', freshSqliteUrl(), '--sku', uniqueSku('dying'), '--workers', '2']);
    const primary = server.child.pid!;
    // Kill a worker, wait for its replacement, again: the sixth death within
    // a minute is one more than the primary repairs. Bounded at ten rounds.
    for (let round = 0; round < 10 && stillRunning(server); round++) {
      const workers = await waitFor('live workers', () => (childrenOf(primary).length > 0 ? childrenOf(primary) : undefined), 5_000).catch(() => []);
      if (workers.length === 0) break;
      const restarts = (server.output().stderr.match(/restarted as/g) ?? []).length;
      try {
        process.kill(workers[0]!, 'SIGKILL');
      } catch {
        continue;
      }
      await waitFor('a restart or the end', () =>
        (server.output().stderr.match(/restarted as/g) ?? []).length > restarts || !stillRunning(server) ? true : undefined,
      );
    }
    // Kills the primary only if it failed to stop by itself (the assertion below then fails).
    const exit = await server.stop('SIGKILL');
    const { stderr } = server.output();
    assert.equal(exit.code, 1, stderr);
    assert.match(stderr, /giving up after 5 restarts/);
    assert.match(stderr, /stopped: server workers kept dying/);
  });
});

// Not on SQLite: better-sqlite3 waits for a held write lock synchronously,
// blocking the server's event loop, so no refusal could be sent meanwhile.
// The SQLite path through the gate is exercised by bench/overload.
for (const db of DATABASES.filter((candidate) => candidate.name !== 'sqlite')) {
  describe(`admission control on ${db.name}`, { skip: db.skip }, () => {
    test('beyond --max-queue a purchase is refused at once with 503 overloaded and Retry-After; the queue still sells', async () => {
      const url = db.url();
      const sku = uniqueSku('queue');
      const server = await serve(['--db', url, '--sku', sku, '--stock', '10', '--pool', '1', '--max-queue', '2', '--lock-timeout', '30s']);
      const client = new Client(server.url, 8);
      // Another connection holds the row lock, so the one purchase with a
      // connection waits on it, two wait in line, and two find no room.
      const holder = await openAdapter({ url });
      const session = await holder.acquire();
      const attempts: Attempt[] = [];
      let released = false;
      try {
        await session.begin();
        await session.readStockForUpdate(sku);
        const pending = Array.from({ length: 5 }, async () => {
          const requestId = randomUUID();
          const answer = await client.buy({ sku }, { 'idempotency-key': requestId });
          attempts.push({ requestId, answer });
          return answer;
        });
        // The refusals arrive while the lock is still held: nothing waited for it.
        const refused = await waitFor('two refusals', () => (attempts.length >= 2 ? attempts.slice(0, 2) : undefined));
        for (const { answer } of refused) {
          assert.equal(answer!.status, 503, answer!.text);
          assert.equal(answer!.body.error, 'overloaded');
          assert.equal(answer!.headers['retry-after'], '1');
          assert.match(answer!.body.message, /--max-queue/);
        }
        await session.rollback();
        released = true;
        await Promise.all(pending);
      } finally {
        if (!released) await session.rollback();
        holder.release(session);
        await holder.close();
      }
      const counts = await auditRun(url, sku, 10, attempts);
      assert.deepEqual(counts, { 200: 3, '503 overloaded': 2 });
      await client.close();
      await server.stop();
    });
  });
}
