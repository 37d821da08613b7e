// Targets with another API shape, driven only by flags: a body template, a
// header, another method and path, status mapping, a dotted remaining field,
// and a server that answers 200 to everything with the verdict in the body.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHistory } from '../src/history/reader.js';
import type { OpRecord } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-foreign-'));
const STOCK = 7;
const BUYERS = 30;

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function opsOf(path: string): Promise<OpRecord[]> {
  const { ops } = await openHistory(path);
  const all: OpRecord[] = [];
  for await (const op of ops) all.push(op);
  return all;
}

/** A server with its own shape; `answer` decides status and body from the stock left. */
async function shop(answer: (left: number, seen: Seen) => { status: number; body: unknown }): Promise<{ server: Server; origin: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  let left = STOCK;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const record = { method: request.method!, url: request.url!, headers: request.headers, body };
      seen.push(record);
      const before = left;
      if (left > 0) left -= 1;
      const { status, body: payload } = answer(before, record);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('attack: a foreign target', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });

  describe('PUT /api/v2/orders, 201 on success, 422 when sold out, remaining at order.left', () => {
    let shopped: Awaited<ReturnType<typeof shop>>;
    before(async () => {
      shopped = await shop((left) =>
        left > 0 ? { status: 201, body: { order: { number: `ord-${left}`, left: left - 1 } } } : { status: 422, body: { reason: 'none left' } },
      );
      servers.push(shopped.server);
    });

    test('templates reach the server and answers are classified by the given rules', async () => {
      const history = join(scratch, 'orders.jsonl');
      const run = await runCli([
        'attack', '--target', `${shopped.origin}/api/v2/orders?channel=flash`, '--method', 'PUT', '--buyers', String(BUYERS),
        '--body', '{"customer":"{{buyer}}","ref":"{{request_id}}","n":{{i}},"units":{{quantity}}}',
        '--header', 'X-Request-Ref: {{request_id}}', '--header', 'Authorization: Bearer s3cret',
        '--ok-status', '201', '--sold-out-status', '422', '--remaining-field', 'order.left', '--purchase-id-field', 'order.number',
        '--history', history, '--json',
      ], { env: { CI: 'true' } });
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.outcomes.bought, STOCK);
      assert.equal(summary.outcomes.sold_out, BUYERS - STOCK);
      assert.equal(summary.method, 'PUT');

      assert.equal(shopped.seen.length, BUYERS);
      for (const request of shopped.seen) {
        assert.equal(request.method, 'PUT');
        assert.equal(request.url, '/api/v2/orders?channel=flash');
        const body = JSON.parse(request.body);
        assert.equal(body.customer, `b-${body.n}`);
        assert.equal(body.units, 1);
        assert.equal(request.headers['x-request-ref'], body.ref);
        assert.equal(request.headers['idempotency-key'], body.ref, 'every request carries its request id as Idempotency-Key');
        assert.equal(request.headers.authorization, 'Bearer s3cret');
        assert.equal(request.headers['content-type'], 'application/json');
      }

      const ops = await opsOf(history);
      const oks = ops.filter((op) => op.type === 'ok');
      assert.deepEqual(oks.map((op) => op.remaining).sort(), [0, 1, 2, 3, 4, 5, 6]);
      assert.deepEqual(oks.map((op) => op.purchase_id).sort(), ['ord-1', 'ord-2', 'ord-3', 'ord-4', 'ord-5', 'ord-6', 'ord-7']);
      assert.ok(ops.filter((op) => op.type === 'fail').every((op) => op.outcome === 'sold_out' && op.status === 422));
      // The request ids in the history are the ones the server saw.
      assert.deepEqual(new Set(ops.map((op) => op.request_id)), new Set(shopped.seen.map((request) => JSON.parse(request.body).ref)));
    });
  });

  describe('200 to everything, verdict in the body', () => {
    let shopped: Awaited<ReturnType<typeof shop>>;
    before(async () => {
      shopped = await shop((left) => ({
        status: 200,
        body: left > 0 ? { result: 'CONFIRMED', stock: String(left - 1) } : { result: 'SOLD_OUT' },
      }));
      servers.push(shopped.server);
    });

    test('--ok-body and --sold-out-body tell them apart', async () => {
      const history = join(scratch, 'body-verdict.jsonl');
      const run = await runCli([
        'attack', '--target', `${shopped.origin}/buy_ticket`, '--buyers', String(BUYERS), '--processes', '2',
        '--ok-body', '"result":"CONFIRMED"', '--sold-out-body', 'SOLD_OUT', '--remaining-field', 'stock', '--purchase-id-field', '',
        '--history', history, '--json',
      ], { env: { CI: 'true' } });
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.deepEqual(summary.types, { ok: STOCK, fail: BUYERS - STOCK, info: 0 });
      const ops = await opsOf(history);
      assert.deepEqual(ops.filter((op) => op.type === 'ok').map((op) => op.remaining).sort(), [0, 1, 2, 3, 4, 5, 6]);
      assert.ok(ops.every((op) => op.status === 200 && op.purchase_id === null));
      // The default body is the reference server's purchase.
      assert.deepEqual(Object.keys(JSON.parse(shopped.seen[0]!.body)), ['buyer_id', 'quantity']);
    });
  });
});
