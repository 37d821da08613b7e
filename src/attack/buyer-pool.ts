import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD_ENTRY = fileURLToPath(new URL('./buyer-process.js', import.meta.url));

/** The argument that tells a buyer process to wait for the next INIT after its RESULT instead of exiting. */
export const POOLED_ARGUMENT = '--pooled';

/**
 * Starts one buyer process. No inherited execArgv (a test runner's flags are
 * not for the child); stdout is ignored so `--json` output stays clean;
 * stderr shows crashes. 'advanced' (structured clone) serialization carries
 * the batches of op lines as they are, where JSON would escape every quote.
 */
export function forkBuyerProcess(pooled = false): ChildProcess {
  return fork(CHILD_ENTRY, pooled ? [POOLED_ARGUMENT] : [], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced' });
}

/**
 * Buyer processes kept for several attacks in a row (prove's scenarios). A
 * process costs a boot (Node, undici, the histogram library, cold JIT) that
 * is most of a short attack's CPU: a pool pays it once, and can pay it while
 * the target is still starting. Each attack still opens its own connections
 * and holds them at its own start barrier, exactly as with fresh processes.
 */
export class BuyerPool {
  private readonly idle: ChildProcess[] = [];
  /** The listeners the pool keeps on each idle process, removed when it is taken. */
  private readonly watching = new Map<ChildProcess, () => void>();

  /** Forks `size` processes now, so they boot while the caller does other work. */
  constructor(size: number) {
    for (let k = 0; k < size; k++) this.give(forkBuyerProcess(true));
  }

  /** `count` processes for one attack: idle ones first, new ones for the rest. */
  take(count: number): ChildProcess[] {
    const taken = this.idle.splice(0, count);
    for (const child of taken) {
      this.watching.get(child)?.();
      this.watching.delete(child);
    }
    while (taken.length < count) taken.push(forkBuyerProcess(true));
    return taken;
  }

  /** A process back from an attack it finished: kept for the next one unless it is gone. */
  give(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) return;
    // An idle process that dies is dropped, never an unhandled 'error'.
    const onError = () => undefined;
    const onExit = () => {
      const at = this.idle.indexOf(child);
      if (at >= 0) this.idle.splice(at, 1);
      this.watching.get(child)?.();
      this.watching.delete(child);
    };
    child.on('error', onError);
    child.on('exit', onExit);
    this.watching.set(child, () => {
      child.off('error', onError);
      child.off('exit', onExit);
    });
    this.idle.push(child);
  }

  /** Lets every idle process go: with its channel closed it has nothing left and exits. */
  async close(): Promise<void> {
    const leaving = this.idle.splice(0);
    await Promise.all(
      leaving.map((child) => {
        const exited = new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        });
        if (child.connected) child.disconnect();
        return exited;
      }),
    );
  }
}
