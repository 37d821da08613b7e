// The batch strategy in-process, against every real database: what one
// batch decides (order, first fit, replays inside and across batches), and
// what a failure in the middle of a batch leaves behind (nothing, and the
// same answer for every buyer in it).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { Adapter, Session } from '../adapters/adapter.js';
import { DatabaseUnreachableError } from '../src/errors.js';
import { openAdapter } from '../adapters/open.js';
import { MysqlAdapter, takesInsertReturning } from '../adapters/mysql.js';
import { sellBatch } from '../adapters/strategies/batch.js';
import { Batcher } from '../adapters/strategies/batcher.js';
import type { PurchaseOutcome, PurchaseRequest } from '../adapters/strategies/index.js';
import { prepareStore } from '../adapters/store.js';
import { withTransaction } from '../adapters/transaction.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { createScratchDatabase, type ScratchDatabase } from './helpers/scratch-database.js';
import { readStateWith } from './helpers/store.js';

/** A batcher that also records the batches it formed, to show what was sold together. */
function recordingBatcher(adapter: Adapter, maxSize = 512) {
  const batches: string[][] = [];
  const batcher = new Batcher((requests, committing) => {
    batches.push(requests.map((request) => request.requestId));
    return sellBatch(adapter, requests, committing);
  }, { maxSize, maxWaitMs: 0 });
  return { batches, buy: (request: PurchaseRequest) => batcher.submit(request) };
}

/** The adapter, with a session method replaced wherever `override` returns a function for it. */
function overridingSessions(adapter: Adapter, override: (session: Session, property: string | symbol) => unknown): Adapter {
  const wrap = (session: Session): Session =>
    new Proxy(session, {
      get(target, property) {
        const replaced = override(target, property);
        if (replaced) return replaced;
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(adapter, {
    get(target, property) {
      if (property === 'acquire') return async () => wrap(await target.acquire());
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The adapter, except that the first COMMIT through it commits (or rolls
 * back) and then throws as a dropped connection would.
 */
function losingOneCommit(adapter: Adapter, committed: boolean): Adapter {
  let armed = true;
  return overridingSessions(adapter, (session, property) => {
    if (property !== 'commit' || !armed) return undefined;
    return async () => {
      armed = false;
      await (committed ? session.commit() : session.rollback());
      throw new DatabaseUnreachableError('injected: the connection dropped during COMMIT');
    };
  });
}

function request(sku: string, fields: Partial<PurchaseRequest> = {}): PurchaseRequest {
  return { sku, buyerId: `b-${randomUUID().slice(0, 6)}`, quantity: 1, requestId: randomUUID(), ...fields };
}

/** The outcome if it is a sale, else undefined. */
function bought(outcome: PurchaseOutcome | string | undefined): Extract<PurchaseOutcome, { kind: 'bought' }> | undefined {
  return typeof outcome === 'object' && outcome.kind === 'bought' ? outcome : undefined;
}

/** Settles every purchase; each result is an outcome or the error's code. */
async function settleAll(purchases: Array<Promise<PurchaseOutcome>>): Promise<Array<PurchaseOutcome | string>> {
  const results = await Promise.allSettled(purchases);
  return results.map((result) => (result.status === 'fulfilled' ? result.value : String((result.reason as { code?: string }).code ?? result.reason)));
}

async function newItem(adapter: Adapter, stock: number): Promise<string> {
  const sku = uniqueSku('batch');
  await prepareStore(adapter, { sku, itemName: 'batch test', stock });
  return sku;
}

async function assertConserved(adapter: Adapter, sku: string, stock: number): Promise<void> {
  const state = await readStateWith(adapter, sku);
  const units = state.ledger.reduce((sum, row) => sum + row.quantity, 0);
  assert.equal(state.inventory.current_stock + units, stock, 'stock + ledger = initial stock');
  assert.equal(new Set(state.ledger.map((row) => row.stockAfter)).size, state.ledger.length, 'distinct stock_after');
}

for (const db of DATABASES) {
  describe(`batch strategy on ${db.name}`, { skip: db.skip }, () => {
    let adapter: Adapter;
    before(async () => {
      adapter = await openAdapter({ url: db.url(), poolSize: 4 });
    });
    after(() => adapter?.close());

    test('buyers waiting together are one batch: a prefix sells in arrival order, the rest are refused', async () => {
      const sku = await newItem(adapter, 5);
      const { batches, buy } = recordingBatcher(adapter);
      const requests = Array.from({ length: 8 }, () => request(sku));
      const outcomes = await settleAll(requests.map(buy));
      assert.equal(batches.length, 1, 'bought in the same turn of the event loop: one batch');
      assert.deepEqual(
        outcomes.map((outcome) => (typeof outcome === 'string' ? outcome : `${outcome.kind}:${outcome.remaining}`)),
        ['bought:4', 'bought:3', 'bought:2', 'bought:1', 'bought:0', 'sold_out:0', 'sold_out:0', 'sold_out:0'],
      );
      const state = await readStateWith(adapter, sku);
      assert.equal(state.inventory.current_stock, 0);
      const told = new Map(outcomes.filter((o): o is Extract<PurchaseOutcome, { kind: 'bought' }> => typeof o !== 'string' && o.kind === 'bought').map((o) => [o.requestId, o]));
      assert.equal(state.ledger.length, 5);
      for (const row of state.ledger) {
        assert.equal(told.get(row.requestId)?.remaining, row.stockAfter, 'each buyer is told its own row');
        assert.equal(told.get(row.requestId)?.purchaseId, row.id, 'and its own purchase id');
      }
    });

    test('first fit: a buyer of 3 refused with 2 left does not stop a later buyer of 1', async () => {
      const sku = await newItem(adapter, 2);
      const { batches, buy } = recordingBatcher(adapter);
      const outcomes = await settleAll([buy(request(sku, { quantity: 3 })), buy(request(sku, { quantity: 1 })), buy(request(sku, { quantity: 2 }))]);
      assert.equal(batches.length, 1);
      assert.deepEqual(
        outcomes.map((outcome) => (typeof outcome === 'string' ? outcome : `${outcome.kind}:${outcome.remaining}`)),
        ['sold_out:2', 'bought:1', 'sold_out:1'],
      );
      await assertConserved(adapter, sku, 2);
    });

    test('one key twice inside one batch: the second replays the first, nothing is sold twice; other fields are a 422', async () => {
      const sku = await newItem(adapter, 10);
      const { batches, buy } = recordingBatcher(adapter);
      const first = request(sku);
      const outcomes = await settleAll([buy(first), buy(request(sku)), buy({ ...first }), buy({ ...first, quantity: 2 })]);
      assert.equal(batches.length, 1);
      const [original, other, again, conflict] = outcomes;
      assert.equal(bought(original)?.replayed, false);
      assert.deepEqual(again, { ...bought(original), replayed: true });
      assert.equal(bought(other)?.remaining, 8);
      assert.equal(conflict, 'FS_IDEMPOTENCY_CONFLICT');
      const state = await readStateWith(adapter, sku);
      assert.equal(state.ledger.length, 2);
      assert.equal(state.inventory.current_stock, 8);
    });

    test('a key already in the ledger replays across batches, the rest of its batch still sells together', async () => {
      const sku = await newItem(adapter, 10);
      const { batches, buy } = recordingBatcher(adapter);
      const first = request(sku);
      const [original] = await settleAll([buy(first)]);
      const outcomes = await settleAll([buy(request(sku)), buy({ ...first }), buy(request(sku)), buy({ ...first, buyerId: 'someone-else' })]);
      assert.equal(batches.length, 2);
      assert.ok(bought(original));
      assert.deepEqual(outcomes[1], { ...bought(original), replayed: true });
      assert.deepEqual(
        [outcomes[0], outcomes[2]].map((outcome) => bought(outcome)?.remaining),
        [8, 7],
      );
      assert.equal(outcomes[3], 'FS_IDEMPOTENCY_CONFLICT');
      const state = await readStateWith(adapter, sku);
      assert.equal(state.ledger.length, 3);
      assert.equal(state.inventory.current_stock, 7);
    });

    test('a retry of the buyer who took the last unit gets its 200, not a 410, in a later batch', async () => {
      const sku = await newItem(adapter, 1);
      const { buy } = recordingBatcher(adapter);
      const lucky = request(sku);
      const [original] = await settleAll([buy(lucky)]);
      const [retry, late] = await settleAll([buy({ ...lucky }), buy(request(sku))]);
      assert.deepEqual(retry, { ...(original as object), replayed: true });
      assert.deepEqual(late, { kind: 'sold_out', remaining: 0 });
    });

    test('a UNIQUE violation mid-batch (a key already used for another item) rolls the batch back; it is sold again without it', async () => {
      const sku = await newItem(adapter, 10);
      const reused = randomUUID();
      await withTransaction(adapter, (session) =>
        session.insertPurchase({ sku: uniqueSku('elsewhere'), buyerId: 'b-x', quantity: 1, requestId: reused, stockAfter: 0 }),
      );
      const { batches, buy } = recordingBatcher(adapter);
      const outcomes = await settleAll([buy(request(sku)), buy(request(sku)), buy(request(sku, { requestId: reused, buyerId: 'b-x' })), buy(request(sku))]);
      assert.equal(batches.length, 1);
      assert.equal(outcomes[2], 'FS_IDEMPOTENCY_CONFLICT', 'the reused key is refused as today, 422');
      assert.deepEqual(
        [outcomes[0], outcomes[1], outcomes[3]].map((outcome) => bought(outcome)?.remaining),
        [9, 8, 7],
      );
      const state = await readStateWith(adapter, sku);
      assert.deepEqual(state.ledger.map((row) => row.stockAfter), [9, 8, 7], 'the first attempt left no row behind');
      assert.equal(state.inventory.current_stock, 7);
    });

    // The COMMIT's answer lost on the way back: the database committed (or
    // rolled back) and the driver reports a dead connection. Injected at the
    // Session boundary of the real adapter; the database does the rest.
    for (const [fate, committed] of [['committed', true], ['rolled back', false]] as const) {
      test(`a COMMIT whose answer was lost and that in fact ${fate}: every buyer hears what the ledger says`, async () => {
        const sku = await newItem(adapter, 10);
        const { batches, buy } = recordingBatcher(losingOneCommit(adapter, committed));
        const outcomes = await settleAll([buy(request(sku)), buy(request(sku)), buy(request(sku))]);
        assert.equal(batches.length, 1);
        const state = await readStateWith(adapter, sku);
        if (committed) {
          assert.deepEqual(outcomes.map((outcome) => bought(outcome)?.remaining), [9, 8, 7]);
          assert.deepEqual(state.ledger.map((row) => row.stockAfter), [9, 8, 7]);
        } else {
          // 503 with Retry-After: checked under the lock, nothing was sold.
          assert.deepEqual(outcomes, ['FS_DB_UNREACHABLE', 'FS_DB_UNREACHABLE', 'FS_DB_UNREACHABLE']);
          assert.equal(state.ledger.length, 0);
          assert.equal(state.inventory.current_stock, 10);
        }
      });
    }

    // The next batch starts when the previous one has sent its COMMIT, not
    // when that COMMIT returns: its BEGIN and row-lock request travel while
    // the COMMIT flushes. The database lock still orders the two.
    test('a buyer who arrives during a COMMIT is sold by the next batch, started before that COMMIT returned, in order', async () => {
      const sku = await newItem(adapter, 10);
      const events: string[] = [];
      let arrive: () => void = () => {};
      let commits = 0;
      // The first COMMIT is held back 100 ms, and two buyers arrive as it is sent.
      const slowFirstCommit = overridingSessions(adapter, (session, property) => {
        if (property === 'begin') return async () => (await session.begin(), events.push('begin'));
        if (property !== 'commit') return undefined;
        return async () => {
          const which = ++commits;
          events.push(`commit ${which} sent`);
          if (which === 1) {
            arrive();
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          await session.commit();
          events.push(`commit ${which} returned`);
        };
      });
      const { batches, buy } = recordingBatcher(slowFirstCommit);
      let late: Array<Promise<PurchaseOutcome | string>> = [];
      arrive = () => (late = [request(sku), request(sku)].map((r) => buy(r).catch((error: { code?: string }) => String(error.code))));
      const early = await settleAll([buy(request(sku)), buy(request(sku)), buy(request(sku))]);
      const second = await Promise.all(late);
      assert.deepEqual(batches.map((batch) => batch.length), [3, 2]);
      assert.deepEqual([...early, ...second].map((outcome) => bought(outcome)?.remaining), [9, 8, 7, 6, 5], 'sold in arrival order');
      // SQLite has one connection: there the next BEGIN waits for it.
      if (db.name !== 'sqlite') {
        assert.ok(events.indexOf('begin', 1) < events.indexOf('commit 1 returned'), `the next batch began during the COMMIT: ${events.join(', ')}`);
      }
      await assertConserved(adapter, sku, 10);
    });

    test('batches never exceed --batch-size and sell the stock exactly', async () => {
      const sku = await newItem(adapter, 20);
      const { batches, buy } = recordingBatcher(adapter, 4);
      const outcomes = await settleAll(Array.from({ length: 30 }, () => buy(request(sku))));
      assert.ok(batches.every((batch) => batch.length <= 4), JSON.stringify(batches.map((batch) => batch.length)));
      assert.equal(outcomes.filter((outcome) => typeof outcome !== 'string' && outcome.kind === 'bought').length, 20);
      assert.equal(outcomes.filter((outcome) => typeof outcome !== 'string' && outcome.kind === 'sold_out').length, 10);
      await assertConserved(adapter, sku, 20);
    });
  });
}

// A connection dropped in the middle of a batch: after the stock was written,
// while the ledger INSERT waits (on an uncommitted row of the test's with one
// of the batch's request ids). Killing the batch's backend must undo the
// stock write too, and every buyer of the batch gets the same error.
interface Killer {
  /** Holds an uncommitted ledger row for `requestId`, so that an INSERT of that id waits. */
  holdRequestId(sku: string, requestId: string): Promise<void>;
  /** Kills the connection whose INSERT waits for the held row; resolves once killed. */
  killWaitingInsert(requestId: string): Promise<void>;
  /** Rolls back the held row. */
  release(): Promise<void>;
  close(): Promise<void>;
}

async function postgresKiller(url: string): Promise<Killer> {
  const holder = new pg.Client({ connectionString: url });
  const admin = new pg.Client({ connectionString: url });
  await holder.connect();
  await admin.connect();
  return {
    async holdRequestId(sku, requestId) {
      await holder.query('BEGIN');
      await holder.query("INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES ($1, 'holder', 1, $2, 0)", [sku, requestId]);
    },
    async killWaitingInsert() {
      for (let tries = 0; tries < 500; tries++) {
        const { rows } = await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND pid NOT IN (pg_backend_pid(), $1) AND query LIKE '%INSERT INTO purchases%'`,
          [(holder as unknown as { processID: number }).processID],
        );
        if (rows.length > 0) {
          for (const row of rows) await admin.query('SELECT pg_terminate_backend($1)', [row.pid]);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('no batch INSERT was seen waiting');
    },
    async release() {
      await holder.query('ROLLBACK');
    },
    async close() {
      await holder.end();
      await admin.end();
    },
  };
}

async function mysqlKiller(url: string): Promise<Killer> {
  const holder = await mysql.createConnection(url);
  const admin = await mysql.createConnection(url);
  return {
    async holdRequestId(sku, requestId) {
      await holder.query('BEGIN');
      await holder.query("INSERT INTO purchases (sku, buyer_id, quantity, request_id, stock_after) VALUES (?, 'holder', 1, ?, 0)", [sku, requestId]);
    },
    async killWaitingInsert(requestId) {
      for (let tries = 0; tries < 500; tries++) {
        // The batch INSERT's values are in its text (client-side escaping), so the held id finds it.
        const [rows] = await admin.query<mysql.RowDataPacket[]>(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO purchases%' AND INFO LIKE ? AND ID <> CONNECTION_ID()",
          [`%${requestId}%`],
        );
        if (rows.length > 0) {
          for (const row of rows) await admin.query(`KILL ${Number(row.ID)}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('no batch INSERT was seen waiting');
    },
    async release() {
      await holder.query('ROLLBACK');
    },
    async close() {
      await holder.end();
      await admin.end();
    },
  };
}

for (const db of DATABASES.filter((candidate) => candidate.name !== 'sqlite')) {
  const skip = db.skip;
  describe(`batch strategy on ${db.name}: a connection killed mid-batch`, { skip }, () => {
    let scratch: ScratchDatabase;
    let adapter: Adapter;
    let killer: Killer;
    before(async () => {
      scratch = await createScratchDatabase(db.url());
      adapter = await openAdapter({ url: scratch.url, poolSize: 2, lockTimeoutMs: 20_000 });
      await prepareStore(adapter, { sku: 'warm-up', itemName: 'schema', stock: 0 });
      killer = db.name === 'postgres' ? await postgresKiller(scratch.url) : await mysqlKiller(scratch.url);
    });
    after(async () => {
      await killer?.close();
      await adapter?.close();
      await scratch?.drop();
    });

    test('rolls back the stock write with the ledger rows; every buyer gets the same error; the next batch sells', async () => {
      const sku = await newItem(adapter, 10);
      const held = randomUUID();
      await killer.holdRequestId(uniqueSku('elsewhere'), held);
      const { batches, buy } = recordingBatcher(adapter);
      const settled = settleAll([buy(request(sku)), buy(request(sku, { requestId: held })), buy(request(sku)), buy(request(sku))]);
      await killer.killWaitingInsert(held);
      await killer.release();
      const outcomes = await settled;
      assert.equal(batches.length, 1);
      assert.equal(new Set(outcomes.map((outcome) => JSON.stringify(outcome))).size, 1, `one answer for all: ${JSON.stringify(outcomes)}`);
      assert.equal(typeof outcomes[0], 'string', `an error, not a sale: ${JSON.stringify(outcomes)}`);
      const state = await readStateWith(adapter, sku);
      assert.equal(state.inventory.current_stock, 10, 'the stock write was rolled back with the batch');
      assert.equal(state.ledger.length, 0);

      const again = await settleAll([buy(request(sku)), buy(request(sku, { requestId: held }))]);
      assert.deepEqual(again.map((outcome) => bought(outcome)?.remaining), [9, 8]);
      await assertConserved(adapter, sku, 10);
    });
  });
}

// MariaDB 10.5+ returns a batch's ledger ids from the INSERT itself; MySQL
// has no INSERT … RETURNING and reads them back by request id. The suites
// above run the server's own choice; this one forces the MySQL path on the
// same server, so both stay tested against a real database.
test('INSERT … RETURNING is taken from MariaDB 10.5 on, never on MySQL', () => {
  assert.equal(takesInsertReturning('10.11.19-MariaDB-0+deb12u1'), true);
  assert.equal(takesInsertReturning('10.5.0-MariaDB'), true);
  assert.equal(takesInsertReturning('11.4.2-MariaDB-ubu2404'), true);
  assert.equal(takesInsertReturning('10.4.34-MariaDB'), false);
  assert.equal(takesInsertReturning('8.0.36'), false);
  assert.equal(takesInsertReturning('8.4.0-MySQL Community Server'), false);
});

const mariadb = DATABASES.find((candidate) => candidate.name === 'mysql')!;
describe('batch strategy on mysql: both ways of learning the ledger ids', { skip: mariadb.skip }, () => {
  for (const insertReturning of [undefined, false] as const) {
    const way = insertReturning === false ? 'read back by request id (the MySQL path)' : "the server's own choice";
    test(`${way}: every buyer is told its own row; a UNIQUE violation still rolls back and resells`, async () => {
      const adapter = new MysqlAdapter({ url: mariadb.url(), poolSize: 2 }, { insertReturning });
      try {
        const version = await adapter.serverVersion();
        const expected = insertReturning ?? takesInsertReturning(version.replace(/^MariaDB (.*)$/, '$1-MariaDB'));
        assert.equal(await adapter.insertReturning(), expected, version);
        const sku = await newItem(adapter, 10);
        const reused = randomUUID();
        await withTransaction(adapter, (session) =>
          session.insertPurchase({ sku: uniqueSku('elsewhere'), buyerId: 'b-x', quantity: 1, requestId: reused, stockAfter: 0 }),
        );
        const { batches, buy } = recordingBatcher(adapter);
        const requests = [request(sku), request(sku), request(sku, { requestId: reused, buyerId: 'b-x' }), request(sku), request(sku)];
        const outcomes = await settleAll(requests.map(buy));
        assert.equal(batches.length, 1);
        assert.equal(outcomes[2], 'FS_IDEMPOTENCY_CONFLICT');
        const state = await readStateWith(adapter, sku);
        assert.deepEqual(state.ledger.map((row) => row.stockAfter), [9, 8, 7, 6]);
        const byRequest = new Map(state.ledger.map((row) => [row.requestId, row]));
        for (const [index, outcome] of outcomes.entries()) {
          if (index === 2) continue;
          const row = byRequest.get(requests[index]!.requestId);
          assert.equal(bought(outcome)?.purchaseId, row?.id, 'the purchase id is the ledger row of this very request');
          assert.equal(bought(outcome)?.remaining, row?.stockAfter);
        }
      } finally {
        await adapter.close();
      }
    });
  }
});
