import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The real entry point, as a user runs it. */
export const BIN = fileURLToPath(new URL('../../../bin/flashsale', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Exit 2, nothing on stdout, one line on stderr matching `pattern`, no stack trace. */
export function assertOneLineError(run: CliRun, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trim().split('\n').filter((line) => !line.startsWith('(run with --help'));
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

/** A `bin/flashsale` child process still running, for tests that act on it mid-run. */
export interface CliProcess {
  child: ChildProcess;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when the process has ended, with all it printed. */
  done: Promise<CliRun>;
}

/** Starts `bin/flashsale ARGS` in the background (killed after `timeoutMs`). */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, output: () => ({ stdout, stderr }), done };
}

/** Runs `bin/flashsale ARGS` to completion (killed after `timeoutMs`). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliRun> {
  return spawnCli(args, options).done;
}

/** A `flashsale serve` child process, listening. */
export interface ServeProcess {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  child: ChildProcess;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** Sends SIGTERM and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<CliRun>;
}

/** Starts `bin/flashsale serve --host 127.0.0.1 --port 0 ARGS` and waits until it listens. */
export function startServe(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const closed = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));

  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within 30 s:\n${stdout}\n${stderr}`));
    }, 30_000);
    const onData = () => {
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (!url) return;
      clearTimeout(deadline);
      child.stdout!.off('data', onData);
      resolve({
        url,
        child,
        output: () => ({ stdout, stderr }),
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return closed;
        },
      });
    };
    child.stdout!.on('data', onData);
    void closed.then((run) => {
      clearTimeout(deadline);
      reject(new Error(`serve exited with code ${run.code} before listening:\n${run.stdout}\n${run.stderr}`));
    });
  });
}
