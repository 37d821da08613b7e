// The messages between the coordinator and its buyer processes, after
// autocannon's manager/worker protocol: one `cmd` word per message, plain
// data (structured clone) over the IPC channel, nothing else shared.
//
//   parent                         child
//   INIT {plan}          ───────▶  opens its connections
//                        ◀───────  READY {connected, failed}
//   (all children ready: the start barrier)
//   START {t0}           ───────▶  fires its buyers
//                        ◀───────  OPS {lines, outcomes}   (batches, as ops complete)
//   ACK                  ───────▶  (one per OPS, once the lines are written)
//   STOP {graceMs}       ───────▶  (Ctrl-C: no new requests, cut in-flight ones after graceMs)
//                        ◀───────  RESULT {histogram, …}   (after its last OPS)
//                        ◀───────  FAILED {message}        (instead, if it cannot go on)

import type { Outcome } from '../history/types.js';
import type { ChildPlan } from './plan.js';

/** Parent → child: what to do (sent once, before the barrier). */
export interface InitMessage {
  cmd: 'INIT';
  plan: ChildPlan;
}

/** Parent → child: the barrier is released; `t0` (hrtime ns, decimal) is the open model's time origin. */
export interface StartMessage {
  cmd: 'START';
  t0: string;
}

/** Parent → child: one OPS batch has been written; the child may have one more in flight. */
export interface AckMessage {
  cmd: 'ACK';
}

/** Parent → child: stop sending; requests still in flight after `graceMs` are cut and recorded as info. */
export interface StopMessage {
  cmd: 'STOP';
  graceMs: number;
}

export type ParentMessage = InitMessage | StartMessage | AckMessage | StopMessage;

/** Child → parent: connections are open; waiting at the barrier. */
export interface ReadyMessage {
  cmd: 'READY';
  /** Connections opened ahead of the start. */
  connected: number;
  /** Connections that could not be opened (they are retried when needed). */
  failed: number;
  /** Why the first failed connection failed, if any did. */
  error: string | null;
}

/** Child → parent: completed operations, already formatted as history lines. */
export interface OpsMessage {
  cmd: 'OPS';
  /** Whole op lines, each ending in a newline. */
  lines: string;
  /** Count of each outcome in this batch, in OUTCOMES order. */
  outcomes: number[];
  /** `attack --flow`: count of step lines in this batch per step and outcome (flow.ts stepSlot). */
  steps?: number[];
}

/** Child → parent: the child's totals, after its last OPS batch. */
export interface ResultMessage {
  cmd: 'RESULT';
  /** Latency histogram in microseconds, HdrHistogram compressed base64 encoding. */
  histogram: string;
  /** Count of each outcome, in OUTCOMES order. */
  outcomes: number[];
  /** Requests handed to the HTTP client. */
  sent: number;
  /** Open model: arrivals sent later than intended by more than LATE_AFTER_MS. */
  late: number;
  /** Open model: arrivals never sent because they were overdue by more than the timeout. */
  dropped: number;
  /** Largest lateness of a sent arrival, microseconds. */
  maxLatenessUs: number;
  /** hrtime (ns, decimal) of the first invocation and of the last completion; empty when none. */
  firstInvocation: string;
  /** hrtime (ns, decimal) of the last invocation and of the first answer (an HTTP answer, not a failure); empty when none. */
  lastInvocation: string;
  firstAnswer: string;
  lastCompletion: string;
  /** Why the child stopped sending because the target was lost, or null when it was not. */
  targetLost: string | null;
  /** Causes of info and fail outcomes other than sold out, with counts. */
  errors: Record<string, number>;
  /** `attack --flow`: what the child's flows did. */
  flow?: FlowResult;
}

/** A child's flow totals beyond the step counts. */
export interface FlowResult {
  /** Latency histogram per step, in STEP_NAMES order (encoded as `histogram`). */
  histograms: string[];
  /** Flows started. */
  started: number;
  /** Flows that held and were drawn to abandon. */
  abandoned: number;
  /** Flows drawn to confirm or cancel that did not send it (stopped, or a field missing). */
  unsent: number;
}

/** Child → parent: the child cannot go on (a bug, or a plan it cannot carry out). */
export interface FailedMessage {
  cmd: 'FAILED';
  message: string;
}

export type ChildMessage = ReadyMessage | OpsMessage | ResultMessage | FailedMessage;

/** Outcome counts as a record, from the array form the messages carry. */
export function outcomeRecord(counts: readonly number[], names: readonly Outcome[]): Record<Outcome, number> {
  return Object.fromEntries(names.map((name, k) => [name, counts[k] ?? 0])) as Record<Outcome, number>;
}
