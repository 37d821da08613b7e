import { InvalidArgumentError, Option } from 'commander';
import { maskPassword } from '../../adapters/url.js';

// Parsers for commander options. Each throws InvalidArgumentError, which
// commander turns into one line naming the flag, and exit code 2.

/** The database when neither --db nor DATABASE_URL names one: embedded SQLite. */
export const DEFAULT_DATABASE_URL = 'sqlite:./flashsale.db';

export function defaultDatabaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/**
 * `--db <url>` defaulting to DATABASE_URL. `--help` names the variable and
 * shows its value masked, never the password commander would print as is.
 */
export function databaseOption(description = 'sqlite:PATH, postgres://… or mysql://… (env DATABASE_URL)'): Option {
  const fromEnvironment = process.env.DATABASE_URL;
  return new Option('--db <url>', description).default(
    defaultDatabaseUrl(),
    fromEnvironment ? `$DATABASE_URL: ${maskPassword(fromEnvironment)}` : DEFAULT_DATABASE_URL,
  );
}

/** A whole number within [min, max]. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
    }
    return number;
  };
}

/** A duration such as `500ms`, `5s`, `2m` (a bare number is milliseconds); returns milliseconds. */
export function duration(min = 1): (value: string) => number {
  return (value) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
    const ms = match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] ?? 'ms']! : NaN;
    if (!Number.isFinite(ms) || ms < min) {
      throw new InvalidArgumentError(`expected a duration such as 500ms, 5s or 2m, got ${JSON.stringify(value)}.`);
    }
    return Math.round(ms);
  };
}
