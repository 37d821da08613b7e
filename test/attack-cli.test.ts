// `flashsale attack` as a user meets it: exit codes and one-line messages for
// mistakes, terminal manners, and Ctrl-C keeping what was written.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHistory } from '../src/history/reader.js';
import type { OpRecord } from '../src/history/types.js';
import { assertOneLineError, runCli, spawnCli } from './helpers/cli.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-cli-'));

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}


describe('attack: usage and configuration errors exit 2 with one line', () => {
  let server: Server;
  let target: string;
  let requests = 0;

  before(async () => {
    server = createServer((request, response) => {
      requests += 1;
      request.resume();
      response.writeHead(410).end('{"remaining_stock":0}');
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('a target that refuses every connection', async () => {
    const port = await closedPort();
    const history = join(scratch, 'refused.jsonl');
    const run = await runCli(['attack', '--target', `http://127.0.0.1:${port}/buy`, '--buyers', '10', '--history', history]);
    assertOneLineError(run, /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
  });

  test('a target that stops listening after the preflight: every connection fails, nothing is written', async () => {
    // Accepts one connection (the preflight's), then stops listening.
    const oneShot = createNetServer((socket) => {
      socket.destroy();
      oneShot.close();
    });
    oneShot.listen(0, '127.0.0.1');
    await once(oneShot, 'listening');
    const history = join(scratch, 'kept.jsonl');
    writeFileSync(history, 'an earlier run\n');
    const run = await runCli(['attack', '--target', `http://127.0.0.1:${(oneShot.address() as AddressInfo).port}/buy`, '--buyers', '10', '--history', history]);
    assertOneLineError(run, /cannot connect to http:\/\/127\.0\.0\.1:\d+: every one of 10 connections failed \(ECONNREFUSED\)/);
    assert.equal(readFileSync(history, 'utf8'), 'an earlier run\n', 'an earlier history is left alone');
  });

  test('an unwritable history file, before any request is sent', async () => {
    const before = requests;
    const run = await runCli(['attack', '--target', target, '--buyers', '10', '--history', join(scratch, 'no-such-folder', 'h.jsonl')]);
    assertOneLineError(run, /cannot write the history file .*no-such-folder.*its folder does not exist/);
    assert.equal(requests, before, 'nothing was bought');
  });

  test('bad flags and bad combinations', async () => {
    const cases: [string[], RegExp][] = [
      [['--buyers', '0'], /--buyers/],
      [['--buyers', 'many'], /--buyers/],
      [['--timeout', 'soon'], /--timeout/],
      [['--ok-status', '200,abc'], /--ok-status/],
      [['--target', 'not a url'], /--target/],
      [['--target', 'ftp://127.0.0.1/buy'], /http:\/\/ or https:\/\//],
      [['--duration', '5s'], /--duration needs --rate/],
      [['--rate', '10', '--duration', '1s', '--buyers', '5'], /--buyers or --duration, not both/],
      [['--body', '{"x":"{{nope}}"}'], /unknown placeholder \{\{nope\}\}/],
      [['--header', 'no colon here'], /--header/],
      [['--ok-body', '(unclosed'], /--ok-body: not a regular expression/],
      [['--ok-status', '200', '--sold-out-status', '200'], /both --ok-status and --sold-out-status/],
    ];
    for (const [flags, pattern] of cases) {
      const run = await runCli(['attack', '--target', target, '--history', join(scratch, 'flags.jsonl'), ...flags]);
      assertOneLineError(run, pattern);
    }
  });
});

describe('attack: terminal manners', () => {
  let server: Server;
  let target: string;

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"remaining_stock":5,"purchase_id":1}');
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('without a terminal: a table on stdout, plain lines (no escape codes) on stderr', async () => {
    const run = await runCli(['attack', '--target', target, '--buyers', '50', '--history', join(scratch, 'plain.jsonl')], { env: { CI: 'true' } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /bought\s+│ ok\s+│\s+50 │/);
    assert.match(run.stdout, /latency ms: min/);
    assert.doesNotMatch(run.stdout + run.stderr, /\u001b\[/, 'no ANSI escape codes without a terminal');
    assert.ok(run.stderr.trim().split('\n').length <= 2, run.stderr);
  });

  test('one buyer in one process reads as English: "1 buyer", "1 process", "1 operation"', async () => {
    const run = await runCli(['attack', '--target', target, '--buyers', '1', '--processes', '1', '--history', join(scratch, 'one.jsonl')], { env: { CI: 'true' } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ {2}1 buyer, closed model, 1 in flight at most, 1 process$/m);
    assert.match(run.stdout, /\(1 operation, end: done\)/);
    assert.doesNotMatch(run.stdout, /\b1 (buyers|processes|operations)\b/);
    const two = await runCli(['attack', '--target', target, '--buyers', '2', '--processes', '2', '--history', join(scratch, 'two.jsonl')], { env: { CI: 'true' } });
    assert.match(two.stdout, /^ {2}2 buyers, closed model, 2 in flight at most, 2 processes$/m);
  });
});

describe('attack: Ctrl-C', () => {
  let server: Server;
  let target: string;
  const hanging: ServerResponse[] = [];
  let served = 0;

  before(async () => {
    // The first 20 requests are answered; every later one hangs, as a server
    // stuck on a lock would.
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        served += 1;
        if (served <= 20) response.writeHead(200, { 'content-type': 'application/json' }).end(`{"remaining_stock":${1000 - served}}`);
        else hanging.push(response);
      });
    });
    target = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  test('stops every child, keeps the history written so far, prints the partial summary', async () => {
    const history = join(scratch, 'interrupted.jsonl');
    writeFileSync(history, 'old content\n');
    const attack = spawnCli(['attack', '--target', target, '--buyers', '100', '--concurrency', '10', '--processes', '2', '--timeout', '30s', '--history', history, '--json'], {
      env: { CI: 'true' },
      timeoutMs: 30_000,
    });

    // Wait until the server holds ten requests it will never answer.
    const deadline = Date.now() + 15_000;
    while (hanging.length < 10 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(hanging.length, 10, `the attack did not get stuck as planned: ${attack.output().stderr}`);
    attack.child.kill('SIGINT');
    const { code, stdout, stderr } = await attack.done;

    assert.equal(code, 130, stderr);
    const summary = JSON.parse(stdout);
    assert.equal(summary.interrupted, true);
    assert.equal(summary.outcomes.bought, 20);
    // The ten requests in flight were sent, so their effect is unknown: info, never dropped.
    assert.equal(summary.outcomes.timeout, 10);
    assert.equal(summary.types.info, 10);
    assert.equal(summary.sent, 30);
    assert.equal(summary.completed, 30);

    const { meta, ops } = await openHistory(history);
    assert.equal(meta.buyers, 100);
    const written: OpRecord[] = [];
    for await (const op of ops) written.push(op);
    assert.equal(written.length, 30);
    assert.ok(written.filter((op) => op.outcome === 'timeout').every((op) => op.type === 'info' && /interrupted/.test(op.error!)));
    assert.doesNotMatch(readFileSync(history, 'utf8'), /old content/);
  });
});
