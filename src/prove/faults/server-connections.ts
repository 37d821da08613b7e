// The `drop` fault must cut the server's database connections and nobody
// else's: the database may be shared with other programs (and is, in our
// tests). So before the server starts, prove gives its connections an
// identity no other client has, and the drop acts only on that identity.
import { randomBytes } from 'node:crypto';
import type { Adapter } from '../../../adapters/adapter.js';
import { openAdapter } from '../../../adapters/open.js';
import { parseDatabaseUrl } from '../../../adapters/url.js';
import { withSession } from '../../../adapters/transaction.js';
import { ConfigError } from '../../errors.js';

/** The server's connections, told apart from every other client's. */
export interface ServerConnections {
  /** The URL to start the server (and everything else of this scenario) with. */
  serverUrl: string;
  /** What identifies the server's connections, for people. */
  identity: string;
  /** Terminates every connection with that identity; resolves with how many there were. */
  drop(): Promise<number>;
  /** Closes prove's own connection; on MySQL drops the run's database unless `keep` (to rerun verify by hand). */
  release(keep: boolean): Promise<void>;
}

/**
 * PostgreSQL: the server connects with `application_name=flashsale-prove-<random>`,
 * and the drop runs `pg_terminate_backend` on the backends with that name.
 * MySQL/MariaDB have no application name visible to every server (connection
 * attributes need performance_schema), so the scenario gets a database of its
 * own, `flashsale_prove_<random>` (created, and dropped after a pass), and the
 * drop KILLs the connections whose current database is that one. SQLite has
 * no connections: undefined.
 */
export async function isolateServerConnections(url: string): Promise<ServerConnections | undefined> {
  const { dialect } = parseDatabaseUrl(url);
  if (dialect === 'sqlite') return undefined;
  const token = randomBytes(4).toString('hex');
  // prove's own connection uses the URL as given, so it is never among those it drops.
  const admin = await openAdapter({ url, poolSize: 1 });
  try {
    return dialect === 'postgres' ? postgresConnections(url, admin, `flashsale-prove-${token}`) : await mysqlConnections(url, admin, `flashsale_prove_${token}`);
  } catch (error) {
    await admin.close();
    throw error;
  }
}

function postgresConnections(url: string, admin: Adapter, applicationName: string): ServerConnections {
  const tagged = new URL(url);
  tagged.searchParams.set('application_name', applicationName);
  return {
    serverUrl: tagged.href,
    identity: `application_name ${applicationName}`,
    async drop() {
      // The name is ours ([a-z0-9-]), so it can be written into the statement.
      const rows = await withSession(admin, (session) =>
        session.select(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS terminated
           FROM pg_stat_activity WHERE application_name = '${applicationName}' AND pid <> pg_backend_pid()`,
        ),
      );
      return Number(rows.rows[0]?.terminated ?? 0);
    },
    release: () => admin.close(),
  };
}

async function mysqlConnections(url: string, admin: Adapter, database: string): Promise<ServerConnections> {
  try {
    await withSession(admin, (session) => session.select(`CREATE DATABASE \`${database}\``));
  } catch (error) {
    throw new ConfigError(`prove --faults drop on MySQL needs a database of its own and could not create ${database}: ${(error as Error).message}`);
  }
  const own = new URL(url);
  own.pathname = `/${database}`;
  return {
    serverUrl: own.href,
    identity: `connections to database ${database}`,
    async drop() {
      return withSession(admin, async (session) => {
        const { rows } = await session.select(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = '${database}' AND ID <> CONNECTION_ID()`);
        let killed = 0;
        for (const row of rows) {
          try {
            await session.select(`KILL CONNECTION ${Number(row.id)}`);
            killed += 1;
          } catch (error) {
            // Gone by itself between the listing and the KILL: nothing to cut.
            if ((error as { code?: string }).code !== 'ER_NO_SUCH_THREAD') throw error;
          }
        }
        return killed;
      });
    },
    async release(keep) {
      try {
        if (!keep) await withSession(admin, (session) => session.select(`DROP DATABASE IF EXISTS \`${database}\``));
      } finally {
        await admin.close();
      }
    },
  };
}
