import { createClient } from '@redis/client';
import { ConfigError, DatabaseUnreachableError } from '../src/errors.js';
import type { LedgerMember, QueryAnswer, ReadRequest, ReferenceState, StoreReader } from './reader.js';
import { parseRedisCommand, type RedisCommand } from './redis-command.js';
import { maskPassword } from './url.js';

// The few client methods this reader uses.
interface RedisConnection {
  sendCommand(args: string[]): Promise<unknown>;
  multi(): RedisTransaction;
  close(): Promise<unknown>;
  destroy(): unknown;
}

interface RedisTransaction {
  addCommand(args: string[]): RedisTransaction;
  exec(): Promise<unknown[]>;
}

/**
 * Redis for `verify`: the stock from one read command (`GET product_stock:1`,
 * `HGET item:1 stock`, `EVAL_RO …`), the ledger from a set, sorted set, list,
 * hash or stream whose members are ids or JSON rows. Only commands on the
 * read allowlist (redis-command.ts) are ever sent.
 */
export class RedisReader implements StoreReader {
  readonly language = 'redis' as const;

  private constructor(
    private readonly client: RedisConnection,
    readonly label: string,
    private readonly secret: string,
  ) {}

  static async open(url: string): Promise<RedisReader> {
    const label = maskPassword(url);
    let secret = '';
    try {
      secret = decodeURIComponent(new URL(url).password);
    } catch {
      throw new ConfigError(`malformed Redis URL ${JSON.stringify(label)}`);
    }
    const client = createClient({
      url,
      // RESP2: HGETALL answers a flat list on every server version.
      RESP: 2,
      // One attempt: a verify that cannot reach its store says so at once.
      socket: { reconnectStrategy: false, connectTimeout: 5000 },
      disableOfflineQueue: true,
    });
    // Without a listener a connection error would end the process; connect() reports it.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      client.destroy();
      throw new DatabaseUnreachableError(`cannot reach ${label}: ${hide(messageOf(error), secret)}`, { cause: error });
    }
    return new RedisReader(client as unknown as RedisConnection, label, secret);
  }

  async read(request: ReadRequest): Promise<{ stock?: QueryAnswer; ledger?: QueryAnswer }> {
    // Both parsed before anything is sent: a refused command sends nothing.
    const stock = request.stock !== undefined ? parseRedisCommand(request.stock, '--stock') : undefined;
    const ledger = request.ledger !== undefined ? parseRedisCommand(request.ledger, '--ledger') : undefined;
    const sent: Array<[RedisCommand, string]> = [];
    if (stock) sent.push([stock, '--stock']);
    if (ledger) sent.push([ledger, '--ledger']);
    const replies = sent.length === 2 ? await this.sendTogether(sent) : [await this.send(...sent[0]!)];
    const answer: { stock?: QueryAnswer; ledger?: QueryAnswer } = {};
    if (stock) answer.stock = { columns: ['value'], rows: valuesOf(replies[0]).map((value) => ({ value })) };
    if (ledger) answer.ledger = { columns: [], rows: ledgerRows(ledger, replies[sent.length - 1], request.member ?? 'request_id') };
    return answer;
  }

  reference(_sku: string): Promise<ReferenceState> {
    return Promise.reject(
      new ConfigError(`${this.label} is Redis, which has no reference schema: give --stock 'GET key' (and --ledger 'SMEMBERS key' …) or --final-stock N`),
    );
  }

  async close(): Promise<void> {
    try {
      await this.client.close();
    } catch {
      this.client.destroy();
    }
  }

  // MULTI/EXEC of reads: Redis runs them back to back, so the stock and the
  // ledger are read as of one moment even if the shop is still selling.
  private async sendTogether(commands: Array<[RedisCommand, string]>): Promise<unknown[]> {
    let transaction = this.client.multi();
    for (const [command] of commands) transaction = transaction.addCommand(command.args);
    try {
      return await transaction.exec();
    } catch (error) {
      const failed = (error as { errorIndexes?: number[]; replies?: unknown[] }).errorIndexes?.[0];
      const [command, flag] = commands[failed ?? 0]!;
      const cause = failed === undefined ? error : (error as { replies: unknown[] }).replies[failed];
      throw new ConfigError(`${flag} ${command.args[0]} on ${this.label} failed: ${hide(messageOf(cause), this.secret)}`, { cause: error });
    }
  }

  private async send(command: RedisCommand, flag: string): Promise<unknown> {
    try {
      return await this.client.sendCommand(command.args);
    } catch (error) {
      throw new ConfigError(`${flag} ${command.args[0]} on ${this.label} failed: ${hide(messageOf(error), this.secret)}`, { cause: error });
    }
  }
}

function messageOf(error: unknown): string {
  return String((error as Error)?.message || (error as { code?: string })?.code || error).split('\n')[0]!;
}

/** A driver message never carries the password out, whatever it quotes. */
function hide(message: string, secret: string): string {
  return secret ? message.split(secret).join('***') : message;
}

/** A reply as a list of values: nil is none, a scalar is one, a list is its items. */
function valuesOf(reply: unknown): unknown[] {
  if (reply === null || reply === undefined) return [];
  return Array.isArray(reply) ? reply : [reply];
}

/** Ledger rows from a reply, by the shape its command answers in. */
function ledgerRows(command: RedisCommand, reply: unknown, member: LedgerMember): Array<Record<string, unknown>> {
  switch (command.shape) {
    case 'pairs': {
      const flat = pairsOf(reply);
      const rows: Array<Record<string, unknown>> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) rows.push(hashRow(String(flat[i]), flat[i + 1], member));
      return rows;
    }
    case 'entries':
      return valuesOf(reply).map((entry) => streamRow(entry));
    case 'values': {
      const values = valuesOf(reply);
      // One string holding a JSON array (GET orders): its items are the rows.
      if (values.length === 1 && typeof values[0] === 'string' && values[0].trimStart().startsWith('[')) {
        const parsed = parseJson(values[0]);
        if (Array.isArray(parsed)) return parsed.map((item) => (isObject(item) ? item : { [member]: String(item) }));
      }
      return values.map((value) => memberRow(value, member));
    }
  }
}

function pairsOf(reply: unknown): unknown[] {
  if (reply instanceof Map) return [...reply.entries()].flat();
  if (isObject(reply)) return Object.entries(reply).flat();
  return valuesOf(reply);
}

/** A member is a JSON row (`{"request_id":…}`) or a bare id of the kind `member` says. */
function memberRow(value: unknown, member: LedgerMember): Record<string, unknown> {
  if (typeof value === 'string' && value.trimStart().startsWith('{')) {
    const parsed = parseJson(value);
    if (isObject(parsed)) return parsed;
  }
  return { [member]: String(value) };
}

/**
 * A hash field is the id; its value is a JSON row (whose own fields win), a
 * whole number (the quantity), or anything else (ignored: a time, a status).
 */
function hashRow(field: string, value: unknown, member: LedgerMember): Record<string, unknown> {
  if (typeof value === 'string' && value.trimStart().startsWith('{')) {
    const parsed = parseJson(value);
    if (isObject(parsed)) return { [member]: field, ...parsed };
  }
  if ((typeof value === 'string' && /^\d+$/.test(value)) || typeof value === 'number') return { [member]: field, quantity: value };
  return { [member]: field };
}

/** A stream entry's fields are the row; one field holding a JSON object is unwrapped. The entry id is the row id unless it has one. */
function streamRow(entry: unknown): Record<string, unknown> {
  const [entryId, flat] = Array.isArray(entry) ? entry : [undefined, entry];
  let row: Record<string, unknown> = {};
  const fields = pairsOf(flat);
  for (let i = 0; i + 1 < fields.length; i += 2) row[String(fields[i])] = fields[i + 1];
  const values = Object.values(row);
  if (values.length === 1 && typeof values[0] === 'string' && values[0].trimStart().startsWith('{')) {
    const parsed = parseJson(values[0]);
    if (isObject(parsed)) row = parsed;
  }
  return entryId !== undefined && row.id === undefined ? { ...row, id: String(entryId) } : row;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}
