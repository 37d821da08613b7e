// A server that tells 5 % of its buyers "sold out" while stock remains is
// caught by prove's default scenarios: by the run whose buyers keep arriving
// while earlier ones are answered. Its strategy is a module built for this
// test (helpers/liar-strategy.ts), loaded with --strategy PATH: the reference
// server has no liar of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runCli } from './helpers/cli.js';

const LIAR = fileURLToPath(new URL('./helpers/liar-strategy.js', import.meta.url));

test('a 5 % liar is caught by the default scenarios, by the run with buyers in flight', async () => {
  const run = await runCli(['prove', '--strategy', LIAR, '--stock', '100', '--buyers', '1000', '--json'], { timeoutMs: 120_000 });
  assert.equal(run.code, 1, run.stdout + run.stderr);
  const report = JSON.parse(run.stdout) as { status: string; results: Array<{ scenario: string; status: string; anomalies: string[] }> };
  assert.equal(report.status, 'FAIL');
  const arriving = report.results.find((result) => result.scenario === '10 × stock, 10 in flight');
  assert.ok(arriving, report.results.map((result) => result.scenario).join(', '));
  assert.equal(arriving.status, 'FAIL');
  // The false refusal completed before a later buyer bought: an undersell in real time.
  assert.ok(arriving.anomalies.some((anomaly) => /^(H4|H5|D6) /.test(anomaly)), arriving.anomalies.join('; '));
});

test('the table names the module a proof ran with', async () => {
  const run = await runCli(['prove', '--strategy', LIAR, '--stock', '20', '--buyers', '40'], { timeoutMs: 120_000 });
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, new RegExp(`flashsale prove: strategy ${LIAR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(your module\\)`));
});

test('a strategy that is neither built in nor a module is one line and exit 2', async () => {
  const missing = await runCli(['prove', '--strategy', './no-such-strategy.js']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^flashsale: cannot load strategy module file:\/\/\S+\/no-such-strategy\.js: .*\n$/);
  const unknown = await runCli(['prove', '--strategy', 'liar']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown strategy "liar": use lock, atomic, optimistic, batch, unsafe, or a path to a module of your own/);
  const notAStrategy = await runCli(['prove', '--strategy', fileURLToPath(new URL('./helpers/http.js', import.meta.url))]);
  assert.equal(notAStrategy.code, 2);
  assert.match(notAStrategy.stderr, /must export a function as default/);
  const badFault = await runCli(['prove', '--faults', 'kill,explode']);
  assert.equal(badFault.code, 2);
  assert.match(badFault.stderr, /unknown fault "explode"/);
});
