import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import pg from 'pg';
import { connectRedis, type TestRedis } from './redis.js';

/**
 * Flash-sale shops backed by Redis, written the ways real ones are, for
 * testing `verify` against stores it did not create. Each speaks the reference
 * API's shape, so `attack` needs no flags: `POST /buy` with
 * `{"buyer_id":…,"quantity":…}` and the request id in `Idempotency-Key`;
 * 200 `{"success":true,"remaining_stock":N}` or 410 `{"error":"sold_out"}`.
 *
 * - `lua`: one Lua script checks, decrements and appends the ledger, atomically.
 *   It writes the ledger in every shape verify reads, so one run tests them all.
 * - `racy`: GET, an await, then SET: the lost-update bug of many tutorials.
 * - `counter-no-undo`: DECRBY, and a result below zero means sold out, without
 *   giving the units back: the counter ends below zero, the stock at zero.
 * - `pg-orders`: DECRBY on a Redis counter (given back when it goes below
 *   zero), and the order row in a PostgreSQL table.
 */
export type ShopKind = 'lua' | 'racy' | 'counter-no-undo' | 'pg-orders';

/** The keys a shop writes under its prefix. */
export function shopKeys(prefix: string) {
  return {
    stock: `${prefix}stock`,
    /** Set of request ids. */
    set: `${prefix}orders:set`,
    /** Sorted set of request ids, scored by the stock each sale left. */
    zset: `${prefix}orders:zset`,
    /** List of JSON rows. */
    list: `${prefix}orders:list`,
    /** Hash: request id → JSON row. */
    hash: `${prefix}orders:hash`,
    /** Stream: one entry per sale, fields request_id, buyer_id, quantity, stock_after. */
    stream: `${prefix}orders:stream`,
    /** Hash: buyer id → quantity. */
    buyers: `${prefix}orders:buyers`,
  };
}

const SELL = `
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local quantity = tonumber(ARGV[3])
if left < quantity then return -1 end
left = redis.call('DECRBY', KEYS[1], quantity)
local row = cjson.encode({request_id = ARGV[1], buyer_id = ARGV[2], quantity = quantity, stock_after = left})
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], left, ARGV[1])
redis.call('RPUSH', KEYS[4], row)
redis.call('HSET', KEYS[5], ARGV[1], row)
redis.call('XADD', KEYS[6], '*', 'request_id', ARGV[1], 'buyer_id', ARGV[2], 'quantity', quantity, 'stock_after', left)
redis.call('HINCRBY', KEYS[7], ARGV[2], quantity)
return left
`;

export interface RedisShop {
  url: string;
  keys: ReturnType<typeof shopKeys>;
  close(): Promise<void>;
}

export interface ShopOptions {
  kind: ShopKind;
  redisUrl: string;
  prefix: string;
  stock: number;
  /** pg-orders: the PostgreSQL database and the order table to create there. */
  pgUrl?: string;
  ordersTable?: string;
}

export async function startRedisShop(options: ShopOptions): Promise<RedisShop> {
  const redis = await connectRedis(options.redisUrl);
  const keys = shopKeys(options.prefix);
  await redis.send(['SET', keys.stock, options.stock]);
  let pool: pg.Pool | undefined;
  if (options.kind === 'pg-orders') {
    pool = new pg.Pool({ connectionString: options.pgUrl, max: 4 });
    await pool.query(`CREATE TABLE ${options.ordersTable} (id BIGSERIAL PRIMARY KEY, request_id TEXT NOT NULL, buyer_id TEXT NOT NULL, quantity INT NOT NULL, stock_after INT NOT NULL)`);
  }
  const sell = SELLERS[options.kind];
  const server: Server = createServer((request, response) => {
    handle(request, response, (sale) => sell(redis, keys, sale, pool, options.ordersTable)).catch((error) => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: String(error) }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/buy`,
    keys,
    close: async () => {
      server.close();
      server.closeAllConnections();
      await redis.close();
      await pool?.end();
    },
  };
}

interface Sale {
  requestId: string;
  buyerId: string;
  quantity: number;
}

/** The stock the sale left, or undefined when sold out. */
type Seller = (redis: TestRedis, keys: ReturnType<typeof shopKeys>, sale: Sale, pool?: pg.Pool, table?: string) => Promise<number | undefined>;

const SELLERS: Record<ShopKind, Seller> = {
  lua: async (redis, keys, sale) => {
    const left = Number(await redis.send(['EVAL', SELL, 7, ...Object.values(keys), sale.requestId, sale.buyerId, sale.quantity]));
    return left < 0 ? undefined : left;
  },
  racy: async (redis, keys, sale) => {
    const seen = Number(await redis.send(['GET', keys.stock]));
    if (seen < sale.quantity) return undefined;
    // Other buyers' GETs land here, and read the same stock.
    await new Promise((resolve) => setTimeout(resolve, 2));
    const left = seen - sale.quantity;
    await redis.send(['SET', keys.stock, left]);
    await redis.send(['RPUSH', keys.list, JSON.stringify({ request_id: sale.requestId, buyer_id: sale.buyerId, quantity: sale.quantity, stock_after: left })]);
    return left;
  },
  'counter-no-undo': async (redis, keys, sale) => {
    const left = Number(await redis.send(['DECRBY', keys.stock, sale.quantity]));
    if (left < 0) return undefined;
    await redis.send(['SADD', keys.set, sale.requestId]);
    return left;
  },
  'pg-orders': async (redis, keys, sale, pool, table) => {
    const left = Number(await redis.send(['DECRBY', keys.stock, sale.quantity]));
    if (left < 0) {
      await redis.send(['INCRBY', keys.stock, sale.quantity]);
      return undefined;
    }
    await pool!.query(`INSERT INTO ${table} (request_id, buyer_id, quantity, stock_after) VALUES ($1, $2, $3, $4)`, [sale.requestId, sale.buyerId, sale.quantity, left]);
    return left;
  },
};

async function handle(request: IncomingMessage, response: ServerResponse, sell: (sale: Sale) => Promise<number | undefined>): Promise<void> {
  let body = '';
  for await (const chunk of request) body += chunk;
  const parsed = (body ? JSON.parse(body) : {}) as { buyer_id?: string; quantity?: number };
  const sale = { requestId: String(request.headers['idempotency-key']), buyerId: parsed.buyer_id ?? 'anonymous', quantity: parsed.quantity ?? 1 };
  const left = await sell(sale);
  response.writeHead(left === undefined ? 410 : 200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(left === undefined ? { success: false, error: 'sold_out', remaining_stock: 0 } : { success: true, remaining_stock: left, request_id: sale.requestId }));
}
