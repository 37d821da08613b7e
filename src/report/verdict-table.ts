import Table from 'cli-table3';
import type { Verdict } from '../verify/verdict.js';

/** Widest a witness line is printed before it is cut; the JSON keeps it whole. */
const WITNESS_WIDTH = 220;

/**
 * The verdict for a person: one row per check (PASS / FAIL / UNKNOWN / N/A
 * and the counts it used), then what the run was (incomplete history, faults,
 * the join, the answers by outcome, refused apart from sold-out), then each
 * failure's witnesses, then the bottom line.
 */
export function renderVerdict(verdict: Verdict, columns = process.stdout.columns): string {
  // The check column fits the longest name (R7 reservation-ledger-vs-responses), never less than before.
  const checkWidth = Math.max(28, ...verdict.checks.map((check) => `${check.id} ${check.name}`.length + 2));
  // Plain table: it reads the same in a terminal and in a CI log.
  const table = new Table({
    head: ['check', 'result', 'detail'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    // Fit the terminal when there is one; CI logs get a fixed, readable width.
    colWidths: [checkWidth, 11, Math.max(40, (columns || 130) - checkWidth - 17)],
    wordWrap: true,
  });
  for (const check of verdict.checks) {
    const undecided = check.status === 'UNKNOWN' || check.status === 'N/A';
    const detail = undecided ? `${check.reason}${check.summary ? ` (${check.summary})` : ''}` : check.summary;
    const result = check.status === 'FAIL' ? `FAIL ×${check.violations}` : check.waived ? 'UNKNOWN*' : check.status;
    table.push([`${check.id} ${check.name}`, result, detail]);
  }
  const lines = [table.toString()];
  if (verdict.checks.some((check) => check.waived)) lines.push('* accepted by --history-only: the database was not read');
  // An incomplete history is said before anything else is concluded from it.
  const history = verdict.inputs.history;
  if (typeof history === 'string' && /^(incomplete|complete, ended early)/.test(history)) lines.push(`history: ${history}`);
  const faults = (verdict.inputs.histories as Array<{ file: string; faults: Array<{ name: string; detail: string; error: string | null }> }> | undefined) ?? [];
  for (const { file, faults: list } of faults) {
    for (const fault of list) lines.push(`fault in ${file}: ${fault.name}${fault.detail ? ` (${fault.detail})` : ''}${fault.error ? `: failed: ${fault.error}` : ''}`);
  }
  if (typeof verdict.inputs.join === 'string') lines.push(`ledger joined on: ${verdict.inputs.join}`);
  const outcomes = verdict.inputs.outcomes as Record<string, number> | undefined;
  if (outcomes && Object.keys(outcomes).length > 0) {
    lines.push(`answers: ${Object.entries(outcomes).map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);
  }
  for (const check of verdict.checks.filter((c) => c.status === 'FAIL')) {
    lines.push(`${check.id} ${check.name}: ${check.violations} violation${check.violations === 1 ? '' : 's'}${check.violations > check.witnesses.length ? `, first ${check.witnesses.length} shown` : ''}`);
    for (const witness of check.witnesses) {
      lines.push(`  - ${witness.message}`);
      for (const op of witness.operations ?? []) lines.push(`      op  ${cut(op)}`);
      for (const row of witness.rows ?? []) lines.push(`      row ${cut(row)}`);
    }
  }
  lines.push(`verdict: ${verdict.headline}`);
  return `${lines.join('\n')}\n`;
}

function cut(text: string): string {
  return text.length > WITNESS_WIDTH ? `${text.slice(0, WITNESS_WIDTH - 1)}…` : text;
}

/** The whole verdict as one JSON document, for `--json`. */
export function verdictJson(verdict: Verdict): string {
  return `${JSON.stringify(verdict, null, 2)}\n`;
}
