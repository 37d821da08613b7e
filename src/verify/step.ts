import type { OpType, StepName, StepOutcome, StepRecord } from '../history/types.js';
import { formatMs } from './operation.js';

/**
 * One step of a reservation flow as the checks see it: the history's step
 * line with times made relative to the run's base (nanoseconds, as doubles,
 * as Operation has them), so the real-time sweeps compare numbers.
 */
export interface Step {
  step: StepName;
  type: OpType;
  outcome: StepOutcome;
  /** When the request was handed to the client. */
  invoke: number;
  /** When its answer was read. */
  complete: number;
  /** The flow (its reserve's request id) this step belongs to. */
  flowId: string;
  requestId: string;
  buyer: string;
  /** The reservation made (reserve) or acted on (confirm, cancel); null when a reserve got none. */
  reservationId: string | null;
  /** Units of the hold. */
  quantity: number;
  /** Available stock the answer stated, or null. */
  remaining: number | null;
  /** A reserve's hold time as its answer stated it, in ms; null when not stated. */
  ttlMs: number | null;
  status: number | null;
  error: string | null;
  process: number;
  /** The history file it came from, for witnesses. */
  file: string;
  /** Its line in that file. */
  line: number;
}

/** A step record with its times made relative to `base`. */
export function toStep(record: StepRecord, base: bigint, file: string, line: number): Step {
  return {
    step: record.step,
    type: record.type,
    outcome: record.outcome,
    invoke: Number(record.t_inv - base),
    complete: Number(record.t_cmp - base),
    flowId: record.flow_id,
    requestId: record.request_id,
    buyer: record.buyer,
    reservationId: record.reservation_id,
    quantity: record.quantity,
    remaining: record.remaining,
    ttlMs: record.ttl_ms,
    status: record.status,
    error: record.error,
    process: record.process,
    file,
    line,
  };
}

/** A short human description of a step for witness lines. */
export function describeStep(step: Step): string {
  const reservation = step.reservationId !== null ? ` of ${step.reservationId}` : '';
  const remaining = step.remaining !== null ? `, remaining ${step.remaining}` : '';
  const ttl = step.ttlMs !== null ? `, ttl ${step.ttlMs} ms` : '';
  const why = step.type === 'info' && step.error ? ` (${step.error})` : '';
  return (
    `${step.buyer} ${step.step} request ${step.requestId}${reservation}: ${step.outcome}${why}, ${step.quantity} unit${step.quantity === 1 ? '' : 's'}${remaining}${ttl}; ` +
    `invoked ${formatMs(step.invoke)}, completed ${Number.isFinite(step.complete) ? formatMs(step.complete) : 'never'} [${step.file}:${step.line}]`
  );
}
