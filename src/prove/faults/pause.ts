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
  const pid = victimWorker('youngest').process.pid!;
  process.kill(pid, 'SIGSTOP');
  let resumed = true;
  try {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  } finally {
    // Always resumed, even if the wait were cut short: a worker left stopped would hang the run.
    try {
      process.kill(pid, 'SIGCONT');
    } catch (error) {
      // Killed while paused (another fault, or the outside world): nothing is left to resume.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      resumed = false;
    }
  }
  const stopped = `worker ${pid} stopped with SIGSTOP for ${(pauseMs / 1000).toFixed(1)} s`;
  return resumed ? `${stopped}, then SIGCONT` : `${stopped}; it was gone before SIGCONT`;
}
