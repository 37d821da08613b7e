// Which store verify reads the stock and the ledger from, decided from the
// flags before anything is opened; every bad combination is one ConfigError.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRedisCommand } from '../adapters/redis-command.js';
import { ConfigError } from '../src/errors.js';
import { planFinalState, type StoreOptions } from '../src/verify/final-state.js';

const plan = (options: Omit<StoreOptions, 'sku'>) => planFinalState({ sku: 'A', ...options });
const PG = 'postgres://u:pw@127.0.0.1:5432/shop';
const REDIS = 'redis://127.0.0.1:6379/0';

describe('verify store flags', () => {
  test('nothing given: nothing is read', () => assert.equal(plan({}), undefined));

  test('--db alone: the reference schema, stock and ledger together', () => {
    assert.deepEqual(plan({ db: 'sqlite:./x.db' }), { sku: 'A', stock: { reference: 'sqlite:./x.db' }, ledger: { reference: 'sqlite:./x.db' } });
  });

  test('--db is the default store for both queries; --stock-db/--ledger-db override it', () => {
    const split = plan({ db: PG, stockDb: REDIS, stock: 'GET s', ledgerSql: 'SELECT 1' })!;
    assert.deepEqual(split.stock, { query: { url: REDIS, text: 'GET s', flag: '--stock' } });
    assert.deepEqual(split.ledger, { query: { url: PG, text: 'SELECT 1', flag: '--ledger-sql' }, member: 'request_id' });
  });

  test('--final-stock alone, and with a ledger from any store', () => {
    assert.deepEqual(plan({ finalStock: 7 }), { sku: 'A', stock: { value: 7 }, ledger: undefined });
    assert.deepEqual(plan({ finalStock: 0, ledgerDb: REDIS, ledger: 'SMEMBERS o', ledgerMember: 'buyer_id' })!.ledger, {
      query: { url: REDIS, text: 'SMEMBERS o', flag: '--ledger' },
      member: 'buyer_id',
    });
  });

  const refused: Array<[string, Omit<StoreOptions, 'sku'>, RegExp]> = [
    ['--final-stock with --stock', { finalStock: 1, db: REDIS, stock: 'GET s' }, /--final-stock gives the final stock by value/],
    ['--final-stock with --stock-db', { finalStock: 1, stockDb: PG }, /--final-stock gives the final stock by value/],
    ['--stock and --stock-sql', { db: PG, stock: 'GET s', stockSql: 'SELECT 1' }, /give --stock \(a Redis command\) or --stock-sql \(SQL\), not both/],
    ['--ledger-db without a ledger query', { db: PG, ledgerDb: REDIS }, /--ledger-db needs --ledger/],
    ['--stock-sql without a store', { stockSql: 'SELECT 1' }, /--stock-sql needs a store/],
    ['--ledger without a store', { finalStock: 1, ledger: 'SMEMBERS o' }, /--ledger needs a store/],
    ['a ledger without any stock', { ledgerDb: REDIS, ledger: 'SMEMBERS o' }, /a ledger needs the final stock too/],
    ['--stock-sql against Redis', { db: REDIS, stockSql: 'SELECT 1' }, /--stock-sql takes SQL, but the store is Redis/],
    ['--ledger against SQL', { db: PG, stockSql: 'SELECT 1', ledger: 'SMEMBERS o' }, /--ledger takes a Redis command, but the store is a SQL database/],
    ['Redis without a stock command', { db: REDIS }, /a Redis store has no reference schema/],
    // Refused while planning, before any store is opened: a write is named even when the store is unreachable or its password wrong.
    ['a Redis write as the stock', { db: 'redis://u:pw@127.0.0.1:1/0', stock: 'DEL s' }, /^--stock: "DEL" is not a read command verify sends/],
    ['a Redis write as the ledger', { finalStock: 0, ledgerDb: REDIS, ledger: 'FLUSHALL' }, /^--ledger: "FLUSHALL" is not a read command verify sends/],
    ['an unknown scheme, password masked', { db: 'oracle://u:pw@h/x' }, /unsupported store URL "oracle:\/\/u:\*\*\*@h\/x": use sqlite:PATH, postgres:\/\/…, mysql:\/\/… or redis:\/\/…/],
  ];
  for (const [name, options, message] of refused) {
    test(`refused: ${name}`, () => {
      assert.throws(() => plan(options), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !/pw@/.test(error.message));
    });
  }
});

describe('Redis commands verify sends', () => {
  test('quoted words keep their blanks; the name is upper-cased', () => {
    assert.deepEqual(parseRedisCommand(`eval_ro "return redis.call('GET', KEYS[1])" 1 stock:1`, '--stock'), {
      args: ['EVAL_RO', "return redis.call('GET', KEYS[1])", '1', 'stock:1'],
      shape: 'values',
    });
    assert.deepEqual(parseRedisCommand("HGETALL 'orders of day 1'", '--ledger'), { args: ['HGETALL', 'orders of day 1'], shape: 'pairs' });
    assert.equal(parseRedisCommand('XRANGE orders - +', '--ledger').shape, 'entries');
  });

  for (const command of ['SET k 1', 'DEL k', 'EVAL "return 1" 0', 'SPOP s', 'FLUSHALL', 'CONFIG SET save ""', 'SORT k STORE d', 'MULTI']) {
    test(`refused: ${command}`, () => assert.throws(() => parseRedisCommand(command, '--stock'), /is not a read command verify sends/));
  }
  test('refused: WITHSCORES, an empty command, an unclosed quote', () => {
    assert.throws(() => parseRedisCommand('ZRANGE z 0 -1 WITHSCORES', '--ledger'), /drop WITHSCORES/);
    assert.throws(() => parseRedisCommand('   ', '--ledger'), /--ledger is empty/);
    assert.throws(() => parseRedisCommand('GET "k', '--stock'), /unclosed "/);
  });
});
