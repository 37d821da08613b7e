import Table from 'cli-table3';
import type { ThresholdResult } from '../attack/thresholds.js';

/** The --threshold verdicts for a person: one row each, then how many were crossed. */
export function renderThresholds(results: readonly ThresholdResult[]): string {
  if (results.length === 0) return '';
  // Plain, like the attack summary's tables, so it reads the same in CI logs.
  const table = new Table({
    head: ['threshold', 'observed', 'limit', 'result'],
    colAligns: ['left', 'right', 'right', 'left'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const result of results) {
    table.push([result.threshold, figure(result.observed, result.unit), figure(result.limit, result.unit), result.passed ? 'PASS' : 'CROSSED']);
  }
  const crossed = results.filter((result) => !result.passed).length;
  const verdict = crossed === 0 ? `  thresholds: all ${results.length} met` : `  thresholds: ${crossed} of ${results.length} crossed`;
  return `${table.toString()}\n${verdict}\n`;
}

function figure(value: number | null, unit: ThresholdResult['unit']): string {
  if (value === null) return 'no data';
  // Enough digits to show why a near miss missed, no float noise beyond them.
  const shown = unit === '' ? String(value) : String(Number(value.toPrecision(6)));
  return unit === '' ? shown : unit === '%' ? `${shown}%` : `${shown} ${unit}`;
}
