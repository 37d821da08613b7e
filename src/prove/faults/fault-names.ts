// The faults `flashsale prove --faults` can inject (Jepsen's "nemesis"), by
// the names the command line, the history and the report use.
import { ConfigError } from '../../errors.js';

export const FAULT_NAMES = ['kill', 'pause', 'drop'] as const;

/** `kill`: kill -9 a server worker · `pause`: SIGSTOP it, then SIGCONT · `drop`: cut the server's database connections. */
export type FaultName = (typeof FAULT_NAMES)[number];

/** What each fault does, for `--help` and the README. */
export const FAULT_DESCRIPTIONS: Record<FaultName, string> = {
  kill: 'kill -9 one server worker mid-stampede; the primary restarts it on the same port and database',
  pause: 'stop one server worker with SIGSTOP for 1 s, then SIGCONT',
  drop: "terminate the server's own database connections (PostgreSQL pg_terminate_backend, MySQL KILL); not on SQLite",
};

/** Parses `kill,pause,drop` (any order, each once; `all` for every fault). */
export function parseFaultNames(value: string): FaultName[] {
  const words = value.split(',').map((word) => word.trim().toLowerCase()).filter((word) => word !== '');
  if (words.length === 1 && words[0] === 'all') return [...FAULT_NAMES];
  if (words.length === 0) throw new ConfigError(`--faults needs at least one of ${FAULT_NAMES.join(', ')}`);
  const names: FaultName[] = [];
  for (const word of words) {
    if (!(FAULT_NAMES as readonly string[]).includes(word)) {
      throw new ConfigError(`unknown fault ${JSON.stringify(word)}: use ${FAULT_NAMES.join(', ')} or all`);
    }
    if (names.includes(word as FaultName)) throw new ConfigError(`fault ${word} is named twice in --faults`);
    names.push(word as FaultName);
  }
  return names;
}
