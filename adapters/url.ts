import { ConfigError } from '../src/errors.js';
import type { DialectName } from './adapter.js';

/** A `--db` URL split into what the adapters need. */
export interface DatabaseUrl {
  dialect: DialectName;
  /** For SQLite, the file path (or `:memory:`); otherwise the URL itself. */
  location: string;
}

const SCHEMES: Record<string, DialectName> = {
  'sqlite:': 'sqlite',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};

/** Recognises `sqlite:PATH`, `sqlite://PATH`, `postgres://…`, `mysql://…` (and `mariadb://…`). */
export function parseDatabaseUrl(url: string): DatabaseUrl {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  const dialect = scheme ? SCHEMES[scheme] : undefined;
  if (!scheme || !dialect) {
    throw new ConfigError(`unsupported database URL ${JSON.stringify(maskPassword(url))}: use sqlite:PATH, postgres://… or mysql://…`);
  }
  if (dialect === 'sqlite') {
    const path = url.slice(scheme.length).replace(/^\/\//, '');
    if (path === '') throw new ConfigError('the sqlite URL names no file: use sqlite:./flashsale.db');
    return { dialect, location: path };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`malformed database URL ${JSON.stringify(maskPassword(url))}`);
  }
  if (!parsed.hostname) throw new ConfigError(`database URL ${JSON.stringify(maskPassword(url))} names no host`);
  return { dialect, location: url };
}

/** The URL with its password replaced by `***`, safe to print. */
export function maskPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
