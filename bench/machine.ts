// What the figures were measured on, recorded next to them: a rate means
// nothing without the CPU, the core count and the database versions.

import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from 'node:os';

export interface MachineDescription {
  cpu_model: string;
  /** Logical CPUs the process may use. */
  cores: number;
  total_memory_gb: number;
  os: string;
  node: string;
  /** Load average (1, 5, 15 minutes) when the bench started: other work on the machine skews every figure. */
  load_average_at_start: number[];
  /** Database name → version string, as each adapter's `serverVersion()` reports it. */
  databases: Record<string, string>;
}

/** The machine as it is now; database versions are added by whoever opened the databases. */
export function describeMachine(databases: Record<string, string> = {}): MachineDescription {
  const models = [...new Set(cpus().map((cpu) => cpu.model.trim()))];
  return {
    cpu_model: models.join(' + ') || 'unknown',
    cores: availableParallelism(),
    total_memory_gb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()} ${process.arch}`,
    node: process.version,
    load_average_at_start: loadavg().map((value) => Math.round(value * 100) / 100),
    databases,
  };
}

/**
 * The 1-minute load average now. On a shared machine it is the cheapest
 * witness that something else was running: the bench alone keeps it near 2-3
 * while it measures (server, load generator, database); well above that, the
 * figures next to it shared the cores.
 */
export function loadAverage1m(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/** One line for the top of the table. */
export function machineLine(machine: MachineDescription): string {
  const databases = Object.values(machine.databases).join(', ');
  return `${machine.cpu_model}, ${machine.cores} cores, ${machine.total_memory_gb} GB, ${machine.os}, node ${machine.node}${databases ? `; ${databases}` : ''}`;
}
