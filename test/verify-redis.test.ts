// verify against Redis-backed shops nobody here would ship as a reference:
// the stock in a Redis key, the ledger in a set, sorted set, list, hash or
// stream, or in a PostgreSQL table beside a Redis counter. End to end through
// bin/: attack the shop, then verify reads the stores read-only.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runCli, type CliRun } from './helpers/cli.js';
import { uniqueSku } from './helpers/databases.js';
import { connectRedis, REDIS, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { startRedisShop, type RedisShop, type ShopOptions } from './helpers/redis-shop.js';

const STOCK = 20;
const BUYERS = 60;
const scratch = mkdtempSync(join(tmpdir(), 'flashsale-redis-'));
const PG_URL = process.env.FLASHSALE_PG_URL;

interface Check {
  id: string;
  status: string;
  summary: string;
  witnesses: Array<{ message: string }>;
}
interface VerdictJson {
  status: string;
  checks: Check[];
  inputs: { ledger_rows: number | null; final_stock: number | null; database: string | null };
}

/** Runs attack against a shop and returns the history file. */
async function attackShop(shop: RedisShop, name: string): Promise<string> {
  const history = join(scratch, `${name}.jsonl`);
  const run = await runCli(['attack', '--target', shop.url, '--buyers', String(BUYERS), '--processes', '2', '--history', history]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  return history;
}

async function verifyJson(args: string[]): Promise<{ run: CliRun; verdict: VerdictJson }> {
  const run = await runCli(['verify', '--json', ...args]);
  assert.ok(run.code === 0 || run.code === 1 || run.code === 3, `verify exited ${run.code}: ${run.stderr}`);
  return { run, verdict: JSON.parse(run.stdout) as VerdictJson };
}

const check = (verdict: VerdictJson, id: string) => verdict.checks.find((c) => c.id === id)!;

function assertOneLine(run: CliRun, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

describe('verify reads Redis', { skip: REDIS.skip }, () => {
  let redis: TestRedis;
  const prefixes: string[] = [];
  const shop = async (options: Omit<ShopOptions, 'redisUrl' | 'prefix' | 'stock'>, name: string) => {
    const prefix = uniquePrefix(name);
    prefixes.push(prefix);
    return startRedisShop({ ...options, redisUrl: REDIS.url, prefix, stock: STOCK });
  };
  before(async () => {
    redis = await connectRedis();
  });
  after(async () => {
    for (const prefix of prefixes) await redis.dropPrefix(prefix);
    await redis?.close();
  });

  describe('a safe Redis-Lua shop passes, whatever shape its ledger has', () => {
    let lua: RedisShop;
    let history: string;
    before(async () => {
      lua = await shop({ kind: 'lua' }, 'lua');
      history = await attackShop(lua, 'lua');
      await lua.close();
    });

    const stock = () => ['--history', history, '--db', REDIS.url, '--initial-stock', String(STOCK), '--stock', `GET ${lua.keys.stock}`];

    for (const [shape, command] of [
      ['a list of JSON rows', (k: RedisShop['keys']) => `LRANGE ${k.list} 0 -1`],
      ['a hash of request id → JSON row', (k: RedisShop['keys']) => `HGETALL ${k.hash}`],
      ['a stream of entries', (k: RedisShop['keys']) => `XRANGE ${k.stream} - +`],
    ] as const) {
      test(`${shape}: every check passes, stock_after included`, async () => {
        const { run, verdict } = await verifyJson([...stock(), '--ledger', command(lua.keys)]);
        assert.equal(run.code, 0, run.stdout);
        assert.equal(verdict.status, 'PASS');
        assert.equal(verdict.inputs.ledger_rows, STOCK);
        assert.equal(verdict.inputs.final_stock, 0);
        for (const id of ['D1', 'D2', 'D3', 'D4', 'D5', 'D6']) assert.equal(check(verdict, id).status, 'PASS', `${id}: ${check(verdict, id).summary}`);
      });
    }

    for (const [shape, command] of [
      ['a set of request ids', (k: RedisShop['keys']) => `SMEMBERS ${k.set}`],
      ['a sorted set of request ids', (k: RedisShop['keys']) => `ZRANGE ${k.zset} 0 -1`],
    ] as const) {
      test(`${shape}: joined on request id; stock_after is not there to compare`, async () => {
        const { verdict } = await verifyJson([...stock(), '--ledger', command(lua.keys)]);
        // No stock_after to compare is "not applicable", which does not block a PASS.
        assert.equal(verdict.status, 'PASS');
        assert.equal(verdict.inputs.ledger_rows, STOCK);
        for (const id of ['D1', 'D2', 'D3']) assert.equal(check(verdict, id).status, 'PASS', `${id}: ${check(verdict, id).summary}`);
        assert.match(check(verdict, 'D3').summary, new RegExp(`^joined on request id: ${STOCK} rows: lost 0, unexpected 0`));
        assert.equal(check(verdict, 'D4').status, 'N/A');
      });
    }

    test('a hash of buyer id → quantity, read with --ledger-member buyer_id', async () => {
      const { verdict } = await verifyJson([...stock(), '--ledger', `HGETALL ${lua.keys.buyers}`, '--ledger-member', 'buyer_id']);
      assert.notEqual(verdict.status, 'FAIL');
      assert.equal(verdict.inputs.ledger_rows, STOCK);
      assert.equal(check(verdict, 'D2').status, 'PASS', check(verdict, 'D2').summary);
    });

    test('the same sales in other shapes: a JSON array string, a stream of JSON fields, a list of bare ids', async () => {
      const rows = (await redis.send(['LRANGE', lua.keys.list, 0, -1])) as string[];
      const requestIds = rows.map((row) => (JSON.parse(row) as { request_id: string }).request_id);
      const [array, stream, ids] = [`${lua.keys.list}:as-array`, `${lua.keys.list}:as-stream`, `${lua.keys.list}:as-ids`];
      await redis.send(['SET', array, `[${rows.join(',')}]`]);
      for (const row of rows) await redis.send(['XADD', stream, '*', 'data', row]);
      await redis.send(['RPUSH', ids, ...requestIds]);
      for (const [command, stockAfter] of [[`GET ${array}`, true], [`XRANGE ${stream} - +`, true], [`LRANGE ${ids} 0 -1`, false]] as const) {
        const { verdict } = await verifyJson([...stock(), '--ledger', command]);
        assert.notEqual(verdict.status, 'FAIL', command);
        assert.equal(verdict.inputs.ledger_rows, STOCK, command);
        assert.equal(check(verdict, 'D3').status, 'PASS', `${command}: ${check(verdict, 'D3').summary}`);
        assert.equal(check(verdict, 'D4').status === 'PASS', stockAfter, `${command}: ${check(verdict, 'D4').summary}`);
      }
    });

    test('the stock from a hash field (HGET)', async () => {
      const item = `${lua.keys.stock}:item`;
      await redis.send(['HSET', item, 'name', 'gala', 'stock', await redis.send(['GET', lua.keys.stock]) as string]);
      const base = ['--history', history, '--db', REDIS.url, '--initial-stock', String(STOCK), '--ledger', `LRANGE ${lua.keys.list} 0 -1`];
      const { run, verdict } = await verifyJson([...base, '--stock', `HGET ${item} stock`]);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(verdict.inputs.final_stock, 0);
      assertOneLine(await runCli(['verify', ...base, '--stock', `HGET ${item} stok`]), /--stock returned nothing \(no such key or field\?\)/);
      assertOneLine(await runCli(['verify', ...base, '--stock', `HGET ${item} name`]), /the final stock must be a whole number, got text "gala"/);
    });

    test('a ledger missing one sale is caught, with the lost buyer as witness', async () => {
      const [missing] = (await redis.send(['SRANDMEMBER', lua.keys.set, 1])) as string[];
      const copy = `${lua.keys.set}:copy`;
      await redis.send(['SUNIONSTORE', copy, lua.keys.set]);
      await redis.send(['SREM', copy, missing!]);
      const { run, verdict } = await verifyJson([...stock(), '--ledger', `SMEMBERS ${copy}`]);
      assert.equal(run.code, 1);
      assert.equal(check(verdict, 'D3').status, 'FAIL');
      assert.ok(JSON.stringify(check(verdict, 'D3').witnesses).includes(missing!), 'the witness names the lost request');
    });

    test('--final-stock takes the stock by value', async () => {
      const right = await verifyJson(['--history', history, '--initial-stock', String(STOCK), '--final-stock', '0', '--ledger-db', REDIS.url, '--ledger', `LRANGE ${lua.keys.list} 0 -1`]);
      assert.equal(right.run.code, 0, right.run.stdout);
      assert.equal(right.verdict.inputs.final_stock, 0);
      const wrong = await verifyJson(['--history', history, '--initial-stock', String(STOCK), '--final-stock', '3', '--ledger-db', REDIS.url, '--ledger', `LRANGE ${lua.keys.list} 0 -1`]);
      assert.equal(wrong.run.code, 1);
      assert.equal(check(wrong.verdict, 'D2').status, 'FAIL');
      const alone = await verifyJson(['--history', history, '--initial-stock', String(STOCK), '--final-stock', '0']);
      assert.equal(check(alone.verdict, 'D1').status, 'PASS');
      assert.equal(alone.verdict.inputs.ledger_rows, null);
    });

    test('a command that is not a read is refused in one line, and nothing changes', async () => {
      const before = await redis.send(['SMEMBERS', lua.keys.set]);
      assertOneLine(await runCli(['verify', '--history', history, '--db', REDIS.url, '--stock', `DEL ${lua.keys.stock}`]), /--stock: "DEL" is not a read command/);
      assertOneLine(await runCli([...['verify', ...stock()], '--ledger', `SPOP ${lua.keys.set}`]), /--ledger: "SPOP" is not a read command/);
      assertOneLine(
        await runCli(['verify', '--history', history, '--db', REDIS.url, '--stock', `EVAL_RO "return redis.call('DEL', KEYS[1])" 1 ${lua.keys.stock}`]),
        /Write commands are not allowed from read-only scripts/,
      );
      assert.equal(await redis.send(['GET', lua.keys.stock]), '0');
      assert.deepEqual(await redis.send(['SMEMBERS', lua.keys.set]), before);
    });

    test('a stock that is not one number is one line, exit 2', async () => {
      const base = ['verify', '--history', history, '--db', REDIS.url];
      assertOneLine(await runCli([...base, '--stock', `GET ${lua.keys.stock}:absent`]), /--stock returned nothing/);
      assertOneLine(await runCli([...base, '--stock', `GET ${lua.keys.set}`]), /WRONGTYPE/);
      // Stock and ledger go together in one MULTI/EXEC: the failing one is named.
      assertOneLine(await runCli([...base, '--stock', `GET ${lua.keys.stock}`, '--ledger', `SMEMBERS ${lua.keys.stock}`]), /--ledger SMEMBERS on redis:\/\/\S+ failed: WRONGTYPE/);
      assertOneLine(await runCli([...base, '--stock', `SMEMBERS ${lua.keys.set}`]), new RegExp(`--stock returned ${STOCK} values`));
      assertOneLine(await runCli([...base, '--stock', `LINDEX ${lua.keys.list} 0`]), /must be a whole number, got text/);
      assertOneLine(await runCli([...base, '--stock-sql', 'SELECT 1']), /--stock-sql takes SQL, but the store is Redis/);
      assertOneLine(await runCli([...base]), /a Redis store has no reference schema/);
    });

    test('a password in a Redis URL is never printed', async () => {
      const unreachable = await runCli(['verify', '--history', history, '--db', 'redis://user:s3cr3t-pw@127.0.0.1:1/0', '--stock', 'GET x']);
      assertOneLine(unreachable, /cannot reach redis:\/\/user:\*\*\*@127\.0\.0\.1:1\/0/);
      const refused = await runCli(['verify', '--history', history, '--db', REDIS.url.replace('redis://', 'redis://:s3cr3t-pw@'), '--stock', 'GET x']);
      assert.equal(refused.code, 2);
      for (const run of [unreachable, refused]) assert.doesNotMatch(run.stdout + run.stderr, /s3cr3t-pw/);
    });
  });

  test('a Redis shop with a GET-then-SET race fails, with a witness', async () => {
    const racy = await shop({ kind: 'racy' }, 'racy');
    let history: string;
    try {
      history = await attackShop(racy, 'racy');
    } finally {
      await racy.close();
    }
    const { run, verdict } = await verifyJson(['--history', history, '--db', REDIS.url, '--initial-stock', String(STOCK), '--stock', `GET ${racy.keys.stock}`, '--ledger', `LRANGE ${racy.keys.list} 0 -1`]);
    assert.equal(run.code, 1, run.stdout);
    assert.equal(verdict.status, 'FAIL');
    // More sales than stock were acknowledged, and two buyers saw the same stock.
    for (const id of ['H2', 'D2']) {
      assert.equal(check(verdict, id).status, 'FAIL', `${id}: ${check(verdict, id).summary}`);
      assert.ok(check(verdict, id).witnesses.length > 0);
    }
  });

  test('a counter that goes below zero: GET sees it, an EVAL_RO clamp reads the true stock', async () => {
    const counter = await shop({ kind: 'counter-no-undo' }, 'counter');
    let history: string;
    try {
      history = await attackShop(counter, 'counter');
    } finally {
      await counter.close();
    }
    const base = ['--history', history, '--db', REDIS.url, '--initial-stock', String(STOCK), '--ledger', `SMEMBERS ${counter.keys.set}`];
    const raw = await verifyJson([...base, '--stock', `GET ${counter.keys.stock}`]);
    assert.equal(raw.verdict.inputs.final_stock, STOCK - BUYERS);
    assert.equal(check(raw.verdict, 'D1').status, 'FAIL');
    const clamped = await verifyJson([...base, '--stock', `EVAL_RO "return math.max(0, tonumber(redis.call('GET', KEYS[1])))" 1 ${counter.keys.stock}`]);
    assert.equal(clamped.verdict.inputs.final_stock, 0);
    assert.notEqual(clamped.verdict.status, 'FAIL', JSON.stringify(clamped.verdict.checks.filter((c) => c.status === 'FAIL')));
    assert.equal(check(clamped.verdict, 'D2').status, 'PASS');
  });

  test('a Redis counter with a PostgreSQL order table passes, stock and ledger from the two stores', { skip: PG_URL ? false : 'set FLASHSALE_PG_URL to run it' }, async () => {
    const table = `orders_${uniqueSku('redis').replace(/-/g, '_').toLowerCase()}`;
    const mixed = await shop({ kind: 'pg-orders', pgUrl: PG_URL!, ordersTable: table }, 'pg-orders');
    let history: string;
    try {
      history = await attackShop(mixed, 'pg-orders');
    } finally {
      await mixed.close();
    }
    try {
      const { run, verdict } = await verifyJson([
        '--history', history, '--initial-stock', String(STOCK),
        '--stock-db', REDIS.url, '--stock', `GET ${mixed.keys.stock}`,
        '--ledger-db', PG_URL!, '--ledger-sql', `SELECT id, request_id, buyer_id, quantity, stock_after FROM ${table} ORDER BY id`,
      ]);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(verdict.status, 'PASS');
      assert.equal(verdict.inputs.ledger_rows, STOCK);
      assert.match(verdict.inputs.database!, /^stock: redis:\/\/.*; ledger: postgres:\/\//);
      for (const id of ['D1', 'D2', 'D3', 'D4']) assert.equal(check(verdict, id).status, 'PASS');
    } finally {
      const pool = new pg.Pool({ connectionString: PG_URL });
      await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.end();
    }
  });
});
