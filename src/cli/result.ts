/** What a command hands back to the entry point, which alone ends the process. */
export interface CommandResult {
  /** 0 all good, 1 a check found an anomaly, 2 usage or configuration error, 3 inconclusive (see errors.ts). */
  exitCode: number;
}
