import { ConfigError } from '../src/errors.js';

// The Redis commands `verify` may send, and how to read each one's answer.
// An allowlist, not a blocklist: verify is read-only always, and a command
// this list does not know is refused before anything is sent.

/** How a command's reply becomes rows. */
export type ReplyShape =
  /** A value or a list of values (GET, SMEMBERS, LRANGE, ZRANGE, EVAL_RO …). */
  | 'values'
  /** Field, value, field, value … (HGETALL). */
  | 'pairs'
  /** Stream entries: [id, [field, value, …]] (XRANGE). */
  | 'entries';

const READ_COMMANDS: Record<string, ReplyShape> = {
  GET: 'values',
  MGET: 'values',
  HGET: 'values',
  HMGET: 'values',
  HVALS: 'values',
  HKEYS: 'values',
  ZSCORE: 'values',
  LINDEX: 'values',
  LLEN: 'values',
  SCARD: 'values',
  ZCARD: 'values',
  HLEN: 'values',
  XLEN: 'values',
  SMEMBERS: 'values',
  LRANGE: 'values',
  ZRANGE: 'values',
  ZREVRANGE: 'values',
  ZRANGEBYSCORE: 'values',
  ZREVRANGEBYSCORE: 'values',
  SORT_RO: 'values',
  // The server itself refuses any write from a read-only script (Redis 7+).
  EVAL_RO: 'values',
  EVALSHA_RO: 'values',
  FCALL_RO: 'values',
  HGETALL: 'pairs',
  XRANGE: 'entries',
  XREVRANGE: 'entries',
};

/** A command line parsed and allowed. */
export interface RedisCommand {
  /** Name and arguments as sent, the name upper-cased. */
  args: string[];
  shape: ReplyShape;
}

/**
 * Parses `GET product_stock:1` or `EVAL_RO "return …" 1 key` (words split on
 * blanks; single or double quotes keep blanks; backslash escapes inside double
 * quotes) and refuses every command that is not a known read.
 */
export function parseRedisCommand(text: string, flag: string): RedisCommand {
  const args = splitWords(text, flag);
  if (args.length === 0) throw new ConfigError(`${flag} is empty: give a Redis read command such as 'GET stock:1'`);
  const name = args[0]!.toUpperCase();
  const shape = READ_COMMANDS[name];
  if (!shape) {
    throw new ConfigError(`${flag}: ${JSON.stringify(args[0])} is not a read command verify sends (verify never writes); use one of ${Object.keys(READ_COMMANDS).join(' ')}`);
  }
  if (name.startsWith('Z') && args.some((arg) => arg.toUpperCase() === 'WITHSCORES')) {
    throw new ConfigError(`${flag}: drop WITHSCORES; verify reads the members only`);
  }
  return { args: [name, ...args.slice(1)], shape };
}

function splitWords(text: string, flag: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && i + 1 < text.length) word = (word ?? '') + text[++i];
      else word = (word ?? '') + char;
    } else if (char === '"' || char === "'") {
      quote = char;
      word ??= '';
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + char;
    }
  }
  if (quote) throw new ConfigError(`${flag}: unclosed ${quote} in ${JSON.stringify(text)}`);
  if (word !== undefined) words.push(word);
  return words;
}
