import { isIPv6, type Socket } from 'node:net';
import { buildConnector, Client, type Dispatcher } from 'undici';
import { OUTCOMES, OUTCOME_TYPE, type Outcome } from '../history/types.js';
import { formatOpLine } from '../history/writer.js';
import { ArrivalSchedule } from './arrivals.js';
import { classifyAnswer, classifyFailure, interrupted, type Classified, type ClassifyRules } from './classify.js';
import { encodeHistogram, newHistogram } from './histogram.js';
import { buyerId, buyersOf, requestId, type ChildPlan } from './plan.js';
import type { ChildMessage, ReadyMessage, ResultMessage } from './protocol.js';
import { LATE_AFTER_MS } from './summary.js';
import { compileTemplate, type CompiledTemplate, type TemplateValues } from './template.js';

/** Op lines per OPS message: large enough to keep IPC cheap, small enough to stream. */
const BATCH_OPS = 256;
/** A partial batch is sent after this long, so the history and the progress stay current. */
const FLUSH_MS = 100;
/** OPS messages a child may have unacknowledged; beyond that it holds its batch. */
const CREDITS = 8;
/** Ops a child may hold while out of credits before it stops sending new requests. */
const MAX_HELD_OPS = 8192;
/** Connections opened at once while warming up, so a thousand SYNs do not overflow the server's backlog. */
const WARM_BATCH = 64;
/** Largest response body read; a larger one is a bad_body. */
const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * One child's buyers: opens its connections, waits at the barrier, fires its
 * share of the requests (closed or open model), classifies each answer,
 * records its latency and streams it as a history line. It knows nothing of
 * IPC beyond the `send` it is given, so it can be driven in-process too.
 */
export class BuyerProcess {
  private readonly rules: ClassifyRules;
  private readonly body: CompiledTemplate | null;
  private readonly headers: [string, CompiledTemplate][];
  private readonly histogram = newHistogram();
  private readonly total: number;
  private readonly timeoutNs: bigint;
  /** One undici Client per connection: a request goes to a free one, so none ever queues. */
  private clients: Client[] = [];
  private free: Client[] = [];
  private warm: Socket[] = [];

  // Progress of the run.
  private t0 = 0n;
  private nextLocal = 0;
  private schedule: ArrivalSchedule | undefined;
  private pending: { index: number; offsetNs: number } | null = null;
  private inFlight = 0;
  private sent = 0;
  private late = 0;
  private dropped = 0;
  private maxLatenessNs = 0n;
  private firstInvocation: bigint | null = null;
  private lastCompletion: bigint | null = null;
  private readonly outcomes = new Array<number>(OUTCOMES.length).fill(0);
  private readonly errors = new Map<string, number>();

  // The batch of op lines not yet sent, and flow control.
  private batch = '';
  private batchOps = 0;
  private batchOutcomes = new Array<number>(OUTCOMES.length).fill(0);
  private credits = CREDITS;

  private stopping = false;
  private cut = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private done: ((result: ResultMessage) => void) | undefined;

  constructor(
    private readonly plan: ChildPlan,
    private readonly send: (message: ChildMessage) => void,
  ) {
    this.rules = {
      okStatus: plan.rules.okStatus,
      soldOutStatus: plan.rules.soldOutStatus,
      okBody: plan.rules.okBody === null ? null : new RegExp(plan.rules.okBody),
      soldOutBody: plan.rules.soldOutBody === null ? null : new RegExp(plan.rules.soldOutBody),
      remainingField: plan.rules.remainingField,
      purchaseIdField: plan.rules.purchaseIdField,
    };
    this.body = plan.body === null ? null : compileTemplate(plan.body, '--body');
    this.headers = plan.headers.map(([name, value]) => [name, compileTemplate(value, `--header ${name}`)]);
    this.total = buyersOf(plan);
    this.timeoutNs = BigInt(plan.timeoutMs) * 1_000_000n;
  }

  /**
   * Opens the child's connections before the start, so the barrier releases
   * buyers that only have to send: the stampede is not spread out by
   * handshakes. Connections that fail here are tried again when needed.
   */
  async connect(): Promise<ReadyMessage> {
    const url = new URL(this.plan.origin);
    const connector = buildConnector({ timeout: Math.min(this.plan.timeoutMs, 10_000) });
    const bare = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const where = { hostname: isIPv6(bare) ? bare : url.hostname, host: url.host, protocol: url.protocol, port: url.port };
    let failed = 0;
    let error: string | null = null;
    for (let opened = 0; opened < this.plan.connections; opened += WARM_BATCH) {
      const batch = Math.min(WARM_BATCH, this.plan.connections - opened);
      await Promise.all(
        Array.from({ length: batch }, () => new Promise<void>((resolve) => {
          connector(where, (err, socket) => {
            if (err || !socket) {
              failed += 1;
              error ??= (err as NodeJS.ErrnoException | null)?.code ?? String(err);
            } else this.warm.push(socket);
            resolve();
          });
        })),
      );
    }
    const warm = this.warm;
    const connected = warm.length;
    const options: Client.Options = {
      pipelining: 1,
      headersTimeout: this.plan.timeoutMs,
      bodyTimeout: this.plan.timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      // A client takes a warmed socket while any is left open, and connects
      // anew after a reset. The callback must not run synchronously: undici's
      // client is still setting up when it calls the connector.
      connect: (where, callback) => {
        for (let socket = warm.pop(); socket; socket = warm.pop()) {
          if (!socket.destroyed && socket.readyState === 'open') return process.nextTick(callback, null, socket);
          socket.destroy();
        }
        connector(where, callback);
      },
    };
    // Clients rather than a Pool: the child already knows which connection is
    // free, and a Pool would search for one on every request.
    this.clients = Array.from({ length: this.plan.connections }, () => new Client(this.plan.origin, options));
    this.free = [...this.clients];
    return { cmd: 'READY', connected, failed, error };
  }

  /** Fires every buyer from `t0` (hrtime ns, the barrier's release); resolves with the totals. */
  run(t0: bigint): Promise<ResultMessage> {
    this.t0 = t0;
    if (this.plan.rate !== null) {
      this.schedule = new ArrivalSchedule(this.plan.rate, this.plan.seed, this.plan.index, this.plan.processes, this.plan.buyers);
      this.pending = this.schedule.next();
    }
    const result = new Promise<ResultMessage>((resolve) => (this.done = resolve));
    this.flushTimer = setInterval(() => this.flush(), FLUSH_MS);
    this.pump();
    return result;
  }

  /** The coordinator wrote one batch: one more may be sent. */
  ack(): void {
    this.credits += 1;
    this.flush();
    this.pump();
  }

  /**
   * Sends nothing new; requests still unanswered after `graceMs` are cut and
   * recorded as info (they were sent, so their effect is unknown).
   */
  stop(graceMs: number): void {
    if (this.stopping || this.finished) return;
    this.stopping = true;
    clearTimeout(this.timer);
    // Arrivals still to come are simply not sent: the summary shows sent < buyers.
    this.pending = null;
    this.graceTimer = setTimeout(() => {
      this.cut = true;
      for (const client of this.clients) void client.destroy();
    }, graceMs);
    this.maybeFinish();
  }

  /** Closes every connection at once (the coordinator is gone). */
  destroy(): void {
    this.stopping = true;
    this.cut = true;
    this.clearTimers();
    for (const socket of this.warm.splice(0)) socket.destroy();
    for (const client of this.clients) void client.destroy();
  }

  /** Closes every connection once the run is over. */
  async close(): Promise<void> {
    for (const socket of this.warm.splice(0)) socket.destroy();
    // A stop may have destroyed a client already (cutting its in-flight
    // requests); closing it again rejects, and there is nothing left to close.
    await Promise.all(this.clients.map((client) => (client.destroyed ? undefined : client.close().catch(() => undefined))));
  }

  private pump(): void {
    if (this.stopping || this.finished) return;
    if (this.schedule) this.pumpOpen();
    else this.pumpClosed();
    this.maybeFinish();
  }

  /** Closed model: keep exactly `connections` requests in flight until the buyers run out. */
  private pumpClosed(): void {
    while (this.inFlight < this.plan.connections && this.nextLocal < this.total && this.batchOps < MAX_HELD_OPS) {
      const index = this.plan.index + this.nextLocal * this.plan.processes;
      this.nextLocal += 1;
      this.fire(index, null);
    }
  }

  /**
   * Open model: send each arrival at its time, whatever the earlier ones are
   * doing. Latency counts from the intended time, so waiting for a free
   * connection here is measured, not hidden (coordinated omission).
   */
  private pumpOpen(): void {
    const now = process.hrtime.bigint();
    while (this.pending && this.inFlight < this.plan.connections && this.batchOps < MAX_HELD_OPS) {
      const due = this.t0 + BigInt(this.pending.offsetNs);
      if (due > now) break;
      // A buyer who could not even be sent within the timeout has gone away.
      if (now - due > this.timeoutNs) this.dropped += 1;
      else this.fire(this.pending.index, due);
      this.pending = this.schedule!.next();
    }
    if (this.pending && this.timer === undefined) {
      const waitNs = this.t0 + BigInt(this.pending.offsetNs) - now;
      if (waitNs > 0n) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.max(1, Math.floor(Number(waitNs) / 1e6)));
      }
    }
  }

  private fire(index: number, intended: bigint | null): void {
    const values: TemplateValues = { buyer: buyerId(index), request_id: requestId(this.plan.runId, index), i: index, quantity: this.plan.quantity };
    const headers: Record<string, string> = {};
    for (const [name, template] of this.headers) headers[name] = template(values);
    const body = this.body === null ? null : this.body(values);
    this.inFlight += 1;
    this.sent += 1;
    const tInv = process.hrtime.bigint();
    if (intended !== null) {
      const lateness = tInv - intended;
      if (lateness > BigInt(LATE_AFTER_MS) * 1_000_000n) this.late += 1;
      if (lateness > this.maxLatenessNs) this.maxLatenessNs = lateness;
    }
    this.firstInvocation ??= tInv;
    const client = this.free.pop()!;
    client.dispatch({ path: this.plan.path, method: this.plan.method, headers, body }, new Exchange(this, client, values, tInv, intended ?? tInv));
  }

  /** An answer came, body and all. */
  answered(exchange: Exchange, tCmp: bigint, status: number, body: string): void {
    this.free.push(exchange.client);
    this.complete(exchange.values, exchange.tInv, exchange.start, tCmp, status, classifyAnswer(status, body, this.rules));
  }

  /** No (whole) answer came: the request failed, timed out, or was cut by a stop. */
  failed(exchange: Exchange, tCmp: bigint, status: number | null, error: Error): void {
    this.free.push(exchange.client);
    this.complete(exchange.values, exchange.tInv, exchange.start, tCmp, status, this.cut ? interrupted() : classifyFailure(error));
  }

  private complete(values: TemplateValues, tInv: bigint, start: bigint, tCmp: bigint, status: number | null, classified: Classified): void {
    this.inFlight -= 1;
    if (this.lastCompletion === null || tCmp > this.lastCompletion) this.lastCompletion = tCmp;
    this.histogram.recordValue(Number((tCmp - start) / 1000n));
    const outcome: Outcome = classified.outcome;
    const k = OUTCOMES.indexOf(outcome);
    this.outcomes[k]! += 1;
    this.batchOutcomes[k]! += 1;
    if (classified.cause !== null) this.errors.set(classified.cause, (this.errors.get(classified.cause) ?? 0) + 1);
    this.batch += formatOpLine({
      kind: 'op',
      process: this.plan.index,
      buyer: values.buyer,
      request_id: values.request_id,
      type: OUTCOME_TYPE[outcome],
      outcome,
      t_inv: tInv,
      t_cmp: tCmp,
      status,
      remaining: classified.remaining,
      purchase_id: classified.purchaseId,
      error: classified.error,
    });
    this.batchOps += 1;
    if (this.batchOps >= BATCH_OPS) this.flush();
    if (this.stopping) this.maybeFinish();
    else this.pump();
  }

  /** Sends the batch if a credit allows it (or always, for the last one). */
  private flush(last = false): void {
    if (this.batchOps === 0 || (this.credits === 0 && !last)) return;
    this.credits -= 1;
    this.send({ cmd: 'OPS', lines: this.batch, outcomes: this.batchOutcomes });
    this.batch = '';
    this.batchOps = 0;
    this.batchOutcomes = new Array<number>(OUTCOMES.length).fill(0);
  }

  private maybeFinish(): void {
    if (this.finished || this.inFlight > 0) return;
    const more = this.schedule ? this.pending !== null : this.nextLocal < this.total;
    if (more && !this.stopping) return;
    this.finished = true;
    this.clearTimers();
    this.flush(true);
    const result: ResultMessage = {
      cmd: 'RESULT',
      histogram: encodeHistogram(this.histogram),
      outcomes: this.outcomes,
      sent: this.sent,
      late: this.late,
      dropped: this.dropped,
      maxLatenessUs: Number(this.maxLatenessNs / 1000n),
      firstInvocation: this.firstInvocation?.toString() ?? '',
      lastCompletion: this.lastCompletion?.toString() ?? '',
      errors: Object.fromEntries(this.errors),
    };
    // The caller sends it: RESULT must be the last message, after the last OPS.
    this.done?.(result);
  }

  private clearTimers(): void {
    clearTimeout(this.timer);
    clearInterval(this.flushTimer);
    clearTimeout(this.graceTimer);
    this.timer = undefined;
  }
}


/**
 * One request's handler on undici's dispatch API: the lowest-level one, with
 * no stream or promise per request, which is what lets one process keep up
 * with autocannon. It collects the whole body (always consumed, so the
 * connection is reused) and takes t_cmp once the last byte is in.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private status: number | null = null;
  private chunks: Buffer[] = [];

  constructor(
    private readonly buyer: BuyerProcess,
    /** The connection it went out on, free again once this completes. */
    readonly client: Client,
    /** What the request was made from (buyer, request id, index). */
    readonly values: TemplateValues,
    /** hrtime just before the request was handed to undici. */
    readonly tInv: bigint,
    /** Where latency counts from: tInv, or the intended time in the open model. */
    readonly start: bigint,
  ) {}

  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    // Called again after a 1xx interim answer; only the final one counts.
    this.status = statusCode;
    this.chunks = [];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const tCmp = process.hrtime.bigint();
    const body = this.chunks.length === 1 ? this.chunks[0]!.toString('utf8') : Buffer.concat(this.chunks).toString('utf8');
    this.buyer.answered(this, tCmp, this.status!, body);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.buyer.failed(this, process.hrtime.bigint(), this.status, error);
  }
}
