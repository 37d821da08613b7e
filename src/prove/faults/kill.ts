import { exited, liveServerWorkers, nextListeningWorker, victimWorker } from './server-workers.js';

/**
 * How long a killed worker's primary gets to have a replacement listening.
 * A worker starts in well under a second; this bounds a supervisor that never comes.
 */
export const RESTART_WAIT_MS = 10_000;

/**
 * kill -9 one server worker, mid-transaction as likely as not, and wait until
 * the primary has a replacement listening on the same port and database.
 * The faults scenario runs two workers, so the other one keeps selling
 * meanwhile, as in a real deployment; the restart is the supervisor's job,
 * which is what this proves it does. Resolves with what happened.
 */
export async function killServerWorker(): Promise<string> {
  const victim = victimWorker();
  const pid = victim.process.pid!;
  const replacement = nextListeningWorker(new Set(liveServerWorkers().map((worker) => worker.id)), RESTART_WAIT_MS, `worker ${pid} was killed`);
  // Not awaited yet: a rejection before the kill completes must not go unhandled.
  replacement.catch(() => undefined);
  process.kill(pid, 'SIGKILL');
  await exited(victim);
  const next = await replacement;
  return `worker ${pid} killed with SIGKILL; the primary restarted it as worker ${next.process.pid}`;
}
