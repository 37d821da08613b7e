import { createReadStream } from 'node:fs';
import { HistoryFormatError } from '../errors.js';
import {
  HISTORY_SCHEMA,
  OUTCOME_TYPE,
  OUTCOMES,
  STEP_NAMES,
  STEP_OUTCOME_TYPE,
  STEP_OUTCOMES,
  STEP_SUCCESS,
  type EndReason,
  type FaultRecord,
  type FlowName,
  type HistoryEnd,
  type HistoryMeta,
  type HistoryShard,
  type HistoryRecord,
  type OpRecord,
  type Outcome,
  type StepName,
  type StepOutcome,
  type StepRecord,
} from './types.js';

// A streaming reader: one line in memory at a time (plus one read chunk), so
// a history of millions of operations is read in constant memory. Every line
// is checked against the format; a bad one is a HistoryFormatError naming the
// file and line, never a silently skipped record.

/**
 * What a history says about itself beyond its operations: how it ended, the
 * faults injected during the run, and whether its last line was cut short.
 * Complete only once every operation has been read.
 */
export interface HistoryClosing {
  /** The end record, or undefined when the history stops without one (the run was cut short). */
  end: HistoryEnd | undefined;
  /** Fault records, in file order. */
  faults: FaultRecord[];
  /** The line dropped because it was cut mid-write (no newline, not JSON), if any. */
  cutLine: number | undefined;
  /** Op lines read. */
  recorded: number;
}

/** A history opened for reading: its meta line, and the operations after it. */
export interface OpenedHistory {
  meta: HistoryMeta;
  /** The op lines in file order (completion order per process). Iterate once, this or `batches`. */
  ops: AsyncGenerator<OpRecord>;
  /**
   * The same op lines a read chunk at a time: a million operations cost a
   * few hundred awaits instead of a million, which is what verify uses.
   */
  batches: AsyncGenerator<OpRecord[]>;
  /** Filled in as the operations are read; whole once they all have been. */
  closing: HistoryClosing;
}

/** Reads the meta line and returns it with generators over the operations. */
export async function openHistory(path: string): Promise<OpenedHistory> {
  const tail: ReadTail = { cutLine: undefined, lines: 0 };
  const chunks = readHistoryBatches(path, undefined, tail);
  let first = await chunks.next();
  while (!first.done && first.value.length === 0) first = await chunks.next();
  if (first.done) throw new HistoryFormatError(`${path} is empty: not a flashsale history`);
  const [meta, ...firstRecords] = first.value as [HistoryMeta, ...HistoryRecord[]];
  const closing: HistoryClosing = { end: undefined, faults: [], cutLine: undefined, recorded: 0 };
  // Most batches hold only op lines; the rare fault or end line is taken out.
  const opsOf = (records: HistoryRecord[]): OpRecord[] => {
    let ops = records as OpRecord[];
    if (records.some((record) => record.kind !== 'op')) {
      ops = [];
      for (const record of records) {
        if (record.kind === 'op') ops.push(record);
        else if (record.kind === 'fault') closing.faults.push(record);
        else if (record.kind === 'end') closing.end = record;
      }
    }
    closing.recorded += ops.length;
    return ops;
  };
  async function* batches(): AsyncGenerator<OpRecord[]> {
    const firstOps = opsOf(firstRecords);
    if (firstOps.length > 0) yield firstOps;
    for await (const batch of chunks) yield opsOf(batch);
    closing.cutLine = tail.cutLine;
    checkClosing(path, meta, closing);
  }
  const shared = batches();
  async function* ops(): AsyncGenerator<OpRecord> {
    for await (const batch of shared) yield* batch;
  }
  return { meta, ops: ops(), batches: shared, closing };
}

/**
 * The end record must agree with the meta line and with the op lines before
 * it: a history that says it is whole but is not is broken, not incomplete.
 */
export function checkClosing(path: string, meta: HistoryMeta, closing: HistoryClosing): void {
  const end = closing.end;
  if (!end) return;
  if (end.planned !== meta.buyers) throw new HistoryFormatError(`${path}: the end record says ${end.planned} requests were planned, the meta line ${meta.buyers}`);
  if (end.recorded !== closing.recorded) throw new HistoryFormatError(`${path}: the end record says ${end.recorded} operations were recorded, the file has ${closing.recorded}`);
}

/** Every record of a history file: the meta line first, then ops and faults, then the end record. */
export async function* readHistory(path: string): AsyncGenerator<HistoryRecord> {
  for await (const batch of readHistoryBatches(path)) yield* batch;
}

/**
 * A slice of a history file for one of several parallel readers: it starts
 * at the first byte of a line after the meta line and ends just after a
 * newline (or at the end of the file), so no line is split between slices.
 */
export interface HistoryRange {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** What a read learned besides the records: filled in when the generator is done. */
export interface ReadTail {
  /** The last line, dropped because it was cut mid-write, if there was one. */
  cutLine: number | undefined;
  /** Lines read (blank ones and a dropped one included). */
  lines: number;
  /** Per record of every batch, its line number, when asked for (parallel readers renumber ops with it). */
  recordLines?: number[];
}

/**
 * The records of a history file, one array per read chunk (about 1 MiB of
 * lines). Given a range, only the lines in it (ops, faults, the end record),
 * numbered as if the range began at line 2: the caller, which knows the
 * lines before it, renumbers. A last line with no newline that is not JSON
 * was cut mid-write (the run was killed, the disk was full): it is dropped
 * and said so in `tail`, never taken for a format error. Nothing may follow
 * the end record.
 */
export async function* readHistoryBatches(path: string, range?: HistoryRange, tail?: ReadTail): AsyncGenerator<HistoryRecord[]> {
  let lineNumber = range ? 1 : 0;
  let rest = '';
  let endLine = 0;
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20, ...(range && { start: range.start, end: range.end - 1 }) });
  const take = (line: string, batch: HistoryRecord[]) => {
    if (endLine) throw new HistoryFormatError(`${path}:${lineNumber}: a line after the end record (line ${endLine}), which must be the last`);
    const record = parseHistoryLine(line, path, lineNumber);
    if (record.kind === 'end') endLine = lineNumber;
    tail?.recordLines?.push(lineNumber);
    batch.push(record);
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = rest + chunk;
      const batch: HistoryRecord[] = [];
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        lineNumber += 1;
        const line = text.slice(start, end);
        start = end + 1;
        if (line.trim() === '') continue;
        take(line, batch);
      }
      rest = text.slice(start);
      yield batch;
    }
  } catch (error) {
    if (error instanceof HistoryFormatError) throw error;
    throw new HistoryFormatError(`cannot read the history file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  } finally {
    stream.destroy();
  }
  if (rest.trim() !== '') {
    lineNumber += 1;
    // The writer ends every line with a newline; a last line without one that
    // is not even JSON was cut short (the run was killed mid-write).
    let whole = true;
    try {
      JSON.parse(rest);
    } catch {
      whole = false;
    }
    if (whole) {
      const batch: HistoryRecord[] = [];
      take(rest, batch);
      yield batch;
    } else if (lineNumber === 1) {
      throw new HistoryFormatError(`${path}:1: the meta line is cut short: not a flashsale history`);
    } else if (endLine) {
      throw new HistoryFormatError(`${path}:${lineNumber}: a line after the end record (line ${endLine}), which must be the last`);
    } else if (tail) {
      tail.cutLine = lineNumber;
    }
  }
  if (lineNumber === 0) throw new HistoryFormatError(`${path} is empty: not a flashsale history`);
  if (tail) tail.lines = lineNumber - (range ? 1 : 0);
}

/**
 * Parses and checks one line (line 1 must be the meta line). The `file:line`
 * text is built only when something is wrong: a million lines that are
 * right should not cost a million strings.
 */
export function parseHistoryLine(line: string, path: string, lineNumber: number): HistoryRecord {
  const where = new Where(path, lineNumber);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new HistoryFormatError(`${where}: not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HistoryFormatError(`${where}: not a JSON object`);
  const record = value as Record<string, unknown>;
  if (lineNumber === 1) {
    if (record.kind !== 'meta') throw new HistoryFormatError(`${where}: the first line must be the meta line ({"kind":"meta",…}): not a flashsale history`);
    return parseMeta(record, line, where);
  }
  if (record.kind === 'op') return parseOp(record, line, where);
  if (record.kind === 'fault') return parseFault(record, line, where);
  if (record.kind === 'end') return parseEnd(record, line, where);
  if (record.kind === 'step') return parseStep(record, line, where);
  if (record.kind === 'meta') throw new HistoryFormatError(`${where}: a second meta line: two histories joined into one file? (give them as separate --history files)`);
  throw new HistoryFormatError(`${where}: expected an op, step, fault or end line, found kind ${JSON.stringify(record.kind)}`);
}

function parseMeta(record: Record<string, unknown>, line: string, where: Where): HistoryMeta {
  if (record.schema !== HISTORY_SCHEMA) {
    throw new HistoryFormatError(`${where}: schema ${JSON.stringify(record.schema)} is not ${HISTORY_SCHEMA}`);
  }
  const field = new Fields(record, line, where);
  return {
    kind: 'meta',
    schema: HISTORY_SCHEMA,
    target: field.text('target'),
    buyers: field.count('buyers'),
    started_at: field.text('started_at'),
    method: field.text('method', 'POST'),
    quantity: field.count('quantity', 1),
    processes: field.count('processes', 1),
    concurrency: field.count('concurrency', 0),
    rate: field.nullableNumber('rate'),
    seed: field.count('seed', 0),
    run_id: field.text('run_id', ''),
    host_id: field.text('host_id', ''),
    ready_at: field.time('ready_at', 0n),
    released_at: field.time('released_at', 0n),
    ...(record.released_wall_ms === undefined ? {} : { released_wall_ms: field.positiveNumber('released_wall_ms') }),
    ...(record.start_at === undefined ? {} : { start_at: field.text('start_at') }),
    ...(record.shard === undefined ? {} : { shard: parseShard(record.shard, line, where) }),
    ...(record.flow === undefined || record.flow === null ? {} : { flow: parseFlow(record.flow, where) }),
  };
}

/** A meta line's `shard`: 1 <= index <= count <= run_buyers. */
function parseShard(value: unknown, line: string, where: Where): HistoryShard {
  if (typeof value !== 'object' || value === null) throw new HistoryFormatError(`${where}: "shard" must be an object {index, count, run_buyers}`);
  const field = new Fields(value as Record<string, unknown>, line, where);
  const shard = { index: field.count('index'), count: field.count('count'), run_buyers: field.count('run_buyers') };
  if (!(shard.index >= 1 && shard.index <= shard.count && shard.count <= shard.run_buyers)) {
    throw new HistoryFormatError(`${where}: "shard" ${shard.index}/${shard.count} of ${shard.run_buyers} buyers is not a shard (1 <= index <= count <= run_buyers)`);
  }
  return shard;
}

const FLOWS: readonly FlowName[] = ['reserve-confirm'];

function parseFlow(value: unknown, where: Where): FlowName {
  if (FLOWS.includes(value as FlowName)) return value as FlowName;
  throw new HistoryFormatError(`${where}: unknown flow ${JSON.stringify(value)} (known: ${FLOWS.join(', ')})`);
}

function parseStep(record: Record<string, unknown>, line: string, where: Where): StepRecord {
  const field = new Fields(record, line, where);
  const step = record.step as StepName;
  if (!STEP_NAMES.includes(step)) throw new HistoryFormatError(`${where}: unknown step ${JSON.stringify(record.step)} (known: ${STEP_NAMES.join(', ')})`);
  const outcome = record.outcome as StepOutcome;
  if (!STEP_OUTCOMES.includes(outcome)) throw new HistoryFormatError(`${where}: unknown step outcome ${JSON.stringify(record.outcome)}`);
  if (record.type !== STEP_OUTCOME_TYPE[outcome]) {
    throw new HistoryFormatError(`${where}: outcome ${outcome} must have type ${STEP_OUTCOME_TYPE[outcome]}, not ${JSON.stringify(record.type)}`);
  }
  const succeeded = outcome === 'reserved' || outcome === 'confirmed' || outcome === 'cancelled';
  if (succeeded && outcome !== STEP_SUCCESS[step]) throw new HistoryFormatError(`${where}: a ${step} step cannot end ${outcome}`);
  const parsed: StepRecord = {
    kind: 'step',
    process: field.count('process'),
    buyer: field.text('buyer'),
    flow_id: field.text('flow_id'),
    step,
    request_id: field.text('request_id'),
    type: STEP_OUTCOME_TYPE[outcome],
    outcome,
    t_inv: field.time('t_inv'),
    t_cmp: field.time('t_cmp'),
    status: field.nullableCount('status'),
    reservation_id: field.nullableText('reservation_id'),
    quantity: field.count('quantity', 1),
    remaining: field.nullableInteger('remaining'),
    ttl_ms: field.nullableNumber('ttl_ms'),
    error: field.nullableText('error'),
  };
  if (parsed.t_cmp < parsed.t_inv) throw new HistoryFormatError(`${where}: t_cmp is before t_inv`);
  if (outcome === 'reserved' && parsed.reservation_id === null) throw new HistoryFormatError(`${where}: a reserved step must carry its reservation_id`);
  if (parsed.ttl_ms !== null && !(parsed.ttl_ms > 0)) throw new HistoryFormatError(`${where}: "ttl_ms" must be above 0`);
  return parsed;
}

function parseOp(record: Record<string, unknown>, line: string, where: Where): OpRecord {
  const field = new Fields(record, line, where);
  const outcome = record.outcome as Outcome;
  if (!OUTCOMES.includes(outcome)) throw new HistoryFormatError(`${where}: unknown outcome ${JSON.stringify(record.outcome)}`);
  if (record.type !== OUTCOME_TYPE[outcome]) {
    throw new HistoryFormatError(`${where}: outcome ${outcome} must have type ${OUTCOME_TYPE[outcome]}, not ${JSON.stringify(record.type)}`);
  }
  const op: OpRecord = {
    kind: 'op',
    process: field.count('process'),
    buyer: field.text('buyer'),
    request_id: field.text('request_id'),
    type: OUTCOME_TYPE[outcome],
    outcome,
    t_inv: field.time('t_inv'),
    t_cmp: field.time('t_cmp'),
    status: field.nullableCount('status'),
    // Any integer: a negative remaining in an ok answer is evidence (H1).
    remaining: field.nullableInteger('remaining'),
    purchase_id: field.nullableText('purchase_id'),
    error: field.nullableText('error'),
  };
  if (op.t_cmp < op.t_inv) throw new HistoryFormatError(`${where}: t_cmp is before t_inv`);
  return op;
}

const END_REASONS: readonly EndReason[] = ['done', 'interrupted', 'target_lost'];

function parseEnd(record: Record<string, unknown>, line: string, where: Where): HistoryEnd {
  const field = new Fields(record, line, where);
  const reason = record.reason as EndReason;
  if (!END_REASONS.includes(reason)) throw new HistoryFormatError(`${where}: the end record's reason must be one of ${END_REASONS.join(', ')}, found ${JSON.stringify(record.reason)}`);
  return { kind: 'end', planned: field.count('planned'), recorded: field.count('recorded'), reason };
}

function parseFault(record: Record<string, unknown>, line: string, where: Where): FaultRecord {
  const field = new Fields(record, line, where);
  const fault: FaultRecord = {
    kind: 'fault',
    name: field.text('name'),
    detail: field.text('detail', ''),
    t_start: field.time('t_start'),
    t_end: field.time('t_end'),
    error: field.nullableText('error'),
  };
  if (fault.t_end < fault.t_start) throw new HistoryFormatError(`${where}: the fault's t_end is before its t_start`);
  return fault;
}

/** Where a line is, spelled `file:line` only when an error needs it. */
class Where {
  constructor(
    private readonly path: string,
    private readonly lineNumber: number,
  ) {}

  toString(): string {
    return `${this.path}:${this.lineNumber}`;
  }
}

/** Typed access to one line's fields, each failure naming the field. */
class Fields {
  constructor(
    private readonly record: Record<string, unknown>,
    private readonly line: string,
    private readonly where: Where,
  ) {}

  private bad(name: string, expected: string): never {
    throw new HistoryFormatError(`${this.where}: "${name}" must be ${expected}, found ${JSON.stringify(this.record[name]) ?? 'nothing'}`);
  }

  text(name: string, fallback?: string): string {
    const value = this.record[name];
    if (value === undefined && fallback !== undefined) return fallback;
    return typeof value === 'string' ? value : this.bad(name, 'a string');
  }

  nullableText(name: string): string | null {
    const value = this.record[name];
    if (value === undefined || value === null) return null;
    // Some servers give numeric purchase ids; the format keeps them as text.
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    return typeof value === 'string' ? value : this.bad(name, 'a string or null');
  }

  count(name: string, fallback?: number): number {
    const value = this.record[name];
    if (value === undefined && fallback !== undefined) return fallback;
    return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : this.bad(name, 'a whole number');
  }

  nullableCount(name: string): number | null {
    const value = this.record[name];
    if (value === undefined || value === null) return null;
    return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : this.bad(name, 'a whole number or null');
  }

  nullableInteger(name: string): number | null {
    const value = this.record[name];
    if (value === undefined || value === null) return null;
    return Number.isSafeInteger(value) ? (value as number) : this.bad(name, 'a whole number (negative allowed) or null');
  }

  positiveNumber(name: string): number {
    const value = this.record[name];
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : this.bad(name, 'a number above 0');
  }

  nullableNumber(name: string): number | null {
    const value = this.record[name];
    if (value === undefined || value === null) return null;
    return typeof value === 'number' && Number.isFinite(value) ? value : this.bad(name, 'a number or null');
  }

  /**
   * A nanosecond time. JSON.parse reads it as a double, exact below 2^53
   * (about 104 days of uptime); above that the digits are taken from the
   * line itself so no nanosecond is lost.
   */
  time(name: string, fallback?: bigint): bigint {
    const value = this.record[name];
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return this.bad(name, 'a whole number of nanoseconds');
    if (Number.isSafeInteger(value)) return BigInt(value);
    const digits = new RegExp(`(?:^|[{,])\\s*"${name}"\\s*:\\s*(\\d+)`).exec(this.line)?.[1];
    return digits ? BigInt(digits) : this.bad(name, 'a whole number of nanoseconds');
  }
}
