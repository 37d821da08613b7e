// The verdict model: what every check returns and what the renderers
// (terminal table, JSON, JUnit) print. Nothing here knows how a check works.

export type CheckStatus = 'PASS' | 'FAIL' | 'UNKNOWN';

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
  /** For UNKNOWN: why it could not decide and what would let it. */
  reason?: string;
}

export interface Verdict {
  /** PASS when no check failed; FAIL otherwise. UNKNOWN checks are counted, not hidden. */
  status: 'PASS' | 'FAIL';
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

export function unknown(id: string, name: string, reason: string, summary = ''): CheckResult {
  return { id, name, status: 'UNKNOWN', summary, witnesses: [], violations: 0, reason };
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
