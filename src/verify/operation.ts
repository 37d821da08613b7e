import type { OpType, Outcome } from '../history/types.js';

/**
 * One operation as the checks see it: the history's op line reduced to what
 * reasoning needs. Times are nanoseconds relative to the run's first
 * invocation, as doubles (exact for any run shorter than 104 days), so the
 * hot loops compare numbers, not bigints.
 */
export interface Operation {
  type: OpType;
  outcome: Outcome;
  /** When the request was handed to the client. */
  invoke: number;
  /** When its answer was read; Infinity for an operation whose effect may land at any later time. */
  complete: number;
  /** Stock the answer says is left, or null. */
  remaining: number | null;
  /** Units the request asked for. */
  quantity: number;
  requestId: string;
  buyer: string;
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
  return `${op.buyer} request ${op.requestId}: ${answer}; invoked ${formatMs(op.invoke)}, completed ${completed} [${op.file}:${op.line}]`;
}

function formatMs(ns: number): string {
  return `${(ns / 1e6).toFixed(3)} ms`;
}
