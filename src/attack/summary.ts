import type { EndReason, FlowName, Outcome, OpType, StepName, StepOutcome } from '../history/types.js';
import type { LatencyMs } from './histogram.js';
import type { ThresholdResult } from './thresholds.js';

/** Open model: an arrival sent more than this after its intended time counts as late. */
export const LATE_AFTER_MS = 5;

/** One injected fault, as the summary reports it. */
export interface FaultSummary {
  name: string;
  detail: string;
  /** Share of the planned buyers answered before it was to run. */
  at: number;
  /** False when the run ended before that share was answered. */
  ran: boolean;
  /** When it started, seconds after the start barrier; null if it never ran. */
  started_s: number | null;
  /** How long it took, seconds; null if it never ran. */
  duration_s: number | null;
  /** Why it failed, or null. */
  error: string | null;
}

/** One step of a flow, as the summary reports it. */
export interface StepSummary {
  /** Step lines written for this step. */
  total: number;
  /** Step lines per outcome. */
  outcomes: Record<StepOutcome, number>;
  /** Latency of this step's requests; null if none completed. */
  latency_ms: LatencyMs | null;
}

/** What `attack --flow` adds to the summary: the flow's settings, and counts and latency per step. */
export interface FlowSummary {
  name: FlowName;
  /** Share of held flows told to confirm (--confirm). */
  confirm_share: number;
  /** Share of held flows told to cancel (--cancel); the rest abandon. */
  cancel_share: number;
  /** Think time range between a hold and its confirm or cancel. */
  think_ms: { min: number; max: number };
  /** Path of each step's request on the target's origin. */
  paths: Record<StepName, string>;
  /** Flows started (each with its reserve). */
  flows: number;
  /** Flows that held and then, as drawn, sent nothing more. */
  abandoned: number;
  /**
   * Flows that held and were drawn to confirm or cancel, but did not send it:
   * the run was stopped during the think time, or the reserve's answer lacked
   * a field the step's body names.
   */
  unsent: number;
  steps: Record<StepName, StepSummary>;
}

/**
 * What `flashsale attack` reports: the same object is the `--json` output
 * and the source of the table, so the two can never disagree.
 */
export interface AttackSummary {
  /** The URL attacked. */
  target: string;
  method: string;
  /** The history file written. */
  history: string;
  /** `closed` (C in flight) or `open` (arrivals at a rate). */
  model: 'closed' | 'open';
  processes: number;
  concurrency: number;
  /** Arrivals per second (open model), or null. */
  rate: number | null;
  seed: number;
  /** Prefix of this run's request ids. */
  run_id: string;
  /** Wall-clock start, ISO 8601. */
  started_at: string;
  /** Buyers planned. */
  buyers: number;
  /** Requests handed to the HTTP client. */
  sent: number;
  /** Operations completed and written to the history (one line each). */
  completed: number;
  /** True when Ctrl-C (or a signal) stopped the run early: the figures are partial. */
  interrupted: boolean;
  /** The history's end line reason: `done`, `interrupted` (Ctrl-C, SIGTERM) or `target_lost`. */
  end_reason: EndReason;
  /** Why the target counts as lost (connections refused for longer than the timeout), or null. */
  target_lost: string | null;
  /**
   * True when some answer came before another request was sent, so the
   * real-time checks (H4, H5) have something to compare; false when every
   * request left before the first answer.
   */
  realtime_overlap: boolean;
  /** The faults injected (`--fault`, prove's faults), in the order given. */
  faults: FaultSummary[];
  /** Operations per outcome. */
  outcomes: Record<Outcome, number>;
  /** Operations per type: ok (surely bought), fail (surely not), info (unknown). */
  types: Record<OpType, number>;
  /** From the start barrier's release to the last completion. */
  duration_s: number;
  /** Completed operations per second over that duration. */
  requests_per_second: number;
  /** Latency from invocation (closed) or intended send time (open), merged over all processes; null if nothing completed. */
  latency_ms: LatencyMs | null;
  /** Open model: arrivals sent more than LATE_AFTER_MS after their intended time. */
  late: number;
  /** Open model: arrivals never sent because no connection was free within the timeout of their intended time. */
  dropped: number;
  /** Open model: largest delay between an arrival's intended and actual send time. */
  max_lateness_ms: number;
  /** Connections opened before the start barrier, and those that failed to open. */
  connections: { opened: number; failed: number };
  /** Causes of outcomes other than bought and sold_out, most frequent first. */
  errors: { cause: string; count: number }[];
  /**
   * `attack --flow`: per-step counts and latency. Then `outcomes` and `types`
   * are all zero (there are step lines, no op lines) and `completed`,
   * `sent`, `latency_ms` count every step's request.
   */
  flow?: FlowSummary;
  /** `--threshold`: each threshold's verdict, in the order given; absent when none was given. */
  thresholds?: ThresholdResult[];
}
