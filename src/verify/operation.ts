import type { OpType, Outcome } from '../history/types.js';

/**
 * What became of an operation: a recorded outcome, or `unrecorded` for a
 * request the run planned but whose answer the history does not have (it was
 * cut short). Unrecorded operations are unknowns (info), invoked any time
 * after the start barrier, never completing.
 */
export type OperationOutcome = Outcome | 'unrecorded';

/**
 * One operation as the checks see it: the history's op line reduced to what
 * reasoning needs. Times are nanoseconds relative to the run's first
 * invocation, as doubles (exact for any run shorter than 104 days), so the
 * hot loops compare numbers, not bigints.
 */
export interface Operation {
  type: OpType;
  outcome: OperationOutcome;
  /** When the request was handed to the client. */
  invoke: number;
  /** When its answer was read; Infinity for an operation whose effect may land at any later time. */
  complete: number;
  /** Stock the answer says is left, or null. */
  remaining: number | null;
  /** Units the request asked for. */
  quantity: number;
  /** The request id; empty for an unrecorded request of a history whose ids cannot be derived. */
  requestId: string;
  /** The buyer id; empty when unknown, as for requestId. */
  buyer: string;
  /** The purchase id the answer gave (joins a ledger keyed by it), or null. */
  purchaseId: string | null;
  /** Attacking process that sent it. */
  process: number;
  status: number | null;
  error: string | null;
  /** The history file it came from (one shared string per file), for witnesses. */
  file: string;
  /** Its line in that file. */
  line: number;
}

/** The relation the real-time checks rest on: a completed before b was invoked. */
export function precedes(a: Operation, b: Operation): boolean {
  return a.complete < b.invoke;
}

/** A short human description of an operation for witness lines. */
export function describeOperation(op: Operation): string {
  const answer =
    op.type === 'ok'
      ? `bought ${op.quantity}, remaining ${op.remaining ?? '?'}`
      : op.type === 'fail'
        ? `${op.outcome}${op.remaining !== null ? `, remaining ${op.remaining}` : ''}`
        : `${op.outcome}${op.error ? ` (${op.error})` : ''}`;
  const completed = Number.isFinite(op.complete) ? `${formatMs(op.complete)}` : 'never';
  if (op.outcome === 'unrecorded') {
    const who = op.requestId ? `${op.buyer} request ${op.requestId}` : 'a planned request';
    return `${who}: no answer recorded (the history of ${op.file} is incomplete); invoked after ${formatMs(op.invoke)}`;
  }
  const purchase = op.purchaseId !== null ? `, purchase ${op.purchaseId}` : '';
  // A missing shard's request (no line of any file) may have been sent at any time.
  const when = Number.isFinite(op.invoke) ? `invoked ${formatMs(op.invoke)}, completed ${completed}` : 'sent at an unknown time, no answer recorded';
  const where = op.line > 0 ? `${op.file}:${op.line}` : op.file;
  return `${op.buyer} request ${op.requestId}: ${answer}${purchase}; ${when} [${where}]`;
}

/** Nanoseconds after the run's base, as a witness prints them. */
export function formatMs(ns: number): string {
  return `${(ns / 1e6).toFixed(3)} ms`;
}
