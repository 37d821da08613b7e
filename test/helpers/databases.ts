import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A database the suites can run against, or the one line saying how to enable it. */
export interface TestDatabase {
  name: 'sqlite' | 'postgres' | 'mysql';
  /** A fresh URL for each call, so tests never share a SQLite file. */
  url(): string;
  /** False when available; otherwise the reason the suite is skipped. */
  skip: string | false;
}

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-test-'));

/** A SQLite URL in a fresh temporary folder. */
export function freshSqliteUrl(): string {
  return `sqlite:${join(mkdtempSync(join(scratch, 'db-')), 'flashsale.db')}`;
}

function fromEnvironment(name: 'postgres' | 'mysql', variable: string, example: string): TestDatabase {
  const url = process.env[variable];
  return {
    name,
    url: () => url!,
    skip: url ? false : `set ${variable} (e.g. ${example}) to run the ${name} tests`,
  };
}

/**
 * SQLite always; PostgreSQL and MySQL when FLASHSALE_PG_URL and
 * FLASHSALE_MYSQL_URL are set (.ci/run sets both). Server databases are
 * shared by every test, so tests keep apart by using their own sku.
 */
export const DATABASES: TestDatabase[] = [
  { name: 'sqlite', url: freshSqliteUrl, skip: false },
  fromEnvironment('postgres', 'FLASHSALE_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  fromEnvironment('mysql', 'FLASHSALE_MYSQL_URL', 'mysql://root@127.0.0.1:3306/test'),
];

/** An item name no other test uses, so tests can share one server database. */
export function uniqueSku(prefix = 'T'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
