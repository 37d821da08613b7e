import Table from 'cli-table3';
import { LATE_AFTER_MS, type AttackSummary, type FlowSummary } from '../attack/summary.js';
import { OUTCOMES, OUTCOME_TYPE, STEP_NAMES, STEP_OUTCOMES, STEP_OUTCOME_TYPE, STEP_SUCCESS } from '../history/types.js';
import { plural } from '../verify/verdict.js';

/** Causes of errors listed under the table; the JSON has them all. */
const ERRORS_SHOWN = 5;

/** The summary as one JSON object (one line), for `--json`. */
export function attackSummaryJson(summary: AttackSummary): string {
  return `${JSON.stringify(summary)}\n`;
}

/** The summary for a person: a headline, the outcome table, the rate and latency table, notes. */
export function renderAttackSummary(summary: AttackSummary): string {
  const model = summary.model === 'open' ? `open model at ${summary.rate}/s (seed ${summary.seed})` : 'closed model';
  const target = summary.flow ? `${new URL(summary.target).origin} ${STEP_NAMES.map((step) => summary.flow!.paths[step]).join(' ')}` : summary.target;
  const lines = [
    `flashsale attack: ${summary.method} ${target}`,
    `  ${plural(summary.buyers, 'buyer')}, ${model}, ${summary.concurrency} in flight at most, ${summary.processes} ${summary.processes === 1 ? 'process' : 'processes'}`,
  ];
  if (summary.interrupted) {
    lines.push(`  INTERRUPTED: partial results, ${summary.completed} of ${plural(summary.buyers, 'buyer')} completed`);
  }
  if (summary.end_reason === 'target_lost') {
    lines.push(`  TARGET LOST: it refused connections for longer than the timeout; ${summary.sent} requests tried, the other ${summary.completed - summary.sent} buyers recorded as conn_refused (not sent)`);
  }

  // Colour would need a terminal; the table is plain so it reads the same in CI logs.
  const style = { head: [], border: [] };
  // No rule between body rows: a compact table that still lines up.
  const chars = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
  if (summary.flow) lines.push(...flowTables(summary.flow, summary.seed, style, chars));
  else {
    const outcomes = new Table({ head: ['outcome', 'type', 'count'], colAligns: ['left', 'left', 'right'], style, chars });
    for (const outcome of OUTCOMES) outcomes.push([outcome, OUTCOME_TYPE[outcome], String(summary.outcomes[outcome])]);
    outcomes.push(['total', '', String(summary.completed)]);
    lines.push(outcomes.toString());
    const refused = summary.outcomes.refused > 0 ? `, ${summary.outcomes.refused} of them refused "try again"` : '';
    lines.push(`  ok ${summary.types.ok} (surely bought) · fail ${summary.types.fail} (surely not${refused}) · info ${summary.types.info} (unknown)`);
  }

  const latency = summary.latency_ms;
  const figures = new Table({
    head: ['req/s', 'duration', 'latency ms: min', 'p50', 'p90', 'p99', 'max'],
    colAligns: ['right', 'right', 'right', 'right', 'right', 'right', 'right'],
    style,
    chars,
  });
  figures.push([
    summary.requests_per_second.toFixed(1),
    `${summary.duration_s.toFixed(3)} s`,
    ...(latency ? [latency.min, latency.p50, latency.p90, latency.p99, latency.max].map(milliseconds) : ['-', '-', '-', '-', '-']),
  ]);
  lines.push(figures.toString());

  if (summary.model === 'open') {
    lines.push(`  arrivals: ${summary.late} late (sent > ${LATE_AFTER_MS} ms after their time, worst ${milliseconds(summary.max_lateness_ms)} ms), ${summary.dropped} dropped`);
  }
  if (summary.connections.failed > 0) {
    lines.push(`  connections: ${summary.connections.opened} opened before the start, ${summary.connections.failed} failed to open`);
  }
  if (summary.errors.length > 0) {
    lines.push('  causes:');
    for (const { cause, count } of summary.errors.slice(0, ERRORS_SHOWN)) lines.push(`    ${String(count).padStart(7)}  ${cause}`);
    if (summary.errors.length > ERRORS_SHOWN) lines.push(`    … ${summary.errors.length - ERRORS_SHOWN} more causes (see --json or the history)`);
  }
  for (const fault of summary.faults) {
    const when = `fault ${fault.name} at ${Math.round(fault.at * 1000) / 10}%`;
    if (!fault.ran) lines.push(`  ${when}: not run, the run ended first (${fault.detail})`);
    else lines.push(`  ${when}: ran at ${fault.started_s!.toFixed(3)} s for ${fault.duration_s!.toFixed(3)} s, ${fault.error === null ? 'ok' : `FAILED: ${fault.error}`} (${fault.detail})`);
  }
  if (!summary.realtime_overlap && summary.outcomes.bought + summary.outcomes.sold_out > 1) {
    const fewer = Math.max(1, Math.min(10, Math.floor(summary.buyers / 10)));
    lines.push(`  real-time checks (H4, H5) have nothing to compare: every request was sent before the first answer came;`);
    lines.push(`  to catch a server that lies about stock, send fewer at once (--concurrency ${fewer}) or arrive at a rate (--rate R)`);
  }
  lines.push(`  history: ${summary.history} (${plural(summary.completed, summary.flow ? 'step' : 'operation')}, end: ${summary.end_reason})`);
  return `${lines.join('\n')}\n`;
}

/**
 * `attack --flow`: what the flows did, then each step's outcomes (every
 * outcome that occurred, and the step's success even at 0) and latency.
 */
function flowTables(flow: FlowSummary, seed: number, style: Table.TableConstructorOptions['style'], chars: Table.TableConstructorOptions['chars']): string[] {
  const think = flow.think_ms.min === flow.think_ms.max ? `${flow.think_ms.min} ms` : `${flow.think_ms.min}..${flow.think_ms.max} ms`;
  const outcomes = new Table({ head: ['step', 'outcome', 'type', 'count'], colAligns: ['left', 'left', 'left', 'right'], style, chars });
  const latency = new Table({ head: ['step', 'requests', 'latency ms: min', 'p50', 'p90', 'p99', 'max'], colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right'], style, chars });
  for (const step of STEP_NAMES) {
    const { outcomes: counts, total, latency_ms: ms } = flow.steps[step];
    for (const outcome of STEP_OUTCOMES) {
      if (counts[outcome] > 0 || outcome === STEP_SUCCESS[step]) outcomes.push([step, outcome, STEP_OUTCOME_TYPE[outcome], String(counts[outcome])]);
    }
    latency.push([step, String(total), ...(ms ? [ms.min, ms.p50, ms.p90, ms.p99, ms.max].map(milliseconds) : ['-', '-', '-', '-', '-'])]);
  }
  const unsent = flow.unsent > 0 ? `, ${flow.unsent} not sent (stopped, or a field missing)` : '';
  return [
    `  flow ${flow.name}: ${plural(flow.flows, 'flow')}; held flows confirm ${flow.confirm_share}, cancel ${flow.cancel_share}, else abandon, after ${think} (seed ${seed})`,
    `  after a hold: ${flow.steps.confirm.total} confirm, ${flow.steps.cancel.total} cancel, ${flow.abandoned} abandoned${unsent}`,
    outcomes.toString(),
    latency.toString(),
  ];
}

function milliseconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
