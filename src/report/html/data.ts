import { newHistogram } from '../../attack/histogram.js';
import { OUTCOMES } from '../../history/types.js';
import type { FinalState } from '../../verify/db-audit.js';
import type { LoadedHistory } from '../../verify/load-history.js';
import { describeOperation, type Operation, type OperationOutcome } from '../../verify/operation.js';
import type { CheckResult, Verdict } from '../../verify/verdict.js';

// What the HTML report draws, reduced from the run so that a history of a
// million operations still makes a page a browser opens in seconds: the
// timeline and the stock chart get an evenly spaced sample (never without a
// witness operation), the rest are aggregated into time bins and percentile
// ladders. Everything here is plain JSON: template.ts embeds it as is.

/** Most operations drawn one by one on the timeline (every witness is added on top). */
export const TIMELINE_BUDGET = 20_000;
/** An outcome with at most this many operations is drawn whole: rare outcomes (timeouts, 5xx) are the interesting ones. */
export const RARE_OUTCOME = 1_000;
/** Most answers drawn on the stock chart (every witness is added on top). */
export const STOCK_BUDGET = 20_000;
/** Most time bins of the throughput and latency charts. */
export const MAX_BINS = 300;

/** Every outcome the timeline may colour, indexed by the columns' `outcome`. */
export const DRAWN_OUTCOMES: readonly OperationOutcome[] = [...OUTCOMES, 'unrecorded'];

/** One witness operation, as the check table links it. */
export interface WitnessOperation {
  /** The witness line, as the terminal report prints it. */
  text: string;
  /** Its index in the timeline's columns, or null when it has no place there (no answer recorded, or not found). */
  op: number | null;
}

/** A check as the page shows it: the verdict's, witnesses linked to their operations. */
export interface CheckView extends Omit<CheckResult, 'witnesses'> {
  witnesses: Array<{ message: string; operations: WitnessOperation[]; rows: string[] }>;
}

/** The operations drawn on the timeline, as columns (a million objects would not fit a page). */
export interface TimelineColumns {
  /** Index into DRAWN_OUTCOMES. */
  outcome: number[];
  /** Attacking process. */
  process: number[];
  /** Row within the process's band: operations in flight at once get rows of their own. */
  lane: number[];
  /** Milliseconds after the run's first invocation, to the microsecond. */
  invoke: number[];
  complete: number[];
  /** Remaining stock the answer reported, or null. */
  remaining: Array<number | null>;
  status: Array<number | null>;
  /** Index into `files`. */
  file: number[];
  /** Line in that file, to find the op line in the history. */
  line: number[];
  /** 1 for an operation a witness names: highlighted, always drawn. */
  witness: number[];
}

export interface TimelineData {
  /** Operations in the run, and how many of them are drawn. */
  total: number;
  shown: number;
  /** History file names, for the `line` column. */
  files: string[];
  /** Each process's band: its first row and its row count, in process order. */
  bands: Array<{ process: number; first: number; rows: number }>;
  rows: number;
  ops: TimelineColumns;
  /** The witnesses' descriptions, by column index, for the selected-operation box. */
  descriptions: Record<number, string>;
}

/** Answers per second and latency percentiles, per outcome, over time (bins by completion). */
export interface OverTime {
  /** Bin width, ms. */
  binMs: number;
  /** Each bin's start, ms. */
  t: number[];
  /** Outcome → answers per second in each bin. */
  throughput: Record<string, number[]>;
  /** Outcome → p50 and p99 latency (ms) of the answers in each bin; null where the bin has none. */
  latency: Record<string, { p50: Array<number | null>; p99: Array<number | null> }>;
}

/** HdrHistogram's percentile distribution: x = 1 / (1 − p), so the tail gets the room. */
export interface PercentileCurve {
  /** Percentiles (0–100) of the ladder. */
  percentiles: number[];
  /** Series name (all, or an outcome) → latency in ms at each percentile; null past what its count can tell. */
  series: Record<string, Array<number | null>>;
  /** Answers in each series. */
  counts: Record<string, number>;
}

/** The stock each ok answer reported, beside the ledger's `stock_after` of the same purchase. */
export interface StockOverTime {
  /** Completion time, ms, ascending. */
  t: number[];
  reported: number[];
  /** The joined ledger row's stock_after, or null (no row, or no stock_after column). */
  ledger: Array<number | null>;
  /** Whether a ledger with stock_after was read and joined. */
  joined: string | null;
  total: number;
  shown: number;
  /** Indices of witness answers among the points. */
  witnesses: number[];
}

/** A fault record placed on the time axis. */
export interface FaultMark {
  name: string;
  detail: string;
  error: string | null;
  startMs: number;
  endMs: number;
}

/** Everything one verify run's section of the page shows. */
export interface ReportData {
  title: string;
  status: Verdict['status'];
  headline: string;
  inputs: Record<string, unknown>;
  checks: CheckView[];
  /** Last completion, ms: the time axis's extent. */
  durationMs: number;
  timeline: TimelineData;
  overTime: OverTime;
  percentiles: PercentileCurve;
  stock: StockOverTime;
  faults: FaultMark[];
}

/** What a run's report is made from: the verdict and what it was reached on. */
export interface ReportInput {
  title: string;
  verdict: Verdict;
  history: Pick<LoadedHistory, 'ops' | 'files' | 'base'>;
  state: FinalState | undefined;
}

/** Reduces a run to what its section of the page draws. */
export function reportData({ title, verdict, history, state }: ReportInput): ReportData {
  const { ops } = history;
  const witnessOps = findWitnessOperations(verdict.checks, ops);
  const drawn = new Set(witnessOps.values());
  const sample = sampleTimeline(ops, drawn);
  const index = new Map(sample.map((opIndex, column) => [opIndex, column]));
  const checks: CheckView[] = verdict.checks.map((check) => ({
    ...check,
    witnesses: check.witnesses.map((witness) => ({
      message: witness.message,
      rows: witness.rows ?? [],
      operations: (witness.operations ?? []).map((text) => {
        const opIndex = witnessOps.get(text);
        return { text, op: opIndex === undefined ? null : index.get(opIndex) ?? null };
      }),
    })),
  }));
  let durationMs = 0;
  for (const op of ops) if (Number.isFinite(op.complete) && op.complete > durationMs) durationMs = op.complete;
  durationMs /= 1e6;
  return {
    title,
    status: verdict.status,
    headline: verdict.headline,
    inputs: verdict.inputs,
    checks,
    durationMs,
    timeline: timelineData(ops, sample, drawn),
    overTime: overTime(ops, durationMs),
    percentiles: percentileCurve(ops),
    stock: stockOverTime(ops, drawn, state),
    faults: faultMarks(history),
  };
}

/**
 * The operation each witness line names. Every check describes an operation
 * with describeOperation, which ends with its place, `[file:line]`: that is
 * the key, so the checks need not hand out references of their own.
 */
export function findWitnessOperations(checks: readonly CheckResult[], ops: readonly Operation[]): Map<string, number> {
  const wanted = new Map<string, string[]>();
  for (const check of checks) {
    for (const witness of check.witnesses) {
      for (const text of witness.operations ?? []) {
        const place = /\[([^[\]]+:\d+)\]$/.exec(text)?.[1];
        if (place === undefined) continue;
        wanted.set(place, [...(wanted.get(place) ?? []), text]);
      }
    }
  }
  const found = new Map<string, number>();
  if (wanted.size === 0) return found;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const texts = wanted.get(`${op.file}:${op.line}`);
    if (!texts) continue;
    // The same op line described the same way, so the text is the check's own.
    const described = describeOperation(op);
    for (const text of texts) if (text === described) found.set(text, i);
  }
  return found;
}

/**
 * Which operations the timeline draws: all of them up to the budget; past it,
 * every operation of a rare outcome, an evenly spaced share of each common
 * one, and every witness whatever the spacing. Only answered operations have
 * a place on the time axis. Returns indices into `ops`, ascending.
 */
export function sampleTimeline(ops: readonly Operation[], keep: ReadonlySet<number>, budget = TIMELINE_BUDGET): number[] {
  const counts = new Map<OperationOutcome, number>();
  let answered = 0;
  for (const op of ops) {
    if (!Number.isFinite(op.complete)) continue;
    answered += 1;
    counts.set(op.outcome, (counts.get(op.outcome) ?? 0) + 1);
  }
  const stride = new Map<OperationOutcome, number>();
  if (answered > budget) {
    let common = 0;
    let left = budget;
    for (const [outcome, count] of counts) {
      if (count <= RARE_OUTCOME) left -= count;
      else common += count;
    }
    for (const [outcome, count] of counts) {
      const share = Math.max(1, Math.floor((Math.max(left, 0) * count) / common));
      stride.set(outcome, count <= RARE_OUTCOME ? 1 : Math.ceil(count / share));
    }
  }
  const seen = new Map<OperationOutcome, number>();
  const sample: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (!Number.isFinite(op.complete)) continue;
    const nth = seen.get(op.outcome) ?? 0;
    seen.set(op.outcome, nth + 1);
    if (nth % (stride.get(op.outcome) ?? 1) === 0 || keep.has(i)) sample.push(i);
  }
  return sample;
}

function timelineData(ops: readonly Operation[], sample: readonly number[], witnesses: ReadonlySet<number>): TimelineData {
  const files: string[] = [];
  const fileIndex = new Map<string, number>();
  const columns: TimelineColumns = { outcome: [], process: [], lane: [], invoke: [], complete: [], remaining: [], status: [], file: [], line: [], witness: [] };
  const descriptions: Record<number, string> = {};
  for (const [column, i] of sample.entries()) {
    const op = ops[i]!;
    let file = fileIndex.get(op.file);
    if (file === undefined) {
      file = files.push(op.file) - 1;
      fileIndex.set(op.file, file);
    }
    columns.outcome.push(DRAWN_OUTCOMES.indexOf(op.outcome));
    columns.process.push(op.process);
    columns.lane.push(0);
    columns.invoke.push(microseconds(op.invoke));
    columns.complete.push(microseconds(op.complete));
    columns.remaining.push(op.remaining);
    columns.status.push(op.status);
    columns.file.push(file);
    columns.line.push(op.line);
    columns.witness.push(witnesses.has(i) ? 1 : 0);
    if (witnesses.has(i)) descriptions[column] = describeOperation(op);
  }
  const { bands, rows } = assignLanes(columns);
  return { total: ops.length, shown: sample.length, files, bands, rows, ops: columns, descriptions };
}

/** Milliseconds rounded to the microsecond: what a page can show, in fewer digits. */
function microseconds(ns: number): number {
  return Math.round(ns / 1e3) / 1e3;
}

/**
 * Gives each drawn operation a row within its process's band so that bars in
 * flight at once never overlap (greedy interval colouring in invoke order:
 * as few rows as the most operations in flight at once).
 */
function assignLanes(columns: TimelineColumns): { bands: TimelineData['bands']; rows: number } {
  const byProcess = new Map<number, number[]>();
  for (let column = 0; column < columns.process.length; column++) {
    const process = columns.process[column]!;
    let list = byProcess.get(process);
    if (!list) byProcess.set(process, (list = []));
    list.push(column);
  }
  const bands: TimelineData['bands'] = [];
  let first = 0;
  for (const process of [...byProcess.keys()].sort((a, b) => a - b)) {
    const list = byProcess.get(process)!.sort((a, b) => columns.invoke[a]! - columns.invoke[b]!);
    const freeAt: number[] = [];
    for (const column of list) {
      let lane = freeAt.findIndex((end) => end < columns.invoke[column]!);
      if (lane < 0) lane = freeAt.push(0) - 1;
      freeAt[lane] = columns.complete[column]!;
      columns.lane[column] = first + lane;
    }
    bands.push({ process, first, rows: freeAt.length });
    first += freeAt.length;
  }
  return { bands, rows: first };
}

/** Throughput and latency percentiles per outcome in time bins (by completion), exact within each bin. */
export function overTime(ops: readonly Operation[], durationMs: number): OverTime {
  let answered = 0;
  for (const op of ops) if (Number.isFinite(op.complete)) answered += 1;
  // About ten answers a bin at least, so a small run is not all noise.
  const bins = Math.max(1, Math.min(MAX_BINS, Math.ceil(answered / 10)));
  const binMs = Math.max(durationMs / bins, 1e-3);
  const binOf = (op: Operation) => Math.min(bins - 1, Math.floor(op.complete / 1e6 / binMs));
  // Two passes: count per (outcome, bin), then put every latency in its slot of one array and sort each slot.
  const outcomes = [...new Set(ops.filter((op) => Number.isFinite(op.complete)).map((op) => op.outcome))];
  const slot = (outcome: number, bin: number) => outcome * bins + bin;
  const outcomeIndex = new Map(outcomes.map((outcome, i) => [outcome, i]));
  const starts = new Uint32Array(outcomes.length * bins + 1);
  for (const op of ops) if (Number.isFinite(op.complete)) starts[slot(outcomeIndex.get(op.outcome)!, binOf(op)) + 1]! += 1;
  for (let i = 1; i < starts.length; i++) starts[i]! += starts[i - 1]!;
  const filled = starts.slice(0, -1);
  const latencies = new Float64Array(answered);
  for (const op of ops) {
    if (!Number.isFinite(op.complete)) continue;
    latencies[filled[slot(outcomeIndex.get(op.outcome)!, binOf(op))]!++] = (op.complete - op.invoke) / 1e6;
  }
  const round = (ms: number) => Math.round(ms * 1e3) / 1e3;
  const result: OverTime = { binMs, t: Array.from({ length: bins }, (_, bin) => round(bin * binMs)), throughput: {}, latency: {} };
  for (const [o, outcome] of outcomes.entries()) {
    const rate: number[] = [];
    const p50: Array<number | null> = [];
    const p99: Array<number | null> = [];
    for (let bin = 0; bin < bins; bin++) {
      const from = starts[slot(o, bin)]!;
      const to = starts[slot(o, bin) + 1]!;
      rate.push(Math.round(((to - from) * 1000) / binMs));
      if (to === from) {
        p50.push(null);
        p99.push(null);
        continue;
      }
      const sorted = latencies.subarray(from, to).sort();
      p50.push(round(nearestRank(sorted, 0.5)));
      p99.push(round(nearestRank(sorted, 0.99)));
    }
    result.throughput[outcome] = rate;
    result.latency[outcome] = { p50, p99 };
  }
  return result;
}

function nearestRank(sorted: Float64Array, p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/** The ladder of percentiles: 0, 50, 75, 87.5 … halving the distance to 100, as HdrHistogram prints them. */
const LADDER = Array.from({ length: 24 }, (_, k) => 100 - 100 / 2 ** k);

/** The HDR latency percentile curve of all answers and of each outcome, from hdr-histogram-js (µs, 3 digits). */
export function percentileCurve(ops: readonly Operation[]): PercentileCurve {
  const histograms = new Map<string, ReturnType<typeof newHistogram>>([['all', newHistogram()]]);
  for (const op of ops) {
    if (!Number.isFinite(op.complete)) continue;
    const us = Math.max(1, Math.round((op.complete - op.invoke) / 1e3));
    histograms.get('all')!.recordValue(us);
    let histogram = histograms.get(op.outcome);
    if (!histogram) histograms.set(op.outcome, (histogram = newHistogram()));
    histogram.recordValue(us);
  }
  // The ladder stops where the answers do: a percentile finer than one answer in twice the count says nothing more.
  const all = histograms.get('all')!.totalCount;
  const ladder = LADDER.filter((p) => 1 / (1 - p / 100) <= Math.max(1, all) * 2);
  const curve: PercentileCurve = { percentiles: ladder, series: {}, counts: {} };
  for (const [name, histogram] of histograms) {
    const count = histogram.totalCount;
    curve.counts[name] = count;
    curve.series[name] = ladder.map((p) => (count > 0 && 1 / (1 - p / 100) <= count * 2 ? histogram.getValueAtPercentile(p) / 1000 : null));
    histogram.destroy();
  }
  return curve;
}

/**
 * The stock reported by ok answers over time (an even sample past the
 * budget, witnesses always kept), each beside its ledger row's stock_after
 * joined by request id, else by purchase id.
 */
export function stockOverTime(ops: readonly Operation[], witnesses: ReadonlySet<number>, state: FinalState | undefined, budget = STOCK_BUDGET): StockOverTime {
  const reporting: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.type === 'ok' && op.remaining !== null && Number.isFinite(op.complete)) reporting.push(i);
  }
  const stride = Math.max(1, Math.ceil(reporting.length / budget));
  const chosen = reporting.filter((i, nth) => nth % stride === 0 || witnesses.has(i));
  chosen.sort((a, b) => ops[a]!.complete - ops[b]!.complete);
  const rows = state?.ledger?.filter((row) => row.stockAfter !== undefined) ?? [];
  const byRequest = rows.length > 0 && rows.every((row) => row.requestId !== undefined);
  const byPurchase = !byRequest && rows.length > 0 && rows.every((row) => row.id !== undefined);
  const keyOf = (op: Operation) => (byRequest ? op.requestId : byPurchase ? op.purchaseId : null);
  // Only the drawn answers' rows are looked up: the ledger may have millions.
  const wanted = new Set(chosen.map((i) => keyOf(ops[i]!)).filter((key): key is string => !!key));
  const stockAfter = new Map<string, number>();
  for (const row of rows) {
    const key = byRequest ? row.requestId : byPurchase ? String(row.id) : undefined;
    if (key !== undefined && wanted.has(key)) stockAfter.set(key, row.stockAfter!);
  }
  const stock: StockOverTime = {
    t: [],
    reported: [],
    ledger: [],
    joined: byRequest ? 'request id' : byPurchase ? 'purchase id' : null,
    total: reporting.length,
    shown: chosen.length,
    witnesses: [],
  };
  for (const i of chosen) {
    const op = ops[i]!;
    if (witnesses.has(i)) stock.witnesses.push(stock.t.length);
    stock.t.push(microseconds(op.complete));
    stock.reported.push(op.remaining!);
    const key = keyOf(op);
    stock.ledger.push(key ? stockAfter.get(key) ?? null : null);
  }
  return stock;
}

/** Every file's fault records, on the operations' time axis. */
function faultMarks(history: ReportInput['history']): FaultMark[] {
  const { base } = history;
  if (base === undefined) return [];
  return history.files.flatMap((file) =>
    file.faults.map((fault) => ({
      name: fault.name,
      detail: fault.detail,
      error: fault.error,
      startMs: microseconds(Number(fault.t_start - base)),
      endMs: microseconds(Number(fault.t_end - base)),
    })),
  );
}
