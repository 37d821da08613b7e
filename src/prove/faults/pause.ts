import { victimWorker } from './server-workers.js';

/**
 * How long a paused worker stays stopped: long enough that requests and
 * transactions pile up behind it (it may hold the row lock), well below the
 * attack's timeout and the databases' lock timeouts, so a correct server
 * answers every buyer, only later.
 */
export const PAUSE_MS = 1000;

/** SIGSTOP one server worker, wait PAUSE_MS, SIGCONT it. Resolves with what happened. */
export async function pauseServerWorker(pauseMs = PAUSE_MS): Promise<string> {
  const pid = victimWorker().process.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  } finally {
    // Always resumed, even if the wait were cut short: a worker left stopped would hang the run.
    process.kill(pid, 'SIGCONT');
  }
  return `worker ${pid} stopped with SIGSTOP for ${(pauseMs / 1000).toFixed(1)} s, then SIGCONT`;
}
