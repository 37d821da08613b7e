// The command line as a user meets it: help, version, and one clear line with
// exit code 2 for every way a start can go wrong. No stack traces.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startServe } from './helpers/cli.js';
import { freshSqliteUrl } from './helpers/databases.js';

function assertOneLineError(run: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.equal(run.code, 2, `exit code, stderr: ${run.stderr}`);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

test('--help lists the commands and --version prints the package version', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /serve/);
  assert.match(help.stdout, /reset/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const serveHelp = await runCli(['serve', '--help']);
  for (const strategy of ['lock', 'atomic', 'optimistic', 'batch', 'unsafe']) assert.match(serveHelp.stdout, new RegExp(`"${strategy}"`));
  // A new user finds the reservation flow (issue 12) from the help alone.
  assert.match(help.stdout, /serve[^\n]*\n?[^\n]*reserv/);
  assert.match(serveHelp.stdout, /POST \/reserve/);
  const proveHelp = await runCli(['prove', '--help']);
  assert.match(proveHelp.stdout, /three with\s+--flow reserve/);
});

test('serve with defaults listens on 127.0.0.1:3000 with ./flashsale.db, item A, 100 units, strategy lock', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'flashsale-cwd-'));
  // Port 3000 may be taken on a developer's machine; the defaults are what is under test, so skip rather than fail.
  const probe = createServer().listen(3000, '127.0.0.1');
  const free = await Promise.race([once(probe, 'listening').then(() => true), once(probe, 'error').then(() => false)]);
  probe.close();
  if (!free) return t.skip('port 3000 is in use on this machine');
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('./helpers/cli.js');
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const deadline = Date.now() + 20_000;
  while (!stdout.includes('workers') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const [code] = await once(child, 'close');
  assert.match(stdout, /listening on http:\/\/127\.0\.0\.1:3000/);
  assert.match(stdout, /database {2}sqlite:\.\/flashsale\.db \(SQLite /);
  assert.match(stdout, /strategy {2}lock/);
  assert.match(stdout, /item {6}A: 100 of 100 in stock \(created now\)/);
  assert.equal(code, 0);
});

test('DATABASE_URL is used when --db is not given', async () => {
  const url = freshSqliteUrl();
  const server = await startServe([], { env: { DATABASE_URL: url } });
  const { stdout } = server.output();
  await server.stop();
  assert.ok(stdout.includes(`database  ${url}`), stdout);
});

test('unsafe warns loudly on stderr when it starts', async () => {
  const server = await startServe(['--db', freshSqliteUrl(), '--strategy', 'unsafe']);
  const { stderr } = server.output();
  await server.stop();
  assert.match(stderr, /WILL lose updates and oversell/);
});

test('an unreachable PostgreSQL server is one line and exit 2', async () => {
  assertOneLineError(await runCli(['serve', '--db', 'postgres://postgres@127.0.0.1:1/test']), /^flashsale: cannot reach postgres:\/\/postgres@127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
});

test('an unreachable MySQL server is one line and exit 2', async () => {
  assertOneLineError(await runCli(['reset', '--db', 'mysql://root@127.0.0.1:1/test']), /^flashsale: cannot reach mysql:\/\/root@127\.0\.0\.1:1\/test/);
});

test('a password in a database URL is never printed', async () => {
  const run = await runCli(['serve', '--db', 'postgres://postgres:hunter2@127.0.0.1:1/test']);
  assert.equal(run.code, 2);
  assert.doesNotMatch(run.stderr, /hunter2/);
  assert.match(run.stderr, /postgres:\*\*\*@/);
});

test('an unsupported URL scheme is one line and exit 2', async () => {
  assertOneLineError(await runCli(['serve', '--db', 'oracle://x']), /^flashsale: unsupported database URL "oracle:\/\/x"/);
});

test('a SQLite file in a missing folder is one line and exit 2', async () => {
  assertOneLineError(await runCli(['serve', '--db', 'sqlite:/nonexistent-folder/x.db']), /directory \/nonexistent-folder does not exist/);
});

test('a port in use is one line and exit 2', async () => {
  const blocker = createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const port = (blocker.address() as { port: number }).port;
  try {
    assertOneLineError(await runCli(['serve', '--db', freshSqliteUrl(), '--port', String(port)]), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assertOneLineError(await runCli(['serve', '--db', freshSqliteUrl(), '--port', String(port), '--workers', '2']), /already in use/);
  } finally {
    blocker.close();
  }
});

test('bad flags are one line and exit 2', async () => {
  assertOneLineError(await runCli(['serve', '--port', 'abc']), /error: option '--port <port>' argument 'abc' is invalid/);
  assertOneLineError(await runCli(['serve', '--strategy', 'yolo']), /argument 'yolo' is invalid. Allowed choices are lock, atomic, optimistic, batch, unsafe/);
  assertOneLineError(await runCli(['serve', '--stock', '-5']), /--stock/);
  assertOneLineError(await runCli(['serve', '--lock-timeout', 'soon']), /--lock-timeout/);
  assertOneLineError(await runCli(['serve', '--bogus']), /unknown option '--bogus'/);
  assertOneLineError(await runCli(['fly']), /unknown command 'fly'/);
});
