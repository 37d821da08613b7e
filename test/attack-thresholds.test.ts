// `attack --threshold`: the grammar (what it takes, what it refuses, in one
// line), the evaluation against exact figures, and the real bin/ against a
// local server whose answers are known: a crossed threshold exits 99 with
// the history whole, a met one exits 0, a bad one exits 2 before any request.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newHistogram } from '../src/attack/histogram.js';
import { evaluateThresholds, parseThreshold, type ThresholdFigures } from '../src/attack/thresholds.js';
import type { AttackSummary } from '../src/attack/summary.js';
import { OUTCOMES, type Outcome } from '../src/history/types.js';
import { runCli } from './helpers/cli.js';
import { historyLines, opLines } from './helpers/history-lines.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-thresholds-'));

describe('threshold grammar', () => {
  const GOOD: [string, Record<string, unknown>][] = [
    ['p95<200ms', { kind: 'latency', statistic: 95, op: '<', limit: 200_000 }],
    ['p(95)<200', { kind: 'latency', statistic: 95, op: '<', limit: 200_000 }],
    ['p99.9 <= 1.5s', { kind: 'latency', statistic: 99.9, op: '<=', limit: 1_500_000 }],
    ['P50>250us', { kind: 'latency', statistic: 50, op: '>', limit: 250 }],
    ['max<1.1s', { kind: 'latency', statistic: 'max', op: '<', limit: 1_100_000 }],
    ['min>=0ms', { kind: 'latency', statistic: 'min', op: '>=', limit: 0 }],
    ['avg<10ms', { kind: 'latency', statistic: 'avg', op: '<', limit: 10_000 }],
    ['med<10ms', { kind: 'latency', statistic: 50, op: '<', limit: 10_000 }],
    ['rate>=500', { kind: 'rate', op: '>=', limit: 500 }],
    ['rate > 2.5/s', { kind: 'rate', op: '>', limit: 2.5 }],
    ['refused<1%', { kind: 'share', outcome: 'refused', op: '<', limit: 1 }],
    ['sold_out==0', { kind: 'count', outcome: 'sold_out', op: '==', limit: 0 }],
    ['bought>=100', { kind: 'count', outcome: 'bought', op: '>=', limit: 100 }],
    ['errors<=0.5%', { kind: 'share', outcome: 'info', op: '<=', limit: 0.5 }],
    ['fail<10%', { kind: 'share', outcome: 'fail', op: '<', limit: 10 }],
    ['timeout==0', { kind: 'count', outcome: 'timeout', op: '==', limit: 0 }],
  ];
  for (const [text, expected] of GOOD) {
    test(`takes ${text}`, () => {
      const threshold = parseThreshold(text);
      assert.equal(threshold.text, text);
      for (const [key, value] of Object.entries(expected)) assert.equal((threshold as Record<string, unknown>)[key], value, `${text}: ${key}`);
    });
  }

  const BAD: [string, RegExp][] = [
    ['', /expected METRIC OP VALUE/],
    ['p95', /expected METRIC OP VALUE/],
    ['<200ms', /expected METRIC OP VALUE/],
    ['p95=200ms', /expected METRIC OP VALUE/],
    ['p95!=200ms', /expected METRIC OP VALUE/],
    ['p95<', /expected a number after </],
    ['p95<fast', /expected a number/],
    ['p95<-1ms', /expected a number/],
    ['p95<200%', /p95 is a latency/],
    ['p95<200m', /p95 is a latency/],
    ['p0<1ms', /above 0 and at most 100/],
    ['p101<1ms', /above 0 and at most 100/],
    ['rate>=5ms', /rate is requests per second/],
    ['refused<1ms', /share such as 1% or a whole count/],
    ['refused<1.5', /share such as 1% or a whole count/],
    ['refused<101%', /at most 100%/],
    ['latency<200ms', /unknown metric "latency"/],
  ];
  for (const [text, why] of BAD) {
    test(`refuses ${JSON.stringify(text)} in one line`, () => {
      assert.throws(
        () => parseThreshold(text),
        (error: Error) => error.name === 'ConfigError' && why.test(error.message) && !error.message.includes('\n'),
      );
    });
  }
});

describe('threshold evaluation', () => {
  /** 1000 operations: 930 bought, 70 refused; latencies 1 µs … 1000 µs, one each. */
  function figures(completed = 1000): ThresholdFigures {
    const outcomes = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>;
    const latency = newHistogram();
    if (completed > 0) {
      outcomes.bought = 930;
      outcomes.refused = 70;
      for (let us = 1; us <= 1000; us++) latency.recordValue(us);
    }
    const summary: ThresholdFigures['summary'] = { completed, outcomes, types: { ok: outcomes.bought, fail: outcomes.refused, info: 0 }, requests_per_second: completed > 0 ? 500 : 0 };
    return { summary: summary as AttackSummary, latency };
  }
  const verdicts = (texts: string[], measured = figures()) => evaluateThresholds(texts.map(parseThreshold), measured).map((result) => result.passed);

  test('latency percentiles from the histogram, compared in whole microseconds', () => {
    assert.deepEqual(verdicts(['p95<=0.95ms', 'p95<0.95ms', 'p95<=950us', 'p99.9<=999us', 'max==1ms', 'min==0.001ms', 'avg<=0.501ms', 'avg<0.5ms']), [true, false, true, true, true, true, true, false]);
    const [result] = evaluateThresholds([parseThreshold('p95<200ms')], figures());
    assert.deepEqual(result, { threshold: 'p95<200ms', observed: 0.95, limit: 200, unit: 'ms', passed: true });
  });

  test('rate, counts and shares; a share equal to its limit is exactly equal', () => {
    assert.deepEqual(verdicts(['rate>=500', 'rate>500', 'refused<=7%', 'refused<7%', 'refused==70', 'fail==7%', 'errors==0', 'errors<0.1%', 'bought>=93%', 'ok>930']), [true, false, true, false, true, true, true, true, true, false]);
  });

  test('nothing measured: every threshold is crossed, never passed by default', () => {
    const results = evaluateThresholds(['p95<1s', 'rate>=0', 'refused<100%'].map(parseThreshold), figures(0));
    assert.deepEqual(results.map((result) => [result.observed, result.passed]), [[null, false], [null, false], [null, false]]);
  });
});

describe('attack --threshold through bin/', () => {
  const BUYERS = 100;
  /** Every tenth buyer is refused with 429; the rest buy. */
  const REFUSED_EVERY = 10;
  let server: Server;
  let target: string;
  let requests = 0;

  before(async () => {
    server = createServer((request, response) => {
      requests++;
      let text = '';
      request.on('data', (chunk) => (text += chunk));
      request.on('end', () => {
        const i = (JSON.parse(text) as { i: number }).i;
        const refused = i % REFUSED_EVERY === 0;
        response.writeHead(refused ? 429 : 200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(refused ? { error: 'slow down' } : { success: true, purchase_id: i, remaining_stock: 1_000_000 - i }));
      });
    });
    target = await listenOnLoopback(server);
  });
  after(() => closeNow(server));

  const attack = (history: string, thresholds: string[], extra: string[] = []) =>
    runCli(['attack', '--target', target, '--buyers', String(BUYERS), '--concurrency', '10', '--processes', '2', '--body', '{"i":{{i}}}', '--history', history, ...thresholds.flatMap((text) => ['--threshold', text]), ...extra], {
      env: { CI: 'true' },
    });

  test('a crossed threshold exits 99 after the whole history is written, and the table says which', async () => {
    const history = join(scratch, 'crossed.jsonl');
    const run = await attack(history, ['refused<5%', 'p99<60s']);
    assert.equal(run.code, 99, run.stderr);
    const lines = historyLines(history);
    assert.equal(opLines(lines).length, BUYERS);
    assert.deepEqual(lines.at(-1), { kind: 'end', planned: BUYERS, recorded: BUYERS, reason: 'done' });
    assert.match(run.stdout, /refused<5%\s*│\s*10%\s*│\s*5%\s*│ CROSSED/);
    assert.match(run.stdout, /p99<60s\s*│.*│ PASS/);
    assert.match(run.stdout, /thresholds: 1 of 2 crossed/);
  });

  test('met thresholds exit 0, and --json carries their verdicts', async () => {
    const history = join(scratch, 'met.jsonl');
    const run = await attack(history, ['refused<=10%', 'bought==90', 'errors==0', 'p99<60s', 'rate>0'], ['--json']);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as AttackSummary;
    assert.deepEqual(
      summary.thresholds!.map((result) => [result.threshold, result.passed]),
      [['refused<=10%', true], ['bought==90', true], ['errors==0', true], ['p99<60s', true], ['rate>0', true]],
    );
    assert.deepEqual(summary.thresholds![0], { threshold: 'refused<=10%', observed: 10, limit: 10, unit: '%', passed: true });
    assert.equal(historyLines(history).at(-1)!.kind, 'end');
  });

  test('a bad threshold: one line, exit 2, no request sent, no history written', async () => {
    const history = join(scratch, 'bad.jsonl');
    const before = requests;
    const run = await attack(history, ['p95<200ms', 'p95<200%']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /--threshold.*p95<200%.*p95 is a latency/);
    assert.equal(requests, before);
    assert.equal(existsSync(history), false);
  });
});
