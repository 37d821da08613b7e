// GET /metrics on `serve --workers 2`, on every database: the text parses as
// Prometheus exposition, the purchase counters add up to the purchases made
// (across both workers, whichever one a scrape reaches), the inventory gauge
// is the database's stock, and the duration histogram counted every request.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import { openAdapter } from '../adapters/open.js';
import { prepareStore } from '../adapters/store.js';
import { AdmissionGate } from '../reference-server/admission.js';
import { ServerMetrics, type MeteredRoute } from '../reference-server/metrics.js';
import { startServe } from './helpers/cli.js';
import { DATABASES, freshSqliteUrl, uniqueSku } from './helpers/databases.js';
import { Client } from './helpers/http.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';
import { readState } from './helpers/store.js';

const STOCK = 50;
const BUYERS = 60;
/** Scraped before the rest buy, to see the gauge follow the stock. */
const FIRST_WAVE = 30;

/** One sample of the text format: `name{label="value",…} number`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format strictly: every line is a comment, a sample, or empty; every sample's family has HELP and TYPE. */
function parseExposition(text: string): Sample[] {
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') typed.set(comment[2]!, comment[3]!);
      else helped.add(comment[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|(?:NaN|[+-]Inf))$/i.exec(line);
    assert.ok(sample, `not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    const name = sample[1]!;
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(family) && helped.has(family), `${name} has no HELP/TYPE`);
    // Prometheus reads NaN and Inf in any case (Go's ParseFloat); prom-client writes `Nan`.
    const value = /^nan$/i.test(sample[3]!) ? NaN : /inf$/i.test(sample[3]!) ? (sample[3]!.startsWith('-') ? -Infinity : Infinity) : Number(sample[3]);
    samples.push({ name, labels, value });
  }
  return samples;
}

const sum = (samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true) =>
  samples.filter((sample) => sample.name === name && where(sample.labels)).reduce((total, sample) => total + sample.value, 0);

/** Scrapes over a fresh connection each time, so the cluster hands successive scrapes to different workers. */
async function scrape(origin: string): Promise<Sample[]> {
  const client = new Client(origin, 1);
  try {
    const answer = await client.call({ path: '/metrics' });
    assert.equal(answer.status, 200, answer.text);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parseExposition(answer.text);
  } finally {
    await client.close();
  }
}

for (const db of DATABASES) {
  describe(`GET /metrics with --workers 2 on ${db.name}`, { skip: db.skip }, () => {
    test('counters sum to the purchases made, the gauge is the stock, the histogram counted every request', async () => {
      const url = db.url();
      const sku = uniqueSku('metrics');
      const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK), '--workers', '2']);
      const client = new Client(server.url, 16);
      try {
        const buy = (i: number, key: string = randomUUID()) => client.buy({ buyer_id: `b-${i}`, sku }, { 'idempotency-key': key });
        const first = await Promise.all(Array.from({ length: FIRST_WAVE }, (_, i) => buy(i)));
        assert.ok(first.every((answer) => answer.status === 200));
        const midway = await scrape(server.url);
        assert.equal(sum(midway, 'flashsale_inventory_available', (labels) => labels.sku === sku), (await readState(url, sku)).inventory.current_stock);
        assert.equal(sum(midway, 'flashsale_inventory_available'), STOCK - FIRST_WAVE);

        const rest = await Promise.all(Array.from({ length: BUYERS - FIRST_WAVE }, (_, i) => buy(FIRST_WAVE + i)));
        // Two replays of a bought request (sell nothing new), and one invalid body.
        const replayKey = first[0]!.body.request_id as string;
        const replays = await Promise.all([buy(0, replayKey), buy(0, replayKey)]);
        assert.deepEqual(replays.map((answer) => answer.headers['idempotent-replayed']), ['true', 'true']);
        assert.equal((await client.buy({ quantity: -1, sku })).status, 400);
        const purchases = BUYERS + replays.length + 1;
        const sold = [...first, ...rest].filter((answer) => answer.status === 200).length;
        assert.equal(sold, STOCK);

        const state = await readState(url, sku);
        // Three scrapes, each on a new connection: whichever worker answers, the totals are the same.
        for (let round = 0; round < 3; round++) {
          const samples = await scrape(server.url);
          assert.equal(sum(samples, 'flashsale_workers'), 2);
          const outcome = (name: string) => sum(samples, 'flashsale_purchases_total', (labels) => labels.outcome === name);
          assert.equal(sum(samples, 'flashsale_purchases_total'), purchases);
          assert.deepEqual(
            { bought: outcome('bought'), sold_out: outcome('sold_out'), replayed: outcome('replayed'), rejected: outcome('rejected') },
            { bought: state.ledger.length, sold_out: BUYERS - STOCK, replayed: 2, rejected: 1 },
          );
          assert.equal(sum(samples, 'flashsale_inventory_available', (labels) => labels.sku === sku), state.inventory.current_stock);
          const buyRequests = (labels: Record<string, string>) => labels.route === '/buy';
          assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_count', buyRequests), purchases);
          assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_bucket', (labels) => buyRequests(labels) && labels.le === '+Inf'), purchases);
          assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_count', (labels) => buyRequests(labels) && labels.status === '410'), BUYERS - STOCK);
          // Earlier scrapes were counted too: the midway one, and this loop's previous rounds.
          assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_count', (labels) => labels.route === '/metrics'), 1 + round);
          assert.equal(sum(samples, 'flashsale_pool_queue_length'), 0);
          assert.equal(sum(samples, 'flashsale_pool_in_use'), 0);
          assert.ok(sum(samples, 'flashsale_pool_slots') > 0);
        }
      } finally {
        await client.close();
        await server.stop();
      }
    });
  });
}

describe('one process: how each answer is counted', () => {
  const purchase: MeteredRoute = { path: '/buy', purchase: true };
  let server: Server;
  let origin: string;
  let metrics: ServerMetrics;
  const gate = new AdmissionGate(1, 10, 5000);
  let closeAdapter: () => Promise<void>;

  before(async () => {
    const adapter = await openAdapter({ url: freshSqliteUrl() });
    closeAdapter = () => adapter.close();
    await prepareStore(adapter, { sku: 'M', itemName: 'metered', stock: 7 });
    metrics = new ServerMetrics({ adapter, sku: 'M', admission: gate });
    // A real server whose answers play each part by path, as the reference server sets its headers.
    server = createServer((request, response) => {
      const startedAt = performance.now();
      const part = request.url!.slice(1);
      if (part === 'hang-up') {
        request.socket.destroy();
        setImmediate(() => metrics.answered(purchase, response, startedAt));
        return;
      }
      if (part === 'metrics') return void metrics.handler(request, response).then(() => metrics.answered(undefined, response, startedAt));
      const [status, header] = ({
        bought: [200],
        replayed: [200, 'idempotent-replayed'],
        sold_out: [410],
        refused_503: [503, 'retry-after'],
        refused_429: [429],
        rejected: [400],
        http_5xx: [503],
      } as Record<string, [number, string?]>)[part]!;
      if (header) response.setHeader(header, header === 'retry-after' ? '1' : 'true');
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end('{}');
      metrics.answered(purchase, response, startedAt);
    });
    origin = (await listenOnLoopback(server, '')).replace(/\/$/, '');
  });
  after(async () => {
    closeNow(server);
    await closeAdapter();
  });

  const get = (path: string) =>
    new Promise<string>((resolve) => {
      const call = httpRequest(`${origin}/${path}`, { agent: false }, (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve(text));
      });
      call.on('error', () => resolve(''));
      call.end();
    });

  test('outcomes by status and headers; pool waits from the admission gate; the gauge from the database', async () => {
    for (const part of ['bought', 'bought', 'replayed', 'sold_out', 'refused_503', 'refused_429', 'rejected', 'http_5xx', 'hang-up']) await get(part);
    // One purchase holds the only slot while another waits for it, then gets it.
    await gate.enter();
    const waiting = gate.enter();
    const midWait = parseExposition(await get('metrics'));
    assert.equal(sum(midWait, 'flashsale_pool_in_use'), 1);
    assert.equal(sum(midWait, 'flashsale_pool_queue_length'), 1);
    gate.leave();
    await waiting;
    gate.leave();

    const samples = parseExposition(await get('metrics'));
    const outcome = (name: string) => sum(samples, 'flashsale_purchases_total', (labels) => labels.outcome === name);
    assert.deepEqual(
      ['bought', 'replayed', 'sold_out', 'refused', 'rejected', 'http_5xx', 'aborted'].map(outcome),
      [2, 1, 1, 2, 1, 1, 1],
    );
    assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_count', (labels) => labels.route === '/buy' && labels.status === 'aborted'), 1);
    assert.equal(sum(samples, 'flashsale_http_request_duration_seconds_count', (labels) => labels.route === 'unmatched'), 1);
    assert.equal(sum(samples, 'flashsale_pool_waits_total'), 1);
    assert.equal(sum(samples, 'flashsale_pool_queue_length'), 0);
    assert.equal(sum(samples, 'flashsale_pool_in_use'), 0);
    assert.equal(sum(samples, 'flashsale_inventory_available', (labels) => labels.sku === 'M'), 7);
    assert.equal(sum(samples, 'flashsale_workers'), 1);
  });
});
