// A target that dies mid-stampede: killed -9 (one worker or four), shut down
// with SIGTERM, a plain node:http server that dies after 300 answers, and one
// that was never there. attack must not crash: every buyer gets an outcome,
// the history is whole (an end line that counts them), the summary prints,
// and the exit code is the documented one (2, target lost).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, spawnCli, startServe, type CliProcess, type CliRun } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';
import { historyLines, opLines, show } from './helpers/history-lines.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-lost-'));
/** Far more buyers than can be served before the kill, so the kill lands mid-run. */
const BUYERS = 20_000;
const STOCK = 1_000_000;
/** Answers the target gives before it is killed. */
const BEFORE_KILL = 300;

/** `flashsale attack … --json` as a child process, to be waited on. */
function startAttack(args: string[]): CliProcess {
  return spawnCli(['attack', ...args, '--json'], { env: { CI: 'true' }, timeoutMs: 120_000 });
}

/** Polls the reference server until it has sold `units`; bounded. */
async function untilSold(url: string, units: number): Promise<void> {
  const client = new Client(url, 1);
  try {
    for (let attempt = 0; attempt < 1500; attempt++) {
      const answer = await client.inventory().catch(() => undefined);
      if (answer && answer.body.initial_stock - answer.body.current_stock >= units) return;
      await sleep(20);
    }
    throw new Error(`the server did not sell ${units} units`);
  } finally {
    await client.close();
  }
}

/** The worker processes of a `serve --workers N` primary. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((line) => Number(line.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** What every lost-target run must show, whatever killed the target. */
function assertSurvived(run: CliRun, history: string, buyers: number): { ops: Record<string, any>[]; summary: any } {
  assert.doesNotMatch(run.stderr, /AssertionError|internal error|\n\s+at /, `no crash, no stack:\n${run.stderr}`);
  assert.equal(run.code, 2, `a lost target exits 2:\n${run.stderr}`);
  assert.match(run.stderr, /the target was lost mid-run/);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.end_reason, 'target_lost');
  assert.equal(summary.completed, buyers, 'every buyer has an outcome');

  const lines = historyLines(history);
  assert.equal(lines[0]!.kind, 'meta');
  assert.deepEqual(lines.at(-1), { kind: 'end', planned: buyers, recorded: buyers, reason: 'target_lost' });
  const ops = opLines(lines);
  assert.equal(ops.length, buyers);
  assert.equal(new Set(ops.map((op) => op.request_id)).size, buyers, 'one line per request');
  assert.ok(ops.filter((op) => op.outcome === 'bought').length >= BEFORE_KILL, 'the answers before the kill are kept');
  // Refused connections are surely-not; whatever was written and then cut is unknown.
  for (const op of ops) {
    if (op.outcome === 'conn_refused') assert.equal(op.type, 'fail');
    if (op.outcome === 'conn_reset' || op.outcome === 'timeout') assert.equal(op.type, 'info');
  }
  const unsent = ops.filter((op) => op.outcome === 'conn_refused');
  assert.ok(unsent.length > 0, 'buyers after the loss are recorded as not sent');
  assert.ok(unsent.every((op) => op.status === null && /ECONNREFUSED|not sent/.test(op.error)), show(unsent[0]));
  assert.equal(summary.outcomes.bought + summary.outcomes.conn_refused + summary.types.info, buyers, 'nothing else happened');
  return { ops, summary };
}

/**
 * The verdict on a run whose target died: the server lost nothing it
 * acknowledged, so verify must not fail it. Requests cut by the kill are
 * unknown (settled from the ledger), hence the generous error budget.
 */
async function assertVerifyPasses(history: string, db: string, sku: string): Promise<void> {
  const run = await runCli(['verify', '--history', history, '--db', db, '--sku', sku, '--max-errors', String(BUYERS)]);
  assert.equal(run.code, 0, `verify after the kill:\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /verdict: PASS/);
}

for (const db of DATABASES) {
  describe(`attack: the reference server dies mid-run (${db.name})`, { skip: db.skip }, () => {
    const servers: { stop(signal?: NodeJS.Signals): Promise<CliRun> }[] = [];
    after(async () => {
      for (const server of servers) await server.stop('SIGKILL');
    });

    for (const { workers, processes } of [
      { workers: 1, processes: 1 },
      { workers: 4, processes: 3 },
    ]) {
      test(`kill -9 of serve --workers ${workers}, attack --processes ${processes}; verify still passes the server`, async () => {
        const url = db.url();
        const sku = uniqueSku('lost');
        const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK), '--workers', String(workers)]);
        servers.push(server);
        const history = join(scratch, `kill-${db.name}-${workers}.jsonl`);
        const attack = startAttack(['--target', `${server.url}/buy`, '--buyers', String(BUYERS), '--concurrency', '24', '--processes', String(processes), '--timeout', '2s', '--history', history]);
        await untilSold(server.url, BEFORE_KILL);
        const pids = [server.child.pid!, ...childrenOf(server.child.pid!)];
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        assertSurvived(await attack.done, history, BUYERS);
        await assertVerifyPasses(history, url, sku);
      });
    }

    test('SIGTERM of serve: a graceful shutdown mid-run; verify still passes the server', async () => {
      const url = db.url();
      const sku = uniqueSku('lost');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK)]);
      servers.push(server);
      const history = join(scratch, `sigterm-${db.name}.jsonl`);
      const attack = startAttack(['--target', `${server.url}/buy`, '--buyers', String(BUYERS), '--concurrency', '24', '--processes', '2', '--timeout', '2s', '--history', history]);
      await untilSold(server.url, BEFORE_KILL);
      await server.stop('SIGTERM');
      assertSurvived(await attack.done, history, BUYERS);
      await assertVerifyPasses(history, url, sku);
    });
  });
}

describe('attack: a plain node:http server killed after 300 answers', () => {
  // Not ours, no inventory to poll: it kills itself, so the kill lands
  // exactly after its 300th answer, whatever the speed of the machine.
  const SCRIPT = `
    const { createServer } = require('node:http');
    let answered = 0;
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        answered += 1;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ success: true, remaining_stock: ${STOCK} - answered }));
        if (answered === ${BEFORE_KILL}) process.kill(process.pid, 'SIGKILL');
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

  for (const processes of [1, 2]) {
    test(`attack --processes ${processes}`, async () => {
      const server = spawn(process.execPath, ['-e', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
      after(() => server.kill('SIGKILL'));
      const [chunk] = (await once(server.stdout!, 'data')) as [Buffer];
      const port = Number(chunk.toString().trim());
      const history = join(scratch, `plain-${processes}.jsonl`);
      const buyers = 3000;
      const run = await startAttack(['--target', `http://127.0.0.1:${port}/buy`, '--buyers', String(buyers), '--concurrency', '16', '--processes', String(processes), '--timeout', '2s', '--history', history]).done;
      const { ops } = assertSurvived(run, history, buyers);
      assert.equal(ops.filter((op) => op.outcome === 'bought').length, BEFORE_KILL, 'exactly the answers it gave');
    });
  }
});

describe('attack: a target that is not there from the start', () => {
  test('one line, exit 2, no history written', async () => {
    const server = spawn(process.execPath, ['-e', `const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = (await once(server.stdout!, 'data')) as [Buffer];
    await once(server, 'close');
    const history = join(scratch, 'never.jsonl');
    const run = await runCli(['attack', '--target', `http://127.0.0.1:${Number(chunk.toString().trim())}/buy`, '--buyers', '50', '--history', history]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^flashsale: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.equal(existsSync(history), false, 'no history for a run that never started');
  });
});
