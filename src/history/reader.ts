import { createReadStream } from 'node:fs';
import { HistoryFormatError } from '../errors.js';
import { HISTORY_SCHEMA, OUTCOME_TYPE, OUTCOMES, type HistoryMeta, type HistoryRecord, type OpRecord, type Outcome } from './types.js';

// A streaming reader: one line in memory at a time (plus one read chunk), so
// a history of millions of operations is read in constant memory. Every line
// is checked against the format; a bad one is a HistoryFormatError naming the
// file and line, never a silently skipped record.

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
}

/** Reads the meta line and returns it with generators over the operations. */
export async function openHistory(path: string): Promise<OpenedHistory> {
  const chunks = readHistoryBatches(path);
  let first = await chunks.next();
  while (!first.done && first.value.length === 0) first = await chunks.next();
  if (first.done) throw new HistoryFormatError(`${path} is empty: not a flashsale history`);
  const [meta, ...firstOps] = first.value as [HistoryMeta, ...OpRecord[]];
  async function* batches(): AsyncGenerator<OpRecord[]> {
    if (firstOps.length > 0) yield firstOps;
    for await (const batch of chunks) yield batch as OpRecord[];
  }
  const shared = batches();
  async function* ops(): AsyncGenerator<OpRecord> {
    for await (const batch of shared) yield* batch;
  }
  return { meta, ops: ops(), batches: shared };
}

/** Every record of a history file: the meta line first, then one op per line. */
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

/**
 * The records of a history file, one array per read chunk (about 1 MiB of
 * lines). Given a range, only the op lines in it, numbered as if the range
 * began at line 2: the caller, which knows the lines before it, renumbers.
 */
export async function* readHistoryBatches(path: string, range?: HistoryRange): AsyncGenerator<HistoryRecord[]> {
  let lineNumber = range ? 1 : 0;
  let rest = '';
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20, ...(range && { start: range.start, end: range.end - 1 }) });
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
        const record = parseHistoryLine(line, path, lineNumber);
        // The op stream carries ops only; end and fault lines are not operations.
        if (record.kind === 'op' || record.kind === 'meta') batch.push(record);
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
    try {
      JSON.parse(rest);
    } catch (error) {
      throw new HistoryFormatError(`${path}:${lineNumber}: the last line is cut short (was the attack killed while writing?)`, { cause: error });
    }
    yield [parseHistoryLine(rest, path, lineNumber)];
  }
  if (lineNumber === 0) throw new HistoryFormatError(`${path} is empty: not a flashsale history`);
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
  // Written by attack since the end and fault records; skipped by the op stream above.
  if (record.kind === 'end' || record.kind === 'fault') return record as unknown as HistoryRecord;
  if (record.kind !== 'op') throw new HistoryFormatError(`${where}: expected an op line, found kind ${JSON.stringify(record.kind)}`);
  return parseOp(record, line, where);
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
  };
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
    remaining: field.nullableCount('remaining'),
    purchase_id: field.nullableText('purchase_id'),
    error: field.nullableText('error'),
  };
  if (op.t_cmp < op.t_inv) throw new HistoryFormatError(`${where}: t_cmp is before t_inv`);
  return op;
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
