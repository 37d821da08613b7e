import type { FaultInjection } from '../../attack/fault.js';
import type { FaultName } from './fault-names.js';

/** One fault of a faults scenario, as prove's table and JSON report it. */
export interface FaultReport {
  name: FaultName;
  /** Share of the planned buyers answered before it was due (0 < at < 1). */
  at: number;
  /** What it did once it ran (which process, how many connections), or what it was to do. */
  detail: string;
  /** True once the attack started it. A fault that never ran proves nothing: the scenario fails. */
  ran: boolean;
  /** Why the fault itself failed (no restart came, the database refused the KILL…), or null. */
  error: string | null;
  /** Why it was not injected on this database (drop on SQLite); the scenario says so instead of passing silently. */
  skipped: string | null;
  /** How long it lasted, ms, once it ran. */
  durationMs: number | null;
}

/** A fault that was not injected, and why. */
export function skippedFault(name: FaultName, reason: string): FaultReport {
  return { name, at: 0, detail: '', ran: false, error: null, skipped: reason, durationMs: null };
}

/**
 * Wraps the action of one fault into the attack's FaultInjection, keeping
 * prove's own account of it: whether the attack ran it, what it did, how it
 * ended. The action resolves with the detail of what it did.
 */
export function trackedFault(name: FaultName, at: number, plan: string, action: () => Promise<string>): { injection: FaultInjection; report: FaultReport } {
  const report: FaultReport = { name, at, detail: plan, ran: false, error: null, skipped: null, durationMs: null };
  const injection: FaultInjection = {
    at,
    name,
    detail: plan,
    async run() {
      report.ran = true;
      const started = performance.now();
      try {
        report.detail = injection.detail = await action();
      } catch (error) {
        report.error = (error as Error).message ?? String(error);
        throw error;
      } finally {
        report.durationMs = performance.now() - started;
      }
    },
  };
  return { injection, report };
}
