// The faults scenario's nemesis: which faults run, when, and against what.
import type { FaultInjection } from '../../attack/fault.js';
import type { DialectName } from '../../../adapters/adapter.js';
import { dropServerConnections } from './drop.js';
import type { FaultName } from './fault-names.js';
import { skippedFault, trackedFault, type FaultReport } from './fault-report.js';
import { killServerWorker } from './kill.js';
import { pauseServerWorker } from './pause.js';
import type { ServerConnections } from './server-connections.js';

export { FAULT_NAMES, FAULT_DESCRIPTIONS, parseFaultNames, type FaultName } from './fault-names.js';
export type { FaultReport } from './fault-report.js';
export { isolateServerConnections, type ServerConnections } from './server-connections.js';

/** Server processes of the faults scenario: one can die or stop while the other sells. */
export const FAULT_SERVER_WORKERS = 2;

export interface FaultPlanInput {
  names: FaultName[];
  dialect: DialectName;
  stock: number;
  buyers: number;
  /** The server's tagged connections; undefined on SQLite. */
  connections: ServerConnections | undefined;
}

/**
 * Spreads the faults evenly over the answers that can still buy: with
 * stock 100 and 1000 buyers, three faults come after 25, 50 and 75 answers,
 * so each strikes while stock remains (after the sell-out a fault could only
 * cut sold-out answers, which proves little). A fault that cannot apply to
 * this database is reported as skipped, with the reason.
 */
export function planFaults(input: FaultPlanInput): { injections: FaultInjection[]; reports: FaultReport[] } {
  const applicable = input.names.filter((name) => name !== 'drop' || input.connections);
  const selling = Math.min(1, input.stock / input.buyers);
  const injections: FaultInjection[] = [];
  const reports: FaultReport[] = [];
  for (const name of input.names) {
    const index = applicable.indexOf(name);
    if (index < 0) {
      reports.push(skippedFault(name, 'SQLite has no database connections to drop: the server opens the file in-process'));
      continue;
    }
    const at = ((index + 1) / (applicable.length + 1)) * selling;
    const { injection, report } =
      name === 'kill'
        ? trackedFault(name, at, 'kill -9 a server worker; the primary restarts it', killServerWorker)
        : name === 'pause'
          ? trackedFault(name, at, 'SIGSTOP a server worker, then SIGCONT', () => pauseServerWorker())
          : trackedFault(name, at, `drop the server's database connections (${input.connections!.identity})`, () => dropServerConnections(input.connections!));
    injections.push(injection);
    reports.push(report);
  }
  return { injections, reports };
}
