// A PostgreSQL or MySQL database created for one test and dropped after it:
// `prove` sells fixed item names (flashsale-prove-1…), so two test files
// proving on the shared `test` database at once would reset each other's items.
import { randomBytes } from 'node:crypto';
import { openAdapter } from '../../adapters/open.js';
import { parseDatabaseUrl } from '../../adapters/url.js';
import { withSession } from '../../adapters/transaction.js';

export interface ScratchDatabase {
  /** The server URL with the scratch database as its path. */
  url: string;
  /** Drops the database (connections still open to it are cut on PostgreSQL). */
  drop(): Promise<void>;
}

export async function createScratchDatabase(serverUrl: string): Promise<ScratchDatabase> {
  const name = `flashsale_test_${randomBytes(4).toString('hex')}`;
  await runOnServer(serverUrl, `CREATE DATABASE ${quote(serverUrl, name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => dropDatabase(url.href) };
}

/** Drops the database a URL names, if it still exists. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const postgres = parseDatabaseUrl(databaseUrl).dialect === 'postgres';
  // Not connected to the database itself (PostgreSQL cannot drop it then, and it may be gone):
  // to PostgreSQL's maintenance database, or to no database on MySQL.
  const serverUrl = new URL(databaseUrl);
  serverUrl.pathname = postgres ? '/postgres' : '/';
  await runOnServer(serverUrl.href, `DROP DATABASE IF EXISTS ${quote(databaseUrl, name)}${postgres ? ' WITH (FORCE)' : ''}`);
}

function quote(url: string, name: string): string {
  return parseDatabaseUrl(url).dialect === 'postgres' ? `"${name}"` : `\`${name}\``;
}

async function runOnServer(serverUrl: string, sql: string): Promise<void> {
  const admin = await openAdapter({ url: serverUrl, poolSize: 1 });
  try {
    await withSession(admin, (session) => session.select(sql));
  } finally {
    await admin.close();
  }
}
