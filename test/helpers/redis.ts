import { createClient } from '@redis/client';
import { randomUUID } from 'node:crypto';

/** The Redis the suites run against, or the one line saying how to enable them. */
export const REDIS = {
  url: process.env.FLASHSALE_REDIS_URL ?? '',
  skip: process.env.FLASHSALE_REDIS_URL ? (false as const) : 'set FLASHSALE_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the Redis tests',
};

/** A key prefix no other test uses, so tests can share one Redis. */
export function uniquePrefix(name: string): string {
  return `flashsale-test:${name}:${randomUUID().slice(0, 8)}:`;
}

/** The few client calls tests and test shops make. */
export interface TestRedis {
  send(args: Array<string | number>): Promise<unknown>;
  /** Deletes every key under `prefix` (SCAN, so it never blocks the shared server). */
  dropPrefix(prefix: string): Promise<void>;
  close(): Promise<void>;
}

export async function connectRedis(url = REDIS.url): Promise<TestRedis> {
  const client = createClient({ url, RESP: 2, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  const send = (args: Array<string | number>): Promise<unknown> => client.sendCommand(args.map(String));
  return {
    send,
    dropPrefix: async (prefix) => {
      let cursor = '0';
      do {
        const [next, keys] = (await send(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 500])) as [string, string[]];
        cursor = next;
        if (keys.length) await send(['DEL', ...keys]);
      } while (cursor !== '0');
    },
    close: async () => void (await client.close()),
  };
}
