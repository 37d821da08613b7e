import type { Adapter, AdapterOptions } from './adapter.js';
import { parseDatabaseUrl } from './url.js';

/**
 * Opens the adapter a URL names and checks that the database answers, so a
 * wrong host or password is reported once, at start, as one line. Drivers are
 * loaded only when their database is used. `check: false` skips the check: a
 * server worker restarted during a database outage must come up anyway and
 * answer 503 until the database is back (its primary checked the URL).
 */
export async function openAdapter(options: AdapterOptions, { check = true }: { check?: boolean } = {}): Promise<Adapter> {
  const { dialect, location } = parseDatabaseUrl(options.url);
  let adapter: Adapter;
  switch (dialect) {
    case 'sqlite': {
      const { SqliteAdapter } = await import('./sqlite.js');
      adapter = SqliteAdapter.open(location, options);
      break;
    }
    case 'postgres': {
      const { PostgresAdapter } = await import('./postgres.js');
      adapter = new PostgresAdapter(options);
      break;
    }
    case 'mysql': {
      const { MysqlAdapter } = await import('./mysql.js');
      adapter = new MysqlAdapter(options);
      break;
    }
  }
  if (!check) return adapter;
  try {
    await adapter.serverVersion();
  } catch (error) {
    await adapter.close().catch(() => {});
    throw error;
  }
  return adapter;
}
