// prove starts the reference server as node:cluster workers of its own
// process (launcher.ts, `separateProcess`), so this process is their
// primary: it can see their pids, signal them, and see a replacement listen.
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';

/** The server's live workers, oldest first. */
export function liveServerWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {})
    .filter((worker): worker is Worker => !!worker && !worker.isDead() && worker.process.pid !== undefined)
    .sort((a, b) => a.id - b.id);
}

/**
 * The worker a fault acts on: the oldest live one for kill, the youngest for
 * pause. Faults may overlap (a kill waits for its replacement while the next
 * fault's share is reached), and on different workers each does what it says.
 */
export function victimWorker(which: 'oldest' | 'youngest' = 'oldest'): Worker {
  const live = liveServerWorkers();
  const worker = which === 'oldest' ? live[0] : live.at(-1);
  if (!worker) throw new Error('no live server worker to act on');
  return worker;
}

/**
 * Resolves with the first worker not in `known` that starts listening, i.e.
 * the one the primary forked to replace a dead one; rejects after `timeoutMs`.
 * Call it before causing the death, so a fast restart is not missed.
 */
export function nextListeningWorker(known: ReadonlySet<number>, timeoutMs: number, waitingFor: string): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const onListening = (worker: Worker) => {
      if (known.has(worker.id)) return;
      cleanup();
      resolve(worker);
    };
    const deadline = setTimeout(() => {
      cleanup();
      reject(new Error(`no new server worker listened within ${timeoutMs / 1000} s after ${waitingFor}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(deadline);
      cluster.off('listening', onListening);
    };
    cluster.on('listening', onListening);
  });
}

/** Resolves when the worker's process has exited. */
export async function exited(worker: Worker): Promise<void> {
  if (worker.isDead()) return;
  await once(worker, 'exit');
}
