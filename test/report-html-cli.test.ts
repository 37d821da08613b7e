// verify --html through bin/, without a browser: the file is written beside
// the verdict, is self-contained, and a path that cannot be written is one
// line and exit 2, as for --junit.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatEndLine, formatFaultLine, formatMetaLine, formatOpLine } from '../src/history/writer.js';
import { runCli } from './helpers/cli.js';

describe('verify --html', () => {
  let dir: string;
  let history: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flashsale-report-html-cli-'));
    history = join(dir, 'lost-update.jsonl');
    const base = 1_000_000_000n;
    const meta = formatMetaLine({
      kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/buy', buyers: 3, started_at: new Date(0).toISOString(),
      method: 'POST', quantity: 1, processes: 1, concurrency: 3, rate: null, seed: 1, run_id: 'run', host_id: 'test/boot', ready_at: base, released_at: base,
    });
    // Two buyers told the same remaining: a lost update (H2).
    const op = (i: number, remaining: number) =>
      formatOpLine({
        kind: 'op', process: 0, buyer: `b-${i}`, request_id: `run-${i}`, type: 'ok', outcome: 'bought', t_inv: base + BigInt(i) * 1000n,
        t_cmp: base + 5_000_000n + BigInt(i) * 1000n, status: 200, remaining, purchase_id: String(i + 1), error: null,
      });
    const fault = formatFaultLine({ kind: 'fault', name: 'pause', detail: 'server stopped', t_start: base + 1_000_000n, t_end: base + 2_000_000n, error: null });
    await writeFile(history, meta + op(0, 9) + fault + op(1, 9) + op(2, 8) + formatEndLine({ kind: 'end', planned: 3, recorded: 3, reason: 'done' }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('writes one self-contained page with the failing check, its witnesses and the fault', async () => {
    const file = join(dir, 'report.html');
    const run = await runCli(['verify', '--history', history, '--initial-stock', '10', '--history-only', '--html', file]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /H2 duplicate-remaining +│ FAIL/);
    const html = await readFile(file, 'utf8');
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'nothing is loaded from elsewhere');
    assert.ok(html.includes('uPlot'), 'the chart library is inlined');
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1]!);
    const [section] = data.sections;
    assert.equal(section.status, 'FAIL');
    const h2 = section.checks.find((check: { id: string }) => check.id === 'H2');
    assert.equal(h2.status, 'FAIL');
    const linked = h2.witnesses[0].operations.map((operation: { op: number }) => section.timeline.ops.line[operation.op]);
    assert.deepEqual(linked.sort(), [2, 4], 'the witnesses link the two op lines that were told 9');
    assert.deepEqual(section.faults, [{ name: 'pause', detail: 'server stopped', error: null, startMs: 1, endMs: 2 }]);
  });

  test('a path that cannot be written is one line and exit 2', async () => {
    const run = await runCli(['verify', '--history', history, '--initial-stock', '10', '--history-only', '--html', join(dir, 'missing', 'report.html')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot write the HTML report .*report\.html: ENOENT/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  });

  test('prove checks the report path before it runs a scenario', async () => {
    // It used to run every scenario (minutes with several databases) and then fail on the
    // path, printing no table at all.
    const run = await runCli(['prove', '--stock', '5', '--html', join(dir, 'missing', 'prove.html')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot write the HTML report .*prove\.html: ENOENT/);
    assert.doesNotMatch(run.stderr, /flashsale prove: .*: (PASS|FAIL)/, 'no scenario ran');
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  });
});
