import type hdr from 'hdr-histogram-js';
import { ConfigError } from '../errors.js';
import { OUTCOMES, type OpType, type Outcome } from '../history/types.js';
import type { AttackSummary } from './summary.js';

// `attack --threshold 'p95<200ms'`: a pass/fail gate over the run's figures,
// as k6 users know it. One threshold is `METRIC OP VALUE`:
//
//   latency   p50 p90 p95 p99 p99.9 … (any pN or p(N), 0 < N ≤ 100), min, max, avg, med
//             VALUE in ms, s or us; a bare number is milliseconds (k6's `p(95)<200`)
//   rate      completed requests per second over the run; VALUE a plain number (or N/s)
//   outcomes  bought sold_out refused rejected http_5xx timeout conn_reset conn_refused bad_body,
//             and the types ok fail info (errors = info: the unknown outcomes)
//             VALUE N% is a share of the completed operations; a whole number is a count
//   OP        <  <=  >  >=  ==
//
// A threshold with nothing to measure (no operation completed) is crossed:
// a gate that could not be checked must not let a build through.

/** Comparison operators, longest first so `<=` is never read as `<`. */
const OPERATORS = ['<=', '>=', '==', '<', '>'] as const;
export type ThresholdOperator = (typeof OPERATORS)[number];

/** The outcome-type names a threshold may use, and `errors` for the unknowns. */
const TYPE_METRICS: Readonly<Record<string, OpType>> = { ok: 'ok', fail: 'fail', info: 'info', errors: 'info' };
const NAMED_LATENCIES: Readonly<Record<string, LatencyStatistic>> = { min: 'min', max: 'max', avg: 'avg', mean: 'avg', med: 50 };
/** Microseconds per unit of a latency VALUE. */
const LATENCY_UNITS: Readonly<Record<string, number>> = { '': 1000, us: 1, ms: 1000, s: 1_000_000 };

/** min, max, avg, or a percentile (0 < p ≤ 100). */
type LatencyStatistic = 'min' | 'max' | 'avg' | number;

/** One parsed `--threshold`. */
export type Threshold = {
  /** The text as given. */
  text: string;
  op: ThresholdOperator;
} & (
  | { kind: 'latency'; statistic: LatencyStatistic; /** Whole microseconds. */ limit: number }
  | { kind: 'rate'; /** Requests per second. */ limit: number }
  | { kind: 'count'; outcome: Outcome | OpType; limit: number }
  | { kind: 'share'; outcome: Outcome | OpType; /** Percent, 0–100. */ limit: number }
);

/** A threshold's verdict, as the table and `--json` show it. */
export interface ThresholdResult {
  /** The text as given, e.g. `p95<200ms`. */
  threshold: string;
  /** What was measured, in `unit`; null when there was nothing to measure. */
  observed: number | null;
  /** The limit, in `unit`. */
  limit: number;
  /** `ms`, `req/s`, `%`, or `` for a count. */
  unit: 'ms' | 'req/s' | '%' | '';
  /** False when the threshold was crossed (or could not be measured). */
  passed: boolean;
}

/** Parses one `--threshold` text; a ConfigError names what is wrong, in one line. */
export function parseThreshold(text: string): Threshold {
  const compact = text.replace(/\s+/g, '');
  const at = compact.search(/[<>=]/);
  const op = at < 0 ? undefined : OPERATORS.find((candidate) => compact.startsWith(candidate, at));
  if (at <= 0 || !op) throw bad(text, 'expected METRIC OP VALUE, e.g. p95<200ms, rate>=500 or refused<1%');
  const metric = compact.slice(0, at).toLowerCase();
  const value = compact.slice(at + op.length);
  const number = /^(\d+(?:\.\d+)?)(.*)$/.exec(value);
  if (!number) throw bad(text, `expected a number after ${op}, got ${JSON.stringify(value)}`);
  const amount = Number(number[1]);
  const unit = number[2]!.toLowerCase();

  const statistic = latencyStatistic(metric);
  if (statistic !== undefined) {
    const scale = LATENCY_UNITS[unit];
    if (scale === undefined) throw bad(text, `${metric} is a latency: give ms, s or us (a bare number is ms), not ${JSON.stringify(number[2])}`);
    // Whole microseconds, the histogram's resolution: `1.1s` is 1,100,000 µs, not 1,100,000.0000000002.
    return { text, op, kind: 'latency', statistic, limit: Math.round(amount * scale) };
  }
  if (metric === 'rate') {
    if (unit !== '' && unit !== '/s') throw bad(text, `rate is requests per second: give a plain number, not ${JSON.stringify(number[2])}`);
    return { text, op, kind: 'rate', limit: amount };
  }
  const outcome = (OUTCOMES as readonly string[]).includes(metric) ? (metric as Outcome) : TYPE_METRICS[metric];
  if (outcome !== undefined) {
    if (unit === '%') {
      if (amount > 100) throw bad(text, `a share is at most 100%`);
      return { text, op, kind: 'share', outcome, limit: amount };
    }
    if (unit !== '' || !Number.isInteger(amount)) throw bad(text, `${metric} takes a share such as 1% or a whole count such as 10`);
    return { text, op, kind: 'count', outcome, limit: amount };
  }
  throw bad(text, `unknown metric ${JSON.stringify(metric)}; use pN (p95, p99.9), min, max, avg, med, rate, ${OUTCOMES.join(', ')}, ok, fail, info or errors`);
}

/** `p95`, `p(99.9)`, `min`… as a statistic; undefined when the name is not a latency. */
function latencyStatistic(metric: string): LatencyStatistic | undefined {
  if (metric in NAMED_LATENCIES) return NAMED_LATENCIES[metric];
  const percentile = /^p\(?(\d+(?:\.\d+)?)\)?$/.exec(metric);
  if (!percentile) return undefined;
  const p = Number(percentile[1]);
  if (!(p > 0 && p <= 100)) throw bad(metric, 'a percentile is above 0 and at most 100');
  return p;
}

function bad(text: string, why: string): ConfigError {
  return new ConfigError(`bad --threshold ${JSON.stringify(text)}: ${why}`);
}

/** What thresholds are measured against: the summary, and the merged latency histogram (microseconds) for any percentile. */
export interface ThresholdFigures {
  summary: Pick<AttackSummary, 'completed' | 'outcomes' | 'types' | 'requests_per_second'>;
  latency: hdr.Histogram | undefined;
}

/** Measures each threshold and says whether it held. */
export function evaluateThresholds(thresholds: readonly Threshold[], figures: ThresholdFigures): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const { observed, limit, unit } = measure(threshold, figures);
    const passed = observed !== null && compare(observed, threshold.op, limit);
    // Latency is compared in whole microseconds and reported in milliseconds, as the summary does.
    if (unit === 'us') return { threshold: threshold.text, observed: observed === null ? null : observed / 1000, limit: limit / 1000, unit: 'ms', passed };
    return { threshold: threshold.text, observed, limit, unit, passed };
  });
}

/** True when every threshold held (and also when none was given). */
export function allPassed(results: readonly ThresholdResult[]): boolean {
  return results.every((result) => result.passed);
}

function measure(threshold: Threshold, { summary, latency }: ThresholdFigures): { observed: number | null; limit: number; unit: ThresholdResult['unit'] | 'us' } {
  switch (threshold.kind) {
    case 'latency': {
      // Whole microseconds as the summary's latency figures are, so the
      // table and the summary never disagree, compared as whole numbers.
      const us = latency && latency.totalCount > 0 ? Math.round(latencyMicroseconds(latency, threshold.statistic)) : null;
      return { observed: us, limit: threshold.limit, unit: 'us' };
    }
    case 'rate':
      // The summary's own figure (completed operations over the run), as it prints it.
      return { observed: summary.completed > 0 ? summary.requests_per_second : null, limit: threshold.limit, unit: 'req/s' };
    case 'count':
      return { observed: countOf(summary, threshold.outcome), limit: threshold.limit, unit: '' };
    case 'share':
      return {
        // count × 100 / completed in one division: a share that is exactly the
        // limit (70 of 1000 against 7%) comes out as exactly 7, not 7.000000000000001.
        observed: summary.completed > 0 ? (countOf(summary, threshold.outcome) * 100) / summary.completed : null,
        limit: threshold.limit,
        unit: '%',
      };
  }
}

function latencyMicroseconds(histogram: hdr.Histogram, statistic: LatencyStatistic): number {
  if (statistic === 'min') return histogram.minNonZeroValue;
  if (statistic === 'max') return histogram.maxValue;
  if (statistic === 'avg') return histogram.mean;
  return histogram.getValueAtPercentile(statistic);
}

function countOf(summary: ThresholdFigures['summary'], outcome: Outcome | OpType): number {
  return outcome in summary.types ? summary.types[outcome as OpType] : summary.outcomes[outcome as Outcome];
}

function compare(observed: number, op: ThresholdOperator, limit: number): boolean {
  switch (op) {
    case '<':
      return observed < limit;
    case '<=':
      return observed <= limit;
    case '>':
      return observed > limit;
    case '>=':
      return observed >= limit;
    case '==':
      return observed === limit;
  }
}
