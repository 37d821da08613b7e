// A graceful SIGTERM of serve mid-stampede cut one request per kept-alive
// connection: the in-flight purchase was answered, the client (keep-alive)
// wrote its next request onto the same socket, and the server, now closing,
// destroyed that socket unread: ECONNRESET, an unknown outcome for a request
// that was surely never processed (24 of them with --concurrency 24, each one
// charged to verify's E1). An answer given while stopping must say
// `Connection: close`, so the client's next request goes to a new connection
// and is refused at connect: surely not sent.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, startServe } from './helpers/cli.js';
import { freshSqliteUrl } from './helpers/databases.js';
import { Client } from './helpers/http.js';

test('SIGTERM: an in-flight purchase is answered with Connection: close', async () => {
  const server = await startServe(['--db', freshSqliteUrl(), '--stock', '10']);
  try {
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    const body = JSON.stringify({ buyer_id: 'b-1' });
    // Headers and half the body: the request is in flight, the server waits for the rest.
    socket.write(`POST /buy HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body.slice(0, 5)}`);
    await sleep(200);
    server.child.kill('SIGTERM');
    for (let attempt = 0; attempt < 250 && !server.output().stderr.includes('SIGTERM'); attempt++) await sleep(20);
    assert.match(server.output().stderr, /SIGTERM/, 'the server heard the signal');
    socket.write(body.slice(5));
    const closed = once(socket, 'close');
    await Promise.race([closed, sleep(15_000)]);
    assert.match(received, /^HTTP\/1\.1 200 /, `the in-flight purchase is answered:\n${received}`);
    assert.match(received, /\r\nconnection: close\r\n/i, `and the client is told not to reuse the connection:\n${received}`);
    socket.destroy();
    // The first SIGTERM is enough: wait for it to stop by itself (bounded).
    for (let attempt = 0; attempt < 750 && server.child.exitCode === null; attempt++) await sleep(20);
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
  } finally {
    await server.stop('SIGKILL');
  }
});

// The same, end to end: a closed-model stampede kept 24 requests on 24
// kept-alive connections; at SIGTERM, those whose next request was still
// unread in the kernel's buffer were cut as "idle" (ECONNRESET, other side
// closed): 24 unknown outcomes and an E1 FAIL for a server that shut down
// cleanly. Now every request is answered, or refused at connect.
test('SIGTERM mid-stampede: every request is answered or refused at connect, verify PASS', async () => {
  const url = freshSqliteUrl();
  const server = await startServe(['--db', url, '--stock', '1000000']);
  const history = join(mkdtempSync(join(tmpdir(), 'flashsale-shutdown-')), 'h.jsonl');
  try {
    const attack = runCli(['attack', '--target', `${server.url}/buy`, '--buyers', '20000', '--concurrency', '24', '--processes', '2', '--timeout', '2s', '--history', history, '--json'], { env: { CI: 'true' }, timeoutMs: 120_000 });
    const client = new Client(server.url, 1);
    for (let attempt = 0; attempt < 1500; attempt++) {
      const answer = await client.inventory().catch(() => undefined);
      if (answer && answer.body.initial_stock - answer.body.current_stock >= 300) break;
      await sleep(20);
    }
    await client.close();
    server.child.kill('SIGTERM');
    const run = await attack;
    assert.equal(run.code, 2, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.ok(summary.outcomes.bought >= 300, run.stdout);
    assert.equal(summary.types.info, 0, `no unknown outcome after a graceful shutdown:\n${run.stdout}`);
    for (let attempt = 0; attempt < 750 && server.child.exitCode === null; attempt++) await sleep(20);
    const verify = await runCli(['verify', '--history', history, '--db', url]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  } finally {
    await server.stop('SIGKILL');
  }
});
