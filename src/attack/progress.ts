import ora, { type Ora } from 'ora';
import { OUTCOMES } from '../history/types.js';
import type { AttackProgress } from './coordinator.js';

/** Without a terminal, at most one progress line this often. */
const PLAIN_EVERY_MS = 5000;

/** Shows an attack's progress on stderr; stdout is left to the summary. */
export interface ProgressReporter {
  update(progress: AttackProgress): void;
  /** Clears the spinner (if any) before the summary is printed. */
  stop(): void;
}

/**
 * An ora spinner with live counts when stderr is a terminal and nothing
 * asks for quiet (`--json`, NO_COLOR, CI); otherwise a plain line at most
 * every few seconds, which reads well in a CI log.
 */
export function progressReporter(options: { json: boolean; stream?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv }): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const env = options.env ?? process.env;
  const ci = !!env.CI && env.CI !== 'false' && env.CI !== '0';
  if (stream.isTTY && !options.json && !env.NO_COLOR && !ci) return spinner(stream);
  return plain(stream);
}

function spinner(stream: NodeJS.WriteStream): ProgressReporter {
  // discardStdin off: Ctrl-C must stay a real SIGINT for the coordinator to stop the run.
  let current: Ora | undefined;
  return {
    update(progress) {
      current ??= ora({ stream, discardStdin: false }).start();
      current.text = describe(progress);
    },
    stop() {
      current?.stop();
    },
  };
}

function plain(stream: NodeJS.WriteStream): ProgressReporter {
  let last: number | undefined;
  return {
    update(progress) {
      // Nothing while connecting: a run that fails before its start ends
      // with its one-line error alone. Then a line at the start, and one
      // every few seconds.
      if (progress.phase === 'connecting') return;
      const now = Date.now();
      if (last !== undefined && now - last < PLAIN_EVERY_MS) return;
      last = now;
      stream.write(`flashsale attack: ${describe(progress)}\n`);
    },
    stop() {},
  };
}

function describe(progress: AttackProgress): string {
  if (progress.phase === 'connecting') return `${progress.buyers} buyers: opening connections…`;
  if (progress.phase === 'running' && progress.completed === 0) return `${progress.buyers} buyers: connected, released`;
  const counts = OUTCOMES.filter((outcome) => progress.outcomes[outcome] > 0)
    .map((outcome) => `${outcome} ${progress.outcomes[outcome]}`)
    .join(', ');
  const stopping = progress.phase === 'stopping' ? ' (stopping: Ctrl-C again to kill)' : '';
  const done = progress.steps ? `${progress.completed} steps of ${progress.buyers} flows` : `${progress.completed}/${progress.buyers}`;
  return `${done} done in ${(progress.elapsedMs / 1000).toFixed(1)} s${counts ? ` (${counts})` : ''}${stopping}`;
}
