// A fault injected into a running attack: `attack --fault 'CMD' --fault-at 40%`
// runs a shell command, `prove --faults kill,pause,drop` kills, pauses or cuts
// off the server it started. The coordinator knows only this shape: it runs
// each fault once its share of the planned buyers has been answered, and
// writes a `fault` record (history/types.ts) with the times it began and
// ended, so verify and the report can place it among the operations.

import { spawn } from 'node:child_process';

/** One fault, run once during an attack. */
export interface FaultInjection {
  /** Share of the planned buyers answered before it runs: 0 < at < 1. */
  at: number;
  /** Its kind, for the history's fault record: `kill`, `pause`, `drop`, `command`… */
  name: string;
  /** For people: the command, or the process or connections it acts on. */
  detail: string;
  /**
   * Does the fault and resolves when it is over (the command exited, the
   * process was restarted or resumed). A rejection is recorded as the fault
   * record's `error`; it never stops the attack.
   */
  run(): Promise<void>;
}

/**
 * `attack --fault 'CMD' --fault-at P%`: runs CMD in a shell once P% of the
 * buyers have been answered (to restart the user's server or database
 * mid-run). Its output goes to stderr, so `--json` on stdout stays clean; a
 * non-zero exit is the fault record's error.
 */
export function commandFault(command: string, at: number): FaultInjection {
  return {
    at,
    name: 'command',
    detail: command,
    run: () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(command, { shell: true, stdio: ['ignore', process.stderr, process.stderr] });
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          if (code === 0) resolve();
          else reject(new Error(signal ? `killed by ${signal}` : `exited with code ${code}`));
        });
      }),
  };
}
