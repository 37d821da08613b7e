import { STEP_OUTCOME_TYPE, type Outcome, type StepName, type StepOutcome } from '../history/types.js';
import { classifyAnswer, pick, shortBody, type Classified, type ClassifyRules } from './classify.js';
import type { FlowPlan } from './flow.js';
import type { RuleSources } from './plan.js';

// How one step's answer becomes a step outcome. The purchase rules of
// classify.ts do the work, with each step's statuses in the places of "bought"
// and "sold out": a reserve's ok is `reserved` and its refusal for stock
// `sold_out`; a confirm's or cancel's ok is `confirmed`/`cancelled` and its
// refusal for time `expired`. Refused, rejected and every unknown mean what
// they mean for a purchase, so the honesty rules cannot drift apart.

/** What one step's request became, ready to be written as a step line. */
export interface StepClassified {
  /** What the step became; its type is STEP_OUTCOME_TYPE's. */
  outcome: StepOutcome;
  /** Units the answer says are available, or null. */
  remaining: number | null;
  /** A reserve's reservation id from its answer; null otherwise. */
  reservationId: string | null;
  /** A reserve's stated hold time in ms; null otherwise. */
  ttlMs: number | null;
  /** The step line's `error`: why it is not plainly a success or a definite refusal, with details. */
  error: string | null;
  /** The same reason without details, for counting causes. */
  cause: string | null;
  /** A reserve's answer parsed as JSON, for `{{reserve.FIELD}}` in the next step; undefined otherwise. */
  answer: unknown;
}

/** The classify.ts rules of each step, compiled once per process. */
export type StepRules = Record<StepName, ClassifyRules>;

/**
 * Each step's rules. The reserve takes the purchase flags (--ok-status,
 * --sold-out-status, --ok-body, --sold-out-body, --remaining-field) with the
 * reservation id in the place of the purchase id; confirm and cancel take
 * --settle-ok-status and --expired-status, and report the remaining stock
 * only when the answer carries it. --refused-status/--refused-body apply to all.
 */
export function stepRules(rules: RuleSources, flow: FlowPlan): StepRules {
  const regex = (source: string | null) => (source === null ? null : new RegExp(source));
  const refused = { refusedStatus: rules.refusedStatus, refusedBody: regex(rules.refusedBody) };
  const settle: ClassifyRules = { okStatus: flow.settleOkStatus, soldOutStatus: flow.expiredStatus, okBody: null, soldOutBody: null, ...refused, remainingField: '', purchaseIdField: '' };
  return {
    reserve: {
      okStatus: rules.okStatus,
      soldOutStatus: rules.soldOutStatus,
      okBody: regex(rules.okBody),
      soldOutBody: regex(rules.soldOutBody),
      ...refused,
      remainingField: rules.remainingField,
      purchaseIdField: flow.reservationIdField,
    },
    confirm: settle,
    cancel: settle,
  };
}

/** Classifies a complete answer to one step (status, whole body, whether Retry-After came with a 5xx). */
export function classifyStepAnswer(step: StepName, status: number, body: string, rules: StepRules, flow: FlowPlan, remainingField: string, retryAfter: boolean): StepClassified {
  const classified = asStep(step, classifyAnswer(status, body, rules[step], retryAfter));
  if (step === 'reserve') {
    if (classified.outcome !== 'reserved') return classified;
    // A hold nobody can name cannot be confirmed or audited: not surely held.
    if (classified.reservationId === null) {
      return unknownBody(`HTTP ${status}, no "${flow.reservationIdField}" in the body`, body);
    }
    const answer = parse(body);
    const ttl = flow.ttlField ? pick(answer, flow.ttlField) : undefined;
    const ttlMs = typeof ttl === 'number' && ttl > 0 ? Math.round(ttl * 1000) : typeof ttl === 'string' && Number(ttl) > 0 ? Math.round(Number(ttl) * 1000) : null;
    return { ...classified, ttlMs, answer };
  }
  // A confirm or cancel may say how much is available; it need not.
  if (remainingField && classified.outcome !== 'refused' && classified.outcome !== 'rejected' && STEP_OUTCOME_TYPE[classified.outcome] !== 'info') {
    const remaining = pick(parse(body), remainingField);
    if (typeof remaining === 'number' && Number.isSafeInteger(remaining)) return { ...classified, remaining };
  }
  return classified;
}

/** A step without a whole answer: the same classification as a purchase's (classifyFailure, notSent, interrupted). */
export function asStep(step: StepName, classified: Classified): StepClassified {
  return {
    outcome: stepOutcome(step, classified.outcome),
    remaining: classified.remaining,
    reservationId: step === 'reserve' ? classified.purchaseId : null,
    ttlMs: null,
    error: classified.error,
    cause: classified.cause,
    answer: undefined,
  };
}

function stepOutcome(step: StepName, outcome: Outcome): StepOutcome {
  if (outcome === 'bought') return step === 'reserve' ? 'reserved' : step === 'confirm' ? 'confirmed' : 'cancelled';
  if (outcome === 'sold_out') return step === 'reserve' ? 'sold_out' : 'expired';
  return outcome;
}

function unknownBody(error: string, body: string): StepClassified {
  return { outcome: 'bad_body', remaining: null, reservationId: null, ttlMs: null, error: error + shortBody(body), cause: 'no reservation id', answer: undefined };
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
