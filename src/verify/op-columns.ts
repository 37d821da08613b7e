import { OUTCOME_TYPE, OUTCOMES, type OpRecord } from '../history/types.js';
import type { Operation } from './operation.js';

/**
 * Operations as a handful of typed arrays and one string: the form in which
 * a parsing worker hands its slice of a history to the main thread. Typed
 * arrays move between threads without a copy, and one long string with its
 * cut points costs far less to pass than a million small objects, which the
 * structured clone would rebuild one by one.
 */
export interface OpColumns {
  count: number;
  /** Index into OUTCOMES. */
  outcome: Uint8Array;
  process: Uint32Array;
  /** Nanoseconds after the run's base time, as Operation has them. */
  invoke: Float64Array;
  complete: Float64Array;
  /** -1 for null. */
  status: Int32Array;
  /** NaN for null (any integer is a value: a negative remaining is evidence). */
  remaining: Float64Array;
  /** Each op's line, numbered as its reader numbered it (a slice starts at line 2). */
  line: Uint32Array;
  /** Every op's buyer, request id and purchase id ('' for none), end to end. */
  text: string;
  /** Where each of those strings ends in `text`: three per op. */
  ends: Uint32Array;
  /** 1 where the op's answer gave a purchase id (which may be ''), 0 for null. */
  hasPurchase: Uint8Array;
  /** The ops whose `error` is not null, by index: few in a healthy run. */
  errors: Array<[number, string]>;
}

/** Collects op records into columns, times made relative to `base` (hrtime ns). */
export class OpPacker {
  private readonly outcome: number[] = [];
  private readonly process: number[] = [];
  private readonly invoke: number[] = [];
  private readonly complete: number[] = [];
  private readonly status: number[] = [];
  private readonly remaining: number[] = [];
  private readonly line: number[] = [];
  private readonly hasPurchase: number[] = [];
  private readonly strings: string[] = [];
  private readonly ends: number[] = [];
  private readonly errors: Array<[number, string]> = [];
  private length = 0;

  constructor(private readonly base: bigint) {}

  /** Adds one op read from `line`. */
  add(op: OpRecord, line: number): void {
    if (op.error !== null) this.errors.push([this.outcome.length, op.error]);
    this.line.push(line);
    this.outcome.push(OUTCOMES.indexOf(op.outcome));
    this.process.push(op.process);
    this.invoke.push(Number(op.t_inv - this.base));
    this.complete.push(Number(op.t_cmp - this.base));
    this.status.push(op.status ?? -1);
    this.remaining.push(op.remaining ?? NaN);
    const purchaseId = op.purchase_id ?? '';
    this.hasPurchase.push(op.purchase_id === null ? 0 : 1);
    this.strings.push(op.buyer, op.request_id, purchaseId);
    this.length += op.buyer.length;
    this.ends.push(this.length);
    this.length += op.request_id.length;
    this.ends.push(this.length);
    this.length += purchaseId.length;
    this.ends.push(this.length);
  }

  finish(): OpColumns {
    return {
      count: this.outcome.length,
      outcome: Uint8Array.from(this.outcome),
      process: Uint32Array.from(this.process),
      invoke: Float64Array.from(this.invoke),
      complete: Float64Array.from(this.complete),
      status: Int32Array.from(this.status),
      remaining: Float64Array.from(this.remaining),
      line: Uint32Array.from(this.line),
      text: this.strings.join(''),
      ends: Uint32Array.from(this.ends),
      hasPurchase: Uint8Array.from(this.hasPurchase),
      errors: this.errors,
    };
  }
}

/** The buffers a postMessage can hand over instead of copying. */
export function transferables(columns: OpColumns): ArrayBuffer[] {
  const { outcome, process, invoke, complete, status, remaining, line, ends, hasPurchase } = columns;
  return [outcome, process, invoke, complete, status, remaining, line, ends, hasPurchase].map((array) => array.buffer as ArrayBuffer);
}

/** Where unpacked operations come from, for their witnesses. */
export interface ColumnsOrigin {
  /** The history file's name. */
  file: string;
  /** What to add to a column's line numbers (which start at 2 in every slice) to get the file's. */
  lineOffset: number;
  /** Units each request asked for (the meta line's quantity). */
  quantity: number;
}

/** Appends the columns' operations to `ops`, in order; `each` sees every one (shard checks). */
export function unpackOps(columns: OpColumns, origin: ColumnsOrigin, ops: Operation[], each?: (op: Operation) => void): void {
  const { outcome: outcomes, process, invoke, complete, status, remaining, line, text, ends } = columns;
  // In index order: walked alongside, not looked up.
  const { errors, hasPurchase } = columns;
  let nextError = 0;
  const { file, lineOffset, quantity } = origin;
  let from = 0;
  for (let i = 0; i < columns.count; i++) {
    const outcome = OUTCOMES[outcomes[i]!]!;
    const buyerEnd = ends[3 * i]!;
    const requestEnd = ends[3 * i + 1]!;
    const purchaseEnd = ends[3 * i + 2]!;
    // The same fields in the same order as the sequential loader builds, so
    // every Operation shares one shape and the checks' loops stay fast.
    const op: Operation = {
      type: OUTCOME_TYPE[outcome],
      outcome,
      invoke: invoke[i]!,
      complete: complete[i]!,
      remaining: Number.isNaN(remaining[i]!) ? null : remaining[i]!,
      quantity,
      requestId: text.slice(buyerEnd, requestEnd),
      buyer: text.slice(from, buyerEnd),
      purchaseId: hasPurchase[i] ? text.slice(requestEnd, purchaseEnd) : null,
      process: process[i]!,
      status: status[i]! < 0 ? null : status[i]!,
      error: errors[nextError]?.[0] === i ? errors[nextError++]![1] : null,
      file,
      line: lineOffset + line[i]!,
    };
    from = purchaseEnd;
    each?.(op);
    ops.push(op);
  }
}
