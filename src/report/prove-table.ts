import Table from 'cli-table3';
import { fileURLToPath } from 'node:url';
import type { FaultReport } from '../prove/faults/index.js';
import type { ProveReport, ScenarioResult } from '../prove/prove.js';

/** One table for the whole proof: a row per database and scenario, then the verdict. */
export function renderProve(report: ProveReport): string {
  const table = new Table({
    head: ['database', 'scenario', 'sold', 'sold out', 'errors', 'duration', 'verdict'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const result of report.results) {
    table.push([
      result.database,
      result.scenario,
      `${result.sold}`,
      `${result.soldOut}`,
      // Where faults allowed unknown outcomes, the row shows how many of them.
      result.allowedErrors > 0 ? `${result.errors} ≤ ${result.allowedErrors}` : `${result.errors}`,
      `${result.durationS.toFixed(2)} s`,
      result.status === 'PASS' ? 'PASS' : `FAIL: ${result.anomalies.map((anomaly) => anomaly.split(' ')[0]!.match(/^[HDER]\d$/) ? anomaly.split(' ')[0] : anomaly).join(', ')}`,
    ]);
  }
  const strategy = report.strategy.startsWith('file:') ? `${fileURLToPath(report.strategy)} (your module)` : report.strategy;
  const lines = [`flashsale prove: strategy ${strategy}`, table.toString()];
  for (const result of report.results.filter((r) => r.faults.length > 0)) lines.push(...faultLines(result));
  const failed = report.results.filter((result) => result.status === 'FAIL');
  for (const result of failed) lines.push(witnessLine(result));
  if (failed.length > 0) {
    lines.push(`histories kept in ${report.workDir}; each command above prints every witness`);
    lines.push(`verdict: FAIL: ${failed.length} of ${report.results.length} scenario${report.results.length === 1 ? '' : 's'} found an anomaly`);
  } else {
    lines.push(`verdict: PASS: ${report.results.length} scenario${report.results.length === 1 ? '' : 's'}, no oversell, no undersell, every answer matches the database`);
  }
  return `${lines.join('\n')}\n`;
}

function witnessLine(result: ScenarioResult): string {
  const check = result.verdict.checks.find((c) => c.status === 'FAIL');
  const witness = check?.witnesses[0];
  const first = witness ? `${check!.id}: ${witness.message}` : result.anomalies[0];
  return `  ${result.database} / ${result.scenario}: ${first}\n    flashsale verify --history ${shellWord(result.history)} --db ${shellWord(result.databaseUrl)} --sku ${shellWord(result.sku)}`;
}

/** What each fault of a faults scenario did, and the error budget it earned. */
function faultLines(result: ScenarioResult): string[] {
  const injected = result.faults.filter((fault) => !fault.skipped).length;
  const inFlight = result.concurrency ?? result.buyers;
  return [
    `  faults, ${result.database}:`,
    ...result.faults.map((fault) => `    ${faultLine(fault, result.buyers)}`),
    `    unknown outcomes: ${result.errors}, allowed ${result.allowedErrors} (${injected} fault${injected === 1 ? '' : 's'} × ${inFlight} buyers in flight)`,
  ];
}

function faultLine(fault: FaultReport, buyers: number): string {
  if (fault.skipped) return `${fault.name}: skipped: ${fault.skipped}`;
  const when = `${fault.name} after ${Math.ceil(fault.at * buyers)} answers`;
  if (!fault.ran) return `${when}: did not run (${fault.detail})`;
  const took = fault.durationMs === null ? '' : ` (${(fault.durationMs / 1000).toFixed(2)} s)`;
  return fault.error ? `${when}: FAILED: ${fault.error}${took}` : `${when}: ${fault.detail}${took}`;
}

/** A word a shell reads back unchanged: quoted when it holds `?`, `&`, spaces… (a URL's query). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The proof as one JSON document, witnesses included. */
export function proveJson(report: ProveReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
