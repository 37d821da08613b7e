import Table from 'cli-table3';
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
      `${result.errors}`,
      `${result.durationS.toFixed(2)} s`,
      result.status === 'PASS' ? 'PASS' : `FAIL: ${result.anomalies.map((anomaly) => anomaly.split(' ')[0]!.match(/^[HDE]\d$/) ? anomaly.split(' ')[0] : anomaly).join(', ')}`,
    ]);
  }
  const lines = [`flashsale prove: strategy ${report.strategy}`, table.toString()];
  const failed = report.results.filter((result) => result.status === 'FAIL');
  for (const result of failed) lines.push(witnessLine(result));
  if (failed.length > 0) {
    lines.push(`histories kept in ${report.workDir}; each command above prints every witness`);
    lines.push(`verdict: FAIL: ${failed.length} of ${report.results.length} scenarios found an anomaly`);
  } else {
    lines.push(`verdict: PASS: ${report.results.length} scenarios, no oversell, no undersell, every answer matches the database`);
  }
  return `${lines.join('\n')}\n`;
}

function witnessLine(result: ScenarioResult): string {
  const check = result.verdict.checks.find((c) => c.status === 'FAIL');
  const witness = check?.witnesses[0];
  const first = witness ? `${check!.id}: ${witness.message}` : result.anomalies[0];
  return `  ${result.database} / ${result.scenario}: ${first}\n    flashsale verify --history ${result.history} --db ${result.databaseUrl} --sku ${result.sku}`;
}

/** The proof as one JSON document, witnesses included. */
export function proveJson(report: ProveReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
