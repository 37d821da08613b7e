import type { ChildProcess } from 'node:child_process';
import type hdr from 'hdr-histogram-js';
import { HISTORY_SCHEMA, OUTCOMES, OUTCOME_TYPE, type EndReason, type Outcome, type OpType } from '../history/types.js';
import { clockId, wallClockMs } from '../history/clock.js';
import { formatEndLine, formatFaultLine, HistoryWriter } from '../history/writer.js';
import { forkBuyerProcess, type BuyerPool } from './buyer-pool.js';
import type { FaultInjection } from './fault.js';
import { addStepCounts, flowSummary, newStepCounts } from './flow.js';
import { childPlans, resolvePlan, type AttackOptions, type AttackPlan } from './plan.js';
import { TargetUnreachableError } from '../errors.js';
import { preflight } from './preflight.js';
import { outcomeRecord, type ChildMessage, type ParentMessage, type ReadyMessage, type ResultMessage } from './protocol.js';
import type { AttackSummary, FaultSummary } from './summary.js';

/** Longest wait for every child to open its connections and reach the barrier. */
const BARRIER_TIMEOUT_MS = 60_000;
/**
 * With --start-at, how long before the instant the children connect: long
 * enough to open the connections, short enough that servers do not close
 * them as idle (Node's wait for a first request is 60 s).
 */
const START_AT_LEAD_MS = 10_000;
/** The last stretch before --start-at is spun, not slept: a timer may fire a millisecond late. */
const START_AT_SPIN_MS = 2;
/** After Ctrl-C, how long requests in flight get to answer before they are cut (and recorded as info). */
const STOP_GRACE_MS = 1000;
/** How long a child that has reported gets to exit by itself before it is killed. */
const EXIT_WAIT_MS = 2000;
/** After the last operation, how long a fault still running is waited for before the end line is written. */
export const FAULT_WAIT_MS = 30_000;

/** Live counts, for a spinner or a progress line. */
export interface AttackProgress {
  /** `connecting` until the barrier releases, then `running`, then `stopping` after Ctrl-C. */
  phase: 'connecting' | 'running' | 'stopping';
  buyers: number;
  completed: number;
  outcomes: Record<Outcome, number>;
  /** Milliseconds since the barrier released (0 before). */
  elapsedMs: number;
  /** `attack --flow`: `completed` counts step lines, several per buyer. */
  steps?: boolean;
}

export interface AttackHooks {
  /** Called when the plan is known, before any child starts. */
  onPlan?(plan: AttackPlan): void;
  /** Called at the barrier's release and after every batch of completed operations. */
  onProgress?(progress: AttackProgress): void;
  /** Called with the latency histogram merged over all processes (microseconds), when the summary is made; `--threshold` reads any percentile from it. */
  onLatency?(histogram: hdr.Histogram): void;
}

/** A running attack. */
export interface Attack {
  /** Resolves with the summary (partial when stopped); rejects on a configuration error or a child's failure. */
  done: Promise<AttackSummary>;
  /**
   * First call: send nothing new, give in-flight requests a moment, write
   * what completed, summarise. Second call: kill the children at once.
   */
  stop(): void;
}

/** One fault of the run and what became of it. */
interface FaultRun {
  fault: FaultInjection;
  /** Operations recorded before it starts: its share of the planned buyers, at least one. */
  threshold: number;
  tStart?: bigint;
  tEnd?: bigint;
  error: string | null;
  /** Its fault line has been written (or the history is closed): a late settle writes nothing. */
  recorded: boolean;
}

interface Child {
  index: number;
  process: ChildProcess;
  ready?: ReadyMessage;
  result?: ResultMessage;
  exited: Promise<void>;
  hasExited: boolean;
  /** Op lines received from it (and written). */
  ops: number;
  /** Borrowed from a pool: it stays alive after its RESULT and goes back to the pool. */
  pooled: boolean;
  /** Removes this attack's listeners from the process. */
  detach: () => void;
}

/** Runs a whole attack and resolves with its summary. */
export function runAttack(options: AttackOptions, hooks: AttackHooks = {}, pool?: BuyerPool): Promise<AttackSummary> {
  return startAttack(options, hooks, pool).done;
}

/**
 * Forks the buyer processes, holds them at a start barrier until every one
 * has its connections open, releases them together, writes their op lines to
 * the history as batches arrive (acknowledging each batch only once written,
 * which bounds memory), and merges their histograms into one summary.
 */
export function startAttack(options: AttackOptions, hooks: AttackHooks = {}, pool?: BuyerPool): Attack {
  const coordinator = new Coordinator(options, hooks, pool);
  return { done: coordinator.run(), stop: () => coordinator.stop() };
}

/** Ctrl-C came while the history was being opened, just before the release. */
class StoppedBeforeStart extends Error {}

class Coordinator {
  private plan: AttackPlan | undefined;
  private writer: HistoryWriter | undefined;
  private children: Child[] = [];
  private readonly outcomes = new Array<number>(OUTCOMES.length).fill(0);
  /** `attack --flow`: step lines written, per step and outcome. */
  private readonly steps = newStepCounts();
  private completed = 0;
  private stops = 0;
  private releasedAt: bigint | undefined;
  private failure: Error | undefined;
  private faults: FaultRun[] = [];
  private endReason: EndReason = 'done';
  /** Set when the children are killed on purpose, so their exit is not a failure. */
  private killing = false;
  /** Wakes the waiting run loop when something it waits for happens. */
  private wake: () => void = () => undefined;

  constructor(
    private readonly options: AttackOptions,
    private readonly hooks: AttackHooks,
    /** Where the buyer processes come from and go back to; without one, each attack forks its own. */
    private readonly pool?: BuyerPool,
  ) {}

  stop(): void {
    this.stops += 1;
    if (this.releasedAt === undefined) {
      // Not started yet: the run loop sees the stop and sends nothing.
    } else if (this.stops === 1) {
      for (const child of this.children) this.send(child, { cmd: 'STOP', graceMs: Math.min(STOP_GRACE_MS, this.plan?.timeoutMs ?? STOP_GRACE_MS) });
      this.progress('stopping');
    } else {
      this.killAll();
    }
    this.wake();
  }

  async run(): Promise<AttackSummary> {
    const plan = (this.plan = resolvePlan(this.options));
    this.faults = (this.options.faults ?? []).map((fault) => ({ fault, threshold: Math.max(1, Math.ceil(fault.at * plan.buyers)), error: null, recorded: false }));
    this.hooks.onPlan?.(plan);
    // The histogram library takes longer to load than the rest of the
    // attack's modules together: it loads while the children boot and
    // connect, not before the first one is started.
    const histograms = import('./histogram.js');
    histograms.catch(() => undefined);
    await preflight(plan.origin);
    const startedAt = new Date().toISOString();
    try {
      if (plan.startAtMs !== null) await this.sleepUntilWall(plan.startAtMs - START_AT_LEAD_MS);
      if (this.stops === 0) {
        const plans = childPlans(plan);
        const processes = this.pool ? this.pool.take(plans.length) : plans.map(() => forkBuyerProcess());
        this.children = plans.map((childPlan, k) => this.adoptChild(childPlan.index, processes[k]!, !!this.pool));
        plans.forEach((childPlan, k) => this.send(this.children[k]!, { cmd: 'INIT', plan: childPlan }));
      }
      this.progress('connecting');

      const barrierDeadline = Date.now() + BARRIER_TIMEOUT_MS;
      await this.until(() => this.stops > 0 || this.children.every((child) => child.ready) || Date.now() > barrierDeadline, BARRIER_TIMEOUT_MS);
      if (this.failure) throw this.failure;
      if (this.stops > 0) {
        // Stopped before the start: nothing was sent, so there is nothing to wait for.
        this.killAll();
      } else if (!this.children.every((child) => child.ready)) {
        throw new Error(`the buyer processes did not all reach the start barrier within ${BARRIER_TIMEOUT_MS / 1000} s`);
      } else {
        // The barrier: every child has its connections open.
        const readyAt = process.hrtime.bigint();
        const connected = this.children.reduce((sum, child) => sum + child.ready!.connected, 0);
        if (connected === 0) {
          const error = this.children.find((child) => child.ready!.error)?.ready!.error ?? 'unknown error';
          throw new TargetUnreachableError(`cannot connect to ${plan.origin}: every one of ${plan.concurrency} connections failed (${error})`);
        }
        // The history is created (or truncated) only now, when requests are
        // about to go: an unwritable path still stops the run before any is
        // sent, and a target found unusable above leaves an old file alone.
        const writer = (this.writer = await HistoryWriter.create(plan.historyPath));
        if (this.stops > 0 || this.failure) throw this.failure ?? new StoppedBeforeStart();
        // --start-at: every shard releases at one wall-clock instant (a shard
        // ready only after it starts late, and its meta line shows by how much).
        if (plan.startAtMs !== null) await this.sleepUntilWall(plan.startAtMs);
        if (this.stops > 0 || this.failure) throw this.failure ?? new StoppedBeforeStart();
        // One release time for all, on the monotonic clock the whole machine shares.
        const releasedAt = (this.releasedAt = process.hrtime.bigint());
        const releasedWallMs = wallClockMs();
        void writer.writeMeta({
          kind: 'meta',
          schema: HISTORY_SCHEMA,
          target: plan.target,
          buyers: plan.buyers,
          started_at: startedAt,
          method: plan.method,
          quantity: plan.quantity,
          processes: plan.processes,
          concurrency: plan.concurrency,
          rate: plan.rate,
          seed: plan.seed,
          run_id: plan.runId,
          host_id: clockId(),
          ready_at: readyAt,
          released_at: releasedAt,
          released_wall_ms: Math.round(releasedWallMs * 1000) / 1000,
          ...(plan.startAtMs !== null ? { start_at: new Date(plan.startAtMs).toISOString() } : {}),
          ...(plan.shard.count > 1 ? { shard: { index: plan.shard.index, count: plan.shard.count, run_buyers: plan.runBuyers } } : {}),
          ...(plan.flow ? { flow: plan.flow.name } : {}),
        }).catch((error: Error) => this.fail(error));
        for (const child of this.children) this.send(child, { cmd: 'START', t0: releasedAt.toString() });
        this.progress('running');
        await this.until(() => this.children.every((child) => child.result || child.hasExited));
      }
      if (this.failure) throw this.failure;
      await this.reap();
      if (this.writer && this.releasedAt !== undefined) {
        await this.settleFaults();
        // The closing line: what was planned, what was written, and why it
        // ended. Only a history that has it is whole.
        this.endReason = this.stops > 0 ? 'interrupted' : this.children.some((child) => child.result?.targetLost) ? 'target_lost' : 'done';
        void this.writer.write(formatEndLine({ kind: 'end', planned: plan.buyers, recorded: this.completed, reason: this.endReason })).catch((error: Error) => this.fail(error));
      }
      await this.writer?.close();
      this.returnToPool();
      return this.summarise(plan, startedAt, await histograms);
    } catch (error) {
      this.killAll();
      await Promise.all(this.children.map((child) => child.exited));
      await this.writer?.close().catch(() => undefined);
      if (error instanceof StoppedBeforeStart) return this.summarise(plan, startedAt, await histograms);
      throw error;
    }
  }

  private adoptChild(index: number, process: ChildProcess, pooled: boolean): Child {
    const child: Child = { index, process, exited: Promise.resolve(), hasExited: false, ops: 0, pooled, detach: () => undefined };
    let onExit: (code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
    child.exited = new Promise((resolve) => {
      onExit = (code, signal) => {
        child.hasExited = true;
        if (!child.result && !this.killing && !this.failure) {
          this.fail(new Error(`buyer process ${index} exited (${signal ?? `code ${code}`}) before reporting its results`));
        }
        resolve();
        this.wake();
      };
      // A pooled process may have died while idle: its exit has come already.
      if (process.exitCode !== null || process.signalCode !== null) onExit(process.exitCode, process.signalCode);
      else process.once('exit', onExit);
    });
    // fork() reports a failure to start this way; send failures go to their callbacks.
    const onError = (error: Error) => this.fail(error);
    const onMessage = (message: ChildMessage) => this.receive(child, message);
    process.on('error', onError);
    process.on('message', onMessage);
    child.detach = () => {
      process.off('exit', onExit);
      process.off('error', onError);
      process.off('message', onMessage);
    };
    return child;
  }

  /** A run that ended well hands its pooled processes back (each has sent its RESULT and is waiting). */
  private returnToPool(): void {
    if (!this.pool) return;
    for (const child of this.children) {
      child.detach();
      if (child.result && !child.hasExited) this.pool.give(child.process);
    }
  }

  private receive(child: Child, message: ChildMessage): void {
    switch (message.cmd) {
      case 'READY':
        child.ready = message;
        break;
      case 'OPS': {
        const lines = message.outcomes.reduce((sum, count) => sum + count, 0) + addStepCounts(this.steps, message.steps);
        child.ops += lines;
        message.outcomes.forEach((count, k) => (this.outcomes[k]! += count));
        this.completed += lines;
        this.writer!.write(message.lines).then(
          () => this.send(child, { cmd: 'ACK' }),
          (error: Error) => this.fail(error),
        );
        this.progress(this.stops ? 'stopping' : 'running');
        this.startFaults();
        break;
      }
      case 'RESULT':
        child.result = message;
        break;
      case 'FAILED':
        this.fail(new Error(`buyer process ${child.index} failed: ${message.message}`));
        break;
    }
    this.wake();
  }

  /** Starts every fault whose share of the buyers has now been answered. */
  private startFaults(): void {
    if (this.stops > 0 || this.failure) return;
    for (const run of this.faults) {
      if (run.tStart !== undefined || this.completed < run.threshold) continue;
      run.tStart = process.hrtime.bigint();
      // A fault that throws, rejects or fails is recorded, never fatal: the
      // attack goes on, and the history says what went wrong with the fault.
      Promise.resolve()
        .then(() => run.fault.run())
        .then(
          () => this.faultOver(run, null),
          (error: unknown) => this.faultOver(run, (error as Error)?.message ?? String(error)),
        );
    }
  }

  private faultOver(run: FaultRun, error: string | null): void {
    if (run.recorded) return;
    run.tEnd = process.hrtime.bigint();
    run.error = error;
    this.recordFault(run);
    this.wake();
  }

  private recordFault(run: FaultRun): void {
    run.recorded = true;
    const { name, detail } = run.fault;
    void this.writer?.write(formatFaultLine({ kind: 'fault', name, detail, t_start: run.tStart!, t_end: run.tEnd!, error: run.error })).catch((error: Error) => this.fail(error));
  }

  /**
   * Waits (at most FAULT_WAIT_MS, or until another Ctrl-C) for the faults
   * still running, so their lines come before the end line; one still
   * running then is recorded as such.
   */
  private async settleFaults(): Promise<void> {
    const stops = this.stops;
    const running = () => this.faults.filter((run) => run.tStart !== undefined && !run.recorded);
    if (running().length === 0) return;
    await this.until(() => running().length === 0 || this.stops > stops, FAULT_WAIT_MS);
    for (const run of running()) {
      run.tEnd = process.hrtime.bigint();
      run.error = `still running when the attack ended (waited ${FAULT_WAIT_MS / 1000} s)`;
      this.recordFault(run);
    }
  }

  private send(child: Child, message: ParentMessage): void {
    // A child that has reported disconnects on its own, maybe while an ACK is
    // on its way: with a callback, that send fails quietly instead of
    // emitting 'error'. A child that vanishes early is caught by its exit.
    if (child.process.connected) child.process.send(message, () => undefined);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.killAll();
    this.wake();
  }

  private killAll(): void {
    this.killing = true;
    for (const child of this.children) if (!child.hasExited) child.process.kill('SIGKILL');
  }

  /** Sleeps until the wall clock reads `atMs` (at once if it already does), or a stop or failure. */
  private async sleepUntilWall(atMs: number): Promise<void> {
    for (let left = atMs - wallClockMs(); left > START_AT_SPIN_MS && this.stops === 0 && !this.failure; left = atMs - wallClockMs()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left - START_AT_SPIN_MS, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    while (this.stops === 0 && !this.failure && wallClockMs() < atMs) {
      // Spin the last milliseconds: the instant is shared with other machines.
    }
  }

  /** Waits until `done()` holds (checked whenever a message or exit arrives), a failure, or `timeoutMs`. */
  private async until(done: () => boolean, timeoutMs?: number): Promise<void> {
    const deadline = timeoutMs === undefined ? undefined : setTimeout(() => this.wake(), timeoutMs + 10);
    try {
      while (!done() && !this.failure) {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Every child has reported: let them exit (a pooled one waits for its next attack instead), and kill any that lingers. */
  private async reap(): Promise<void> {
    const leaving = this.children.filter((child) => !child.pooled || !child.result);
    if (leaving.length === 0) return;
    const lingering = setTimeout(() => this.killAll(), EXIT_WAIT_MS);
    await Promise.all(leaving.map((child) => child.exited));
    clearTimeout(lingering);
  }

  private progress(phase: AttackProgress['phase']): void {
    this.hooks.onProgress?.({
      phase,
      buyers: this.plan?.buyers ?? 0,
      completed: this.completed,
      outcomes: outcomeRecord(this.outcomes, OUTCOMES),
      elapsedMs: this.releasedAt === undefined ? 0 : Number((process.hrtime.bigint() - this.releasedAt) / 1_000_000n),
      ...(this.plan?.flow ? { steps: true } : {}),
    });
  }

  private summarise(plan: AttackPlan, startedAt: string, { latencyMs, mergeHistograms }: typeof import('./histogram.js')): AttackSummary {
    const results = this.children.map((child) => child.result).filter((result): result is ResultMessage => !!result);
    const histogram = mergeHistograms(results.map((result) => result.histogram));
    this.hooks.onLatency?.(histogram);
    const lastCompletion = results.reduce((last, result) => (result.lastCompletion && BigInt(result.lastCompletion) > last ? BigInt(result.lastCompletion) : last), 0n);
    const durationNs = this.releasedAt !== undefined && lastCompletion > this.releasedAt ? lastCompletion - this.releasedAt : 0n;
    const durationS = Number(durationNs) / 1e9;
    // Counts come from the op lines written, so they equal the history's;
    // a child killed at a second Ctrl-C contributes what it had sent.
    const outcomes = outcomeRecord(this.outcomes, OUTCOMES);
    const types: Record<OpType, number> = { ok: 0, fail: 0, info: 0 };
    for (const outcome of OUTCOMES) types[OUTCOME_TYPE[outcome]] += outcomes[outcome];
    const errors = new Map<string, number>();
    for (const result of results) for (const [cause, count] of Object.entries(result.errors)) errors.set(cause, (errors.get(cause) ?? 0) + count);
    const sent = this.children.reduce((sum, child) => sum + (child.result?.sent ?? child.ops), 0);
    // The real-time checks (H4, H5) need an answer that came before some
    // other request was sent; when every request left before the first
    // answer, any order of the answers is possible and they see nothing.
    const lastInvocation = results.reduce((last, result) => (result.lastInvocation && BigInt(result.lastInvocation) > last ? BigInt(result.lastInvocation) : last), 0n);
    const firstAnswer = results.reduce<bigint | null>((first, result) => (result.firstAnswer && (first === null || BigInt(result.firstAnswer) < first) ? BigInt(result.firstAnswer) : first), null);
    const seconds = (t: bigint | undefined) => (t === undefined || this.releasedAt === undefined ? null : Math.round(Number(t - this.releasedAt) / 1e6) / 1e3);
    const faults: FaultSummary[] = this.faults.map((run) => ({
      name: run.fault.name,
      detail: run.fault.detail,
      at: run.fault.at,
      ran: run.tStart !== undefined,
      started_s: seconds(run.tStart),
      duration_s: run.tStart !== undefined && run.tEnd !== undefined ? Math.round(Number(run.tEnd - run.tStart) / 1e6) / 1e3 : null,
      error: run.error,
    }));
    return {
      target: plan.target,
      method: plan.method,
      history: plan.historyPath,
      model: plan.rate === null ? 'closed' : 'open',
      processes: plan.processes,
      concurrency: plan.concurrency,
      rate: plan.rate,
      seed: plan.seed,
      run_id: plan.runId,
      started_at: startedAt,
      buyers: plan.buyers,
      sent,
      completed: this.completed,
      interrupted: this.stops > 0,
      // Stopped before the start too: no end line then (nothing was sent), but still interrupted.
      end_reason: this.stops > 0 ? 'interrupted' : this.endReason,
      target_lost: results.find((result) => result.targetLost)?.targetLost ?? null,
      realtime_overlap: firstAnswer !== null && firstAnswer < lastInvocation,
      faults,
      outcomes,
      types,
      duration_s: Math.round(durationS * 1e6) / 1e6,
      requests_per_second: durationS > 0 ? Math.round((this.completed / durationS) * 10) / 10 : 0,
      latency_ms: latencyMs(histogram),
      late: results.reduce((sum, result) => sum + result.late, 0),
      dropped: results.reduce((sum, result) => sum + result.dropped, 0),
      max_lateness_ms: Math.max(0, ...results.map((result) => result.maxLatenessUs)) / 1000,
      connections: {
        opened: this.children.reduce((sum, child) => sum + (child.ready?.connected ?? 0), 0),
        failed: this.children.reduce((sum, child) => sum + (child.ready?.failed ?? 0), 0),
      },
      errors: [...errors].map(([cause, count]) => ({ cause, count })).sort((a, b) => b.count - a.count || a.cause.localeCompare(b.cause)),
      ...(plan.flow ? { flow: flowSummary(plan.flow, this.steps, results, { latencyMs, mergeHistograms }) } : {}),
    };
  }
}
