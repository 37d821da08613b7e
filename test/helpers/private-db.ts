// Private database servers for fault tests. The shared PostgreSQL and
// MariaDB must never be stopped (other suites run on them), so a test that
// needs a database to die, restart or drop every connection starts its own
// server here: a throw-away data directory under a temp dir, a free port on
// 127.0.0.1, and nothing else listening. Stop, kill and start again act on
// that server only; destroy() removes it and its files.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One private database server and the handles a fault test pulls. */
export interface PrivateDatabase {
  /** Connection URL for the flashsale adapters (no password, 127.0.0.1). */
  url: string;
  /** The server's main process id while it runs. */
  pid(): number | undefined;
  /** Clean shutdown; resolves when the server has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or power loss would end it; resolves when it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same data and port; resolves when it accepts queries. */
  start(): Promise<void>;
  /** Stops it (if running) and deletes its data directory. Safe to call twice. */
  destroy(): Promise<void>;
}

/** A port nobody listens on right now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The newest installed PostgreSQL's bin directory, or undefined when none is. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(root, versions[0], 'bin');
}

/** Why private servers cannot run here, or false when they can. */
export function privateDatabaseSkip(kind: 'postgres' | 'mysql'): string | false {
  if (process.getuid?.() !== 0) return 'private database servers need root (to run initdb as postgres, mariadbd as root)';
  if (kind === 'postgres') return postgresBinDir() ? false : 'no PostgreSQL server binaries under /usr/lib/postgresql';
  return existsSync('/usr/sbin/mariadbd') && existsSync('/usr/bin/mariadb-install-db') ? false : 'no mariadbd / mariadb-install-db installed';
}

async function waitUntil(what: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A test process that dies without its after() hooks must not leave servers behind.
const running = new Set<() => void>();
process.once('exit', () => {
  for (const killNow of running) killNow();
});

/**
 * A private PostgreSQL: initdb (trust auth, no fsync: the data is disposable)
 * and pg_ctl, run as the postgres user because PostgreSQL refuses to run as
 * root. Listens on 127.0.0.1 and on a socket inside its temp dir.
 */
export async function startPrivatePostgres(): Promise<PrivateDatabase> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-pg-'));
  const data = join(dir, 'data');
  const pg = pwUser('postgres');
  chownSync(dir, pg.uid, pg.gid);
  const asPostgres = (command: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args]);
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const settings = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", '-c fsync=off', '-c max_connections=200', '-c shared_buffers=32MB'];

  const pid = () => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  const killNow = () => {
    const p = pid();
    if (alive(p)) process.kill(p!, 'SIGKILL');
  };
  let destroyed = false;

  const database: PrivateDatabase = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid,
    async start() {
      // After a SIGKILL the backends notice their postmaster is gone and exit
      // within moments; until then the old shared memory blocks a new start.
      await waitUntil('PostgreSQL did not start', async () => {
        await asPostgres('pg_ctl', ['-D', data, '-o', settings.join(' '), '-l', join(dir, 'log'), '-w', '-t', '20', 'start']);
        return true;
      });
      running.add(killNow);
    },
    async stop() {
      if (alive(pid())) await asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running.delete(killNow);
    },
    async kill() {
      const p = pid();
      if (alive(p)) process.kill(p!, 'SIGKILL');
      await waitUntil('PostgreSQL did not die', async () => !alive(p));
      running.delete(killNow);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await database.stop().catch(() => killNow());
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await database.start();
  return database;
}

/**
 * A private MariaDB: mariadb-install-db into a temp dir, then mariadbd as a
 * child of this process (as root: `--user=root`), on its own port and socket.
 * root has no password, as on the shared test server.
 */
export async function startPrivateMariadb(): Promise<PrivateDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${data}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--skip-name-resolve',
  ]);
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${socket}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--user=root',
    '--skip-name-resolve',
    '--skip-log-bin',
    '--performance-schema=OFF',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=2',
    '--max-connections=500',
    `--log-error=${join(dir, 'error.log')}`,
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killNow = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const url = `mysql://root@127.0.0.1:${port}/mysql`;
  let destroyed = false;

  const database: PrivateDatabase = {
    url,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async start() {
      const server = spawn('/usr/sbin/mariadbd', args, { stdio: 'ignore' });
      child = server;
      exited = new Promise((resolve) => server.once('exit', () => resolve()));
      running.add(killNow);
      const mysql = (await import('mysql2/promise')).default;
      await waitUntil('MariaDB did not accept connections', async () => {
        if (server.exitCode !== null) throw new Error(`mariadbd exited (${server.exitCode}); see ${join(dir, 'error.log')}`);
        const connection = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
        try {
          await connection.query('SELECT 1');
        } finally {
          await connection.end();
        }
        return true;
      });
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      running.delete(killNow);
    },
    async kill() {
      killNow();
      await exited;
      running.delete(killNow);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await database.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await database.start();
  return database;
}

function pwUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
