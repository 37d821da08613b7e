// The verdict model: what every check returns and what the renderers
// (terminal table, JSON, JUnit) print. Nothing here knows how a check works.

/**
 * PASS: ran and found nothing. FAIL: found an anomaly whatever the unknowns
 * turned out to be. UNKNOWN: could not run for lack of an input the user can
 * give (`needs` names it): the verdict is INCONCLUSIVE. N/A: cannot apply,
 * because the server never reports what it needs (no remaining stock in any
 * answer, no key to join the ledger on), or the clocks cannot be compared;
 * says why, and does not hold the verdict back.
 */
export type CheckStatus = 'PASS' | 'FAIL' | 'UNKNOWN' | 'N/A';

/** PASS: every applicable check ran and passed. INCONCLUSIVE: none failed, but some could not run. */
export type VerdictStatus = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

/** The evidence for a failure: enough for a person to find the requests and rows. */
export interface Witness {
  /** One sentence saying what is wrong. */
  message: string;
  /** The operations involved, each described with buyer, request id and times. */
  operations?: string[];
  /** The ledger rows involved. */
  rows?: string[];
}

export interface CheckResult {
  /** H1…H6, D1…D6, E1. */
  id: string;
  /** e.g. `ok-range`. */
  name: string;
  status: CheckStatus;
  /** The counts the check used, in one line. */
  summary: string;
  /** For FAIL: the first few witnesses; `violations` says how many there were in all. */
  witnesses: Witness[];
  /** Total violations found (0 when passing). */
  violations: number;
  /** For UNKNOWN and N/A: why it could not decide (and, for UNKNOWN, what would let it). */
  reason?: string;
  /** For UNKNOWN: the input that would decide it, e.g. `--db`, `--initial-stock`. */
  needs?: string;
  /** For UNKNOWN: the user chose to go without that input (`--history-only`), so it does not make the verdict INCONCLUSIVE. */
  waived?: boolean;
}

export interface Verdict {
  /** FAIL when a check failed; else INCONCLUSIVE when one is UNKNOWN (and not waived); else PASS. */
  status: VerdictStatus;
  checks: CheckResult[];
  /** One line for the bottom of the report. */
  headline: string;
  /** What was audited: operation counts by type, stock figures, sources. */
  inputs: Record<string, unknown>;
}

/** How many witnesses a check keeps; the rest are only counted. */
export const MAX_WITNESSES = 5;

export function pass(id: string, name: string, summary: string): CheckResult {
  return { id, name, status: 'PASS', summary, witnesses: [], violations: 0 };
}

/** Could not run: `needs` is the input (a flag) that would decide it. */
export function unknown(id: string, name: string, needs: string, reason: string, summary = ''): CheckResult {
  return { id, name, status: 'UNKNOWN', summary, witnesses: [], violations: 0, reason, needs };
}

/** Cannot apply to this server or run, for the reason given. */
export function notApplicable(id: string, name: string, reason: string, summary = ''): CheckResult {
  return { id, name, status: 'N/A', summary, witnesses: [], violations: 0, reason };
}

/** "1 unit", "2 units". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** PASS when nothing was found, FAIL with the first witnesses otherwise. */
export function judged(id: string, name: string, summary: string, violations: number, witnesses: Witness[]): CheckResult {
  if (violations === 0) return pass(id, name, summary);
  return { id, name, status: 'FAIL', summary, witnesses: witnesses.slice(0, MAX_WITNESSES), violations };
}

/** Collects witnesses up to the limit while counting all violations. */
export class WitnessList {
  readonly witnesses: Witness[] = [];
  count = 0;

  add(make: () => Witness): void {
    this.count += 1;
    if (this.witnesses.length < MAX_WITNESSES) this.witnesses.push(make());
  }
}
