// Multi-step flows (`attack --flow reserve-confirm`, issue 12): what each
// buyer does after its reserve, the per-step requests, and the counting the
// coordinator does for them. The loop that runs flows is flow-buyer.ts; how
// an answer becomes a step outcome is step-classify.ts.

import { ConfigError } from '../errors.js';
import { STEP_NAMES, STEP_OUTCOMES, type FlowName, type StepName, type StepOutcome } from '../history/types.js';
import { seededRandom } from './arrivals.js';
import { pick } from './classify.js';
import type { ResultMessage } from './protocol.js';
import type { FlowSummary } from './summary.js';
import { compileTemplate, type TemplateValues } from './template.js';

/** The flows `--flow` knows. */
export const FLOW_NAMES: readonly FlowName[] = ['reserve-confirm'];
/** Share of held flows that confirm when --confirm is not given. */
export const DEFAULT_CONFIRM_SHARE = 0.7;
/** Share of held flows that cancel when --cancel is not given (the rest abandon). */
export const DEFAULT_CANCEL_SHARE = 0.1;
/** Think time between a hold and its confirm or cancel when --think is not given. */
export const DEFAULT_THINK_MS = 100;
/** Statuses of a confirm or cancel that mean it happened (--settle-ok-status). */
export const DEFAULT_SETTLE_OK_STATUS: readonly number[] = [200];
/** Statuses of a confirm or cancel that mean the hold had expired (--expired-status). */
export const DEFAULT_EXPIRED_STATUS: readonly number[] = [410];
/** Default paths, resolved against --target like links (the reference server's routes). */
export const DEFAULT_STEP_PATHS: Readonly<Record<StepName, string>> = { reserve: '/reserve', confirm: '/confirm', cancel: '/cancel' };

/** What the command line asks of a flow; anything left out gets its default. */
export interface FlowOptions {
  /** `--flow`: the flow's name. */
  name: string;
  /** Share (0–1) of held flows that confirm. */
  confirm?: number | undefined;
  /** Share (0–1) of held flows that cancel; confirm + cancel ≤ 1, the rest abandon. */
  cancel?: number | undefined;
  /** Think time in ms, drawn uniformly from [min, max] per flow. */
  think?: { min: number; max: number } | undefined;
  /** Per-step path (or URL on the target's origin), resolved against --target. */
  paths?: Partial<Record<StepName, string>> | undefined;
  /** Per-step body templates; confirm and cancel may name `{{reserve.FIELD}}`. */
  bodies?: Partial<Record<StepName, string>> | undefined;
  /** Dotted path to the reservation id in the reserve's JSON answer. */
  reservationIdField?: string | undefined;
  /** Dotted path to the hold time in seconds in the reserve's JSON answer; "" for none. */
  ttlField?: string | undefined;
  /** Confirm and cancel statuses that mean the step happened. */
  settleOkStatus?: number[] | undefined;
  /** Confirm and cancel statuses that mean the hold had expired. */
  expiredStatus?: number[] | undefined;
}

/** A flow with every default filled in, in a form that crosses the IPC channel. */
export interface FlowPlan {
  /** The flow every buyer runs (the meta line's `flow`). */
  name: FlowName;
  /** Share of held flows that confirm. */
  confirmShare: number;
  /** Share of held flows that cancel; the rest abandon. */
  cancelShare: number;
  /** Think time range in ms, from the reserve's answer to the next step's send. */
  thinkMs: { min: number; max: number };
  /** Path and query of each step's request on the target's origin. */
  paths: Record<StepName, string>;
  /** Body template of each step. */
  bodies: Record<StepName, string>;
  /** Dotted path to the reservation id in the reserve's answer. */
  reservationIdField: string;
  /** Dotted path to the hold time in seconds; "" when the target states none. */
  ttlField: string;
  /** Confirm and cancel statuses that mean the step happened. */
  settleOkStatus: number[];
  /** Confirm and cancel statuses that mean the hold had expired. */
  expiredStatus: number[];
}

/** What a flow does once its hold exists. */
export type FlowNext = 'confirm' | 'cancel' | 'abandon';

/**
 * Checks the flow options against the rest of the attack (the target URL,
 * the method, --rate and --body as given) and fills in the defaults.
 */
export function resolveFlow(options: FlowOptions, context: { target: URL; method: string; rate: number | null; body: string | undefined }): FlowPlan {
  const name = options.name as FlowName;
  if (!FLOW_NAMES.includes(name)) throw new ConfigError(`--flow: unknown flow ${JSON.stringify(options.name)}; known: ${FLOW_NAMES.join(', ')}`);
  // Flows keep C buyers each running its whole flow (closed model); an open
  // model would need arrivals of flows whose second step has its own time.
  if (context.rate !== null) throw new ConfigError('--rate cannot be used with --flow: flows run the closed model (--concurrency flows in flight)');
  if (context.body !== undefined) throw new ConfigError('--body cannot be used with --flow; give --reserve-body, --confirm-body, --cancel-body');
  if (context.method === 'GET' || context.method === 'HEAD') throw new ConfigError(`--flow sends a body on every step; --method ${context.method} cannot carry one`);

  const confirmShare = options.confirm ?? DEFAULT_CONFIRM_SHARE;
  const cancelShare = options.cancel ?? Math.min(DEFAULT_CANCEL_SHARE, 1 - confirmShare);
  if (confirmShare + cancelShare > 1 + 1e-9) {
    throw new ConfigError(`--confirm ${confirmShare} and --cancel ${cancelShare} add up to more than 1; the rest of the held flows abandon`);
  }
  const thinkMs = options.think ?? { min: DEFAULT_THINK_MS, max: DEFAULT_THINK_MS };
  if (thinkMs.min > thinkMs.max) throw new ConfigError(`--think: the range ${thinkMs.min}ms..${thinkMs.max}ms ends before it starts`);

  const paths = Object.fromEntries(STEP_NAMES.map((step) => [step, stepPath(step, options.paths?.[step] ?? DEFAULT_STEP_PATHS[step], context.target)])) as Record<StepName, string>;

  const reservationIdField = (options.reservationIdField ?? 'reservation_id').trim();
  if (!reservationIdField) throw new ConfigError('--reservation-id-field cannot be empty: a confirm or cancel needs the hold it acts on');
  const settle = `{"reservation_id":"{{reserve.${reservationIdField}}}","buyer_id":"{{buyer}}"}`;
  const bodies: Record<StepName, string> = {
    reserve: options.bodies?.reserve ?? '{"buyer_id":"{{buyer}}","quantity":{{quantity}}}',
    confirm: options.bodies?.confirm ?? settle,
    cancel: options.bodies?.cancel ?? settle,
  };
  for (const step of STEP_NAMES) compileStepTemplate(bodies[step], `--${step}-body`, step !== 'reserve');

  const settleOkStatus = options.settleOkStatus ?? [...DEFAULT_SETTLE_OK_STATUS];
  const expiredStatus = options.expiredStatus ?? [...DEFAULT_EXPIRED_STATUS];
  const both = settleOkStatus.filter((status) => expiredStatus.includes(status));
  if (both.length > 0) throw new ConfigError(`status ${both.join(', ')} is in both --settle-ok-status and --expired-status`);

  return { name, confirmShare, cancelShare, thinkMs, paths, bodies, reservationIdField, ttlField: (options.ttlField ?? 'ttl_seconds').trim(), settleOkStatus, expiredStatus };
}

/** A step's path resolved against the target like a link; it must stay on the target's origin (one connection pool). */
function stepPath(step: StepName, path: string, target: URL): string {
  let url: URL;
  try {
    url = new URL(path, target);
  } catch {
    throw new ConfigError(`--${step}-path: ${JSON.stringify(path)} is not a path or URL`);
  }
  if (url.origin !== target.origin) throw new ConfigError(`--${step}-path: ${url.origin} is not the target's origin ${target.origin}; every step goes to one server`);
  return `${url.pathname}${url.search}`;
}

/**
 * What the flow of buyer `i` does after its hold, and how long it thinks
 * first: drawn from the seed and the buyer's index alone, so a rerun with
 * --seed makes the same choices however the buyers are spread over processes.
 */
export function flowDecision(flow: Pick<FlowPlan, 'confirmShare' | 'cancelShare' | 'thinkMs'>, seed: number, i: number): { next: FlowNext; thinkMs: number } {
  const random = seededRandom((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const u = random();
  const next: FlowNext = u < flow.confirmShare ? 'confirm' : u < flow.confirmShare + flow.cancelShare ? 'cancel' : 'abandon';
  const { min, max } = flow.thinkMs;
  return { next, thinkMs: min + (max - min) * random() };
}

/** A step body filled in: the buyer's values, and for confirm and cancel the reserve's JSON answer. */
export type StepTemplate = (values: TemplateValues, reserve: unknown) => { text: string } | { missing: string };

/** `{{reserve.FIELD}}`, FIELD a dotted path into the reserve's JSON answer. */
const RESERVE_PLACEHOLDER = /\{\{\s*reserve\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g;

/**
 * Compiles a step's body template: the placeholders of template.ts (checked
 * there), plus `{{reserve.FIELD}}` where `withReserve` allows it. A string
 * value is inserted JSON-escaped without its quotes, so it is safe inside a
 * JSON string (ids are unchanged); a number or boolean as written; an object
 * as JSON. A field the answer lacks makes the body `missing`: the step is
 * not sent rather than sent with a hole in it.
 */
export function compileStepTemplate(template: string, what: string, withReserve: boolean): StepTemplate {
  const pieces: ReturnType<typeof compileTemplate>[] = [];
  const fields: string[] = [];
  const compile = (part: string) => {
    // What RESERVE_PLACEHOLDER did not take would otherwise be sent as literal text.
    const malformed = /\{\{\s*reserve\b[^}]*\}\}/.exec(part);
    if (malformed) {
      throw new ConfigError(`${what}: ${malformed[0]} is not a field path; write {{reserve.FIELD}}, FIELD names joined by dots (letters, digits, _ $ -), such as {{reserve.data.id}}`);
    }
    try {
      return compileTemplate(part, what);
    } catch (error) {
      // template.ts lists its own placeholders; these bodies know one more.
      if (withReserve && error instanceof ConfigError) throw new ConfigError(`${error.message}, or {{reserve.FIELD}} for a field of the reserve's answer`);
      throw error;
    }
  };
  let last = 0;
  for (const match of template.matchAll(RESERVE_PLACEHOLDER)) {
    if (!withReserve) throw new ConfigError(`${what}: {{reserve.${match[1]}}} names the reserve's answer, which only confirm and cancel bodies have`);
    pieces.push(compile(template.slice(last, match.index)));
    fields.push(match[1]!);
    last = match.index + match[0].length;
  }
  pieces.push(compile(template.slice(last)));
  return (values, reserve) => {
    let text = pieces[0]!(values);
    for (let k = 0; k < fields.length; k++) {
      const value = pick(reserve, fields[k]!);
      if (value === undefined || value === null) return { missing: fields[k]! };
      text += (typeof value === 'string' ? JSON.stringify(value).slice(1, -1) : typeof value === 'object' ? JSON.stringify(value) : String(value)) + pieces[k + 1]!(values);
    }
    return { text };
  };
}

/** Step outcome counts, flat: step s, outcome k at s × STEP_OUTCOMES.length + k (the OPS message's `steps`). */
export function newStepCounts(): number[] {
  return new Array<number>(STEP_NAMES.length * STEP_OUTCOMES.length).fill(0);
}

/** Where one step's outcome is counted in a step-count array. */
export function stepSlot(step: StepName, outcome: StepOutcome): number {
  return STEP_NAMES.indexOf(step) * STEP_OUTCOMES.length + STEP_OUTCOMES.indexOf(outcome);
}

/** Adds a batch's step counts (if it has any) to the totals; returns the step lines it stands for. */
export function addStepCounts(totals: number[], batch: readonly number[] | undefined): number {
  if (!batch) return 0;
  let lines = 0;
  for (let k = 0; k < batch.length; k++) {
    totals[k]! += batch[k]!;
    lines += batch[k]!;
  }
  return lines;
}

/** The flow part of the attack summary, from the step lines counted and the children's results. */
export function flowSummary(
  flow: FlowPlan,
  counts: readonly number[],
  results: readonly ResultMessage[],
  // Given by the coordinator, which loads the histogram library while its children boot.
  { latencyMs, mergeHistograms }: Pick<typeof import('./histogram.js'), 'latencyMs' | 'mergeHistograms'>,
): FlowSummary {
  const steps = Object.fromEntries(
    STEP_NAMES.map((step, s) => {
      const outcomes = Object.fromEntries(STEP_OUTCOMES.map((outcome, k) => [outcome, counts[s * STEP_OUTCOMES.length + k] ?? 0])) as Record<StepOutcome, number>;
      const total = Object.values(outcomes).reduce((sum, count) => sum + count, 0);
      const histograms = results.map((result) => result.flow?.histograms[s]).filter((text): text is string => !!text);
      return [step, { total, outcomes, latency_ms: latencyMs(mergeHistograms(histograms)) }];
    }),
  ) as FlowSummary['steps'];
  const sum = (key: 'started' | 'abandoned' | 'unsent') => results.reduce((total, result) => total + (result.flow?.[key] ?? 0), 0);
  return {
    name: flow.name,
    confirm_share: flow.confirmShare,
    cancel_share: flow.cancelShare,
    think_ms: flow.thinkMs,
    paths: flow.paths,
    flows: sum('started'),
    abandoned: sum('abandoned'),
    unsent: sum('unsent'),
    steps,
  };
}
