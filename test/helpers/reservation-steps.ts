import { writeFileSync } from 'node:fs';
import type { HistoryMeta, StepRecord } from '../../src/history/types.js';
import { formatEndLine, formatMetaLine, formatStepLine } from '../../src/history/writer.js';
import type { Step } from '../../src/verify/step.js';

// Crafted reservation flows for the reservation checks' tests: steps in
// memory (times in ms, kept as ns like the loader keeps them) and the same
// steps written as a history file through the real writer.

const MS = 1_000_000;

type Extra = Partial<Omit<Step, 'step' | 'flowId' | 'reservationId' | 'invoke' | 'complete'>>;

function make(step: Step['step'], flowId: string, reservationId: string | null, invokeMs: number, completeMs: number, outcome: Step['outcome'], type: Step['type'], extra: Extra): Step {
  const suffix = step === 'reserve' ? '' : `.${step}`;
  return {
    step,
    type,
    outcome,
    invoke: invokeMs * MS,
    complete: completeMs * MS,
    flowId,
    requestId: `${flowId}${suffix}`,
    buyer: `buyer-${flowId}`,
    reservationId,
    quantity: 1,
    remaining: null,
    ttlMs: null,
    status: null,
    error: type === 'info' ? 'no answer within 5000 ms' : null,
    process: 0,
    file: 'crafted',
    line: 0,
    ...extra,
  };
}

/** An ok reserve of flow `flowId` that made `reservationId` (ttl 1000 ms unless said). */
export const reserved = (flowId: string, reservationId: string, invokeMs: number, completeMs: number, extra: Extra = {}) =>
  make('reserve', flowId, reservationId, invokeMs, completeMs, 'reserved', 'ok', { status: 201, ttlMs: 1000, ...extra });
/** A reserve whose answer never came. */
export const reserveUnknown = (flowId: string, invokeMs: number, extra: Extra = {}) => make('reserve', flowId, null, invokeMs, invokeMs + 5000, 'timeout', 'info', extra);
export const soldOut = (flowId: string, invokeMs: number, completeMs: number, extra: Extra = {}) =>
  make('reserve', flowId, null, invokeMs, completeMs, 'sold_out', 'fail', { status: 409, remaining: 0, ...extra });
export const confirmed = (flowId: string, reservationId: string, invokeMs: number, completeMs: number, extra: Extra = {}) =>
  make('confirm', flowId, reservationId, invokeMs, completeMs, 'confirmed', 'ok', { status: 200, ...extra });
export const confirmExpired = (flowId: string, reservationId: string, invokeMs: number, completeMs: number, extra: Extra = {}) =>
  make('confirm', flowId, reservationId, invokeMs, completeMs, 'expired', 'fail', { status: 410, ...extra });
export const confirmUnknown = (flowId: string, reservationId: string, invokeMs: number, extra: Extra = {}) => make('confirm', flowId, reservationId, invokeMs, invokeMs + 5000, 'timeout', 'info', extra);
export const cancelled = (flowId: string, reservationId: string, invokeMs: number, completeMs: number, extra: Extra = {}) =>
  make('cancel', flowId, reservationId, invokeMs, completeMs, 'cancelled', 'ok', { status: 200, ...extra });
export const cancelUnknown = (flowId: string, reservationId: string, invokeMs: number, extra: Extra = {}) => make('cancel', flowId, reservationId, invokeMs, invokeMs + 5000, 'timeout', 'info', extra);

/** The meta line of a crafted flow run. */
export function flowMeta(runId: string, flows: number, base: bigint): HistoryMeta {
  return {
    kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/reserve', buyers: flows, started_at: '2026-12-07T00:00:00.000Z', method: 'POST',
    quantity: 1, processes: 1, concurrency: 10, rate: null, seed: 1, run_id: runId, host_id: 'test/boot', ready_at: base, released_at: base, flow: 'reserve-confirm',
  };
}

/** The step as attack writes it, its times `base` + the step's. */
export function stepRecord(step: Step, base: bigint): StepRecord {
  return {
    kind: 'step', process: step.process, buyer: step.buyer, flow_id: step.flowId, step: step.step, request_id: step.requestId, type: step.type, outcome: step.outcome,
    t_inv: base + BigInt(Math.round(step.invoke)), t_cmp: base + BigInt(Math.round(step.complete)), status: step.status, reservation_id: step.reservationId, quantity: step.quantity,
    remaining: step.remaining, ttl_ms: step.ttlMs, error: step.error,
  };
}

/** Writes the steps as a complete flow history (meta, steps, end) of `flows` planned flows. */
export function writeFlowHistory(path: string, runId: string, flows: number, steps: Step[], options: { end?: boolean } = {}): void {
  const base = 7_000_000_000n;
  const lines = [formatMetaLine(flowMeta(runId, flows, base)), ...steps.map((step) => formatStepLine(stepRecord(step, base)))];
  if (options.end !== false) lines.push(formatEndLine({ kind: 'end', planned: flows, recorded: steps.length, reason: 'done' }));
  writeFileSync(path, lines.join(''));
}
