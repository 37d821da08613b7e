import { Pool } from 'undici';
import { OUTCOMES, STEP_NAMES, STEP_OUTCOME_TYPE, type StepName } from '../history/types.js';
import { formatStepLine } from '../history/writer.js';
import { classifyFailure, interrupted } from './classify.js';
import { compileStepTemplate, flowDecision, newStepCounts, stepSlot, type FlowPlan, type StepTemplate } from './flow.js';
import { encodeHistogram, newHistogram } from './histogram.js';
import { LineBatches } from './line-batches.js';
import { buyerId, buyersOf, requestId, type ChildPlan } from './plan.js';
import type { ChildMessage, ReadyMessage, ResultMessage } from './protocol.js';
import { asStep, classifyStepAnswer, stepRules, type StepClassified, type StepRules } from './step-classify.js';
import { compileTemplate, type CompiledTemplate, type TemplateValues } from './template.js';
import { openWarmSockets, type WarmSockets } from './warm-sockets.js';

// The buyer loop of `attack --flow reserve-confirm`, one per child process,
// beside buyer.ts's one-request loop and speaking the same protocol to the
// coordinator. Closed model: `connections` flows run at once, each from its
// reserve through its think time to its confirm or cancel (or abandon), and a
// finished flow makes room for the next buyer's.

/** Step lines per OPS message, and how often a partial batch goes anyway. */
const BATCH_LINES = 256;
const FLUSH_MS = 100;
/** OPS messages a child may have unacknowledged, and lines it may hold before it starts no new flow. */
const CREDITS = 8;
const MAX_HELD_LINES = 8192;
/** Largest answer read; a larger one is a bad_body. */
const MAX_RESPONSE_BYTES = 1 << 20;

/** A step's answer as the flow needs it to go on. */
type StepDone = StepClassified & { tCmp: bigint };

/** A flow waiting out its think time; woken early by a stop. */
interface Thinker {
  timer: NodeJS.Timeout | undefined;
  wake(): void;
}

/**
 * One child's flows: opens its connections, waits at the barrier, runs its
 * buyers' flows, and streams every step as a step line. Unlike a purchase, a
 * step refused a connection is not retried: the flow's steps have a fixed
 * order and a think time between them, so a retry would change both.
 */
export class FlowBuyer {
  private readonly flow: FlowPlan;
  private readonly rules: StepRules;
  private readonly bodies: Record<StepName, StepTemplate>;
  private readonly headers: [string, CompiledTemplate][];
  private readonly histogram = newHistogram();
  private readonly stepHistograms = STEP_NAMES.map(() => newHistogram());
  private readonly total: number;
  private pool: Pool | undefined;
  private warm: WarmSockets | undefined;

  private nextLocal = 0;
  private active = 0;
  private sent = 0;
  private abandoned = 0;
  private unsent = 0;
  private firstInvocation: bigint | null = null;
  private lastInvocation: bigint | null = null;
  private firstAnswer: bigint | null = null;
  private lastCompletion: bigint | null = null;
  private readonly errors = new Map<string, number>();
  private readonly thinking = new Set<Thinker>();

  private readonly batches: LineBatches;

  private stopping = false;
  private cut = false;
  private finished = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private done: ((result: ResultMessage) => void) | undefined;
  private crashed: ((error: unknown) => void) | undefined;

  constructor(
    private readonly plan: ChildPlan,
    send: (message: ChildMessage) => void,
  ) {
    this.flow = plan.flow!;
    this.rules = stepRules(plan.rules, this.flow);
    this.bodies = {
      reserve: compileStepTemplate(this.flow.bodies.reserve, '--reserve-body', false),
      confirm: compileStepTemplate(this.flow.bodies.confirm, '--confirm-body', true),
      cancel: compileStepTemplate(this.flow.bodies.cancel, '--cancel-body', true),
    };
    this.headers = plan.headers.map(([name, value]) => [name, compileTemplate(value, `--header ${name}`)]);
    this.total = buyersOf(plan);
    // Step lines carry no purchase outcomes: those counts stay zero, the step counts say it all.
    this.batches = new LineBatches(send, newStepCounts, (lines, steps) => ({ cmd: 'OPS', lines, outcomes: new Array<number>(OUTCOMES.length).fill(0), steps }), BATCH_LINES, CREDITS);
  }

  /** Opens the connections before the barrier, so the start is not spread out by handshakes. */
  async connect(): Promise<ReadyMessage> {
    const warm = (this.warm = await openWarmSockets(this.plan.origin, this.plan.connections, this.plan.timeoutMs));
    this.pool = new Pool(this.plan.origin, {
      connections: this.plan.connections,
      pipelining: 1,
      headersTimeout: this.plan.timeoutMs,
      bodyTimeout: this.plan.timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      connect: warm.connect,
    });
    return { cmd: 'READY', connected: warm.connected, failed: warm.failed, error: warm.error };
  }

  /** Runs every flow of this child from the barrier's release; resolves with the totals. */
  run(_t0: bigint): Promise<ResultMessage> {
    const result = new Promise<ResultMessage>((resolve, reject) => {
      this.done = resolve;
      this.crashed = reject;
    });
    this.flushTimer = setInterval(() => this.batches.flush(), FLUSH_MS);
    this.pump();
    return result;
  }

  /** The coordinator wrote one batch: one more may be sent. */
  ack(): void {
    this.batches.ack();
    this.pump();
  }

  /**
   * Starts no new flow and sends no next step (a flow thinking now ends with
   * its reserve); requests unanswered after `graceMs` are cut and recorded as
   * unknown.
   */
  stop(graceMs: number): void {
    if (this.stopping || this.finished) return;
    this.stopping = true;
    for (const thinker of [...this.thinking]) thinker.wake();
    this.graceTimer = setTimeout(() => {
      this.cut = true;
      void this.pool?.destroy();
    }, graceMs);
    this.maybeFinish();
  }

  /** Closes every connection at once (the coordinator is gone). */
  destroy(): void {
    this.stopping = true;
    this.cut = true;
    this.clearTimers();
    for (const thinker of [...this.thinking]) thinker.wake();
    this.warm?.destroy();
    void this.pool?.destroy();
  }

  /** Closes every connection once the run is over. */
  async close(): Promise<void> {
    this.warm?.destroy();
    if (this.pool && !this.pool.destroyed) await this.pool.close().catch(() => undefined);
  }

  /** Keeps `connections` flows running until the buyers run out. */
  private pump(): void {
    while (!this.stopping && this.nextLocal < this.total && this.active < this.plan.connections && this.batches.held < MAX_HELD_LINES) {
      const index = this.plan.index + this.nextLocal * this.plan.processes;
      this.nextLocal += 1;
      this.active += 1;
      this.runFlow(index).then(
        () => {
          this.active -= 1;
          this.pump();
        },
        (error: unknown) => this.crashed?.(error),
      );
    }
    this.maybeFinish();
  }

  /** One buyer's flow: reserve; if held, think, then confirm, cancel or abandon as drawn. */
  private async runFlow(index: number): Promise<void> {
    const flowId = requestId(this.plan.runId, index);
    const values: TemplateValues = { buyer: buyerId(index), request_id: flowId, i: index, quantity: this.plan.quantity };
    // The reserve's body names no {{reserve.…}} (compileStepTemplate refuses it), so it is never missing.
    const first = this.bodies.reserve(values, undefined);
    const reserve = await this.step('reserve', values, flowId, null, 'text' in first ? first.text : '');
    if (reserve.outcome !== 'reserved') return;
    const { next, thinkMs } = flowDecision(this.flow, this.plan.seed, index);
    // A buyer who abandons thinks first too, as one who pays does: it holds
    // its place among the flows in flight, so abandoned carts pile up at the
    // pace of real ones rather than all at once.
    await this.think(reserve.tCmp + BigInt(Math.round(thinkMs * 1e6)));
    if (next === 'abandon') {
      this.abandoned += 1;
      return;
    }
    const nextValues: TemplateValues = { ...values, request_id: `${flowId}.${next}` };
    const body = this.bodies[next](nextValues, reserve.answer);
    if (this.stopping || 'missing' in body) {
      this.unsent += 1;
      if (!this.stopping && 'missing' in body) this.count(`${next} not sent: no "${body.missing}" in the reserve's answer`);
      return;
    }
    await this.step(next, nextValues, flowId, reserve.reservationId, body.text);
  }

  /**
   * Waits until hrtime `until`. A timer may fire a little early by the
   * monotonic clock (it counts from the event loop's cached time), so it is
   * re-armed until the time has surely come: a step never goes before its
   * think time is over.
   */
  private think(until: bigint): Promise<void> {
    return new Promise((resolve) => {
      const thinker: Thinker = {
        timer: undefined,
        wake: () => {
          clearTimeout(thinker.timer);
          this.thinking.delete(thinker);
          resolve();
        },
      };
      const check = () => {
        const leftNs = until - process.hrtime.bigint();
        if (leftNs <= 0n || this.stopping) thinker.wake();
        else thinker.timer = setTimeout(check, Math.max(1, Math.ceil(Number(leftNs) / 1e6)));
      };
      this.thinking.add(thinker);
      check();
    });
  }

  /** Sends one step, classifies what came back, and records it as a step line. */
  private async step(step: StepName, values: TemplateValues, flowId: string, reservationId: string | null, body: string): Promise<StepDone> {
    const headers: Record<string, string> = {};
    for (const [name, template] of this.headers) headers[name] = template(values);
    this.sent += 1;
    const tInv = process.hrtime.bigint();
    this.firstInvocation ??= tInv;
    this.lastInvocation = tInv;
    let status: number | null = null;
    let classified: StepClassified;
    let tCmp: bigint;
    try {
      const response = await this.pool!.request({ path: this.flow.paths[step], method: this.plan.method, headers, body });
      status = response.statusCode;
      const text = await response.body.text();
      tCmp = process.hrtime.bigint();
      this.firstAnswer ??= tCmp;
      const retryAfter = status >= 500 && response.headers['retry-after'] !== undefined;
      classified = classifyStepAnswer(step, status, text, this.rules, this.flow, this.plan.rules.remainingField, retryAfter);
    } catch (error) {
      tCmp = process.hrtime.bigint();
      classified = asStep(step, this.cut ? interrupted() : classifyFailure(error));
    }
    this.record(step, values.buyer, flowId, values.request_id, reservationId ?? classified.reservationId, tInv, tCmp, status, classified);
    return { ...classified, tCmp };
  }

  private record(step: StepName, buyer: string, flowId: string, requestId: string, reservationId: string | null, tInv: bigint, tCmp: bigint, status: number | null, classified: StepClassified): void {
    const slot = stepSlot(step, classified.outcome);
    const us = Number((tCmp - tInv) / 1000n);
    this.histogram.recordValue(us);
    this.stepHistograms[STEP_NAMES.indexOf(step)]!.recordValue(us);
    if (this.lastCompletion === null || tCmp > this.lastCompletion) this.lastCompletion = tCmp;
    if (classified.cause !== null) this.count(`${step}: ${classified.cause}`);
    this.batches.add(formatStepLine({
      kind: 'step',
      process: this.plan.index,
      buyer,
      flow_id: flowId,
      step,
      request_id: requestId,
      type: STEP_OUTCOME_TYPE[classified.outcome],
      outcome: classified.outcome,
      t_inv: tInv,
      t_cmp: tCmp,
      status,
      reservation_id: reservationId,
      quantity: this.plan.quantity,
      remaining: classified.remaining,
      ttl_ms: classified.ttlMs,
      error: classified.error,
    }), slot);
  }

  private count(cause: string): void {
    this.errors.set(cause, (this.errors.get(cause) ?? 0) + 1);
  }

  private maybeFinish(): void {
    if (this.finished || this.active > 0) return;
    if (this.nextLocal < this.total && !this.stopping) return;
    this.finished = true;
    this.clearTimers();
    this.batches.flush(true);
    this.done?.({
      cmd: 'RESULT',
      histogram: encodeHistogram(this.histogram),
      outcomes: new Array<number>(OUTCOMES.length).fill(0),
      sent: this.sent,
      late: 0,
      dropped: 0,
      maxLatenessUs: 0,
      firstInvocation: this.firstInvocation?.toString() ?? '',
      lastInvocation: this.lastInvocation?.toString() ?? '',
      firstAnswer: this.firstAnswer?.toString() ?? '',
      lastCompletion: this.lastCompletion?.toString() ?? '',
      targetLost: null,
      errors: Object.fromEntries(this.errors),
      flow: { histograms: this.stepHistograms.map(encodeHistogram), started: this.nextLocal, abandoned: this.abandoned, unsent: this.unsent },
    });
  }

  private clearTimers(): void {
    clearInterval(this.flushTimer);
    clearTimeout(this.graceTimer);
  }
}
