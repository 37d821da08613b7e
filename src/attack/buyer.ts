import { isIPv6, type Socket } from 'node:net';
import { buildConnector, Client, type Dispatcher } from 'undici';
import { OUTCOMES, OUTCOME_TYPE, type Outcome } from '../history/types.js';
import { formatOpLine } from '../history/writer.js';
import { ArrivalSchedule } from './arrivals.js';
import { classifyAnswer, classifyFailure, errorCode, interrupted, notSent, type Classified, type ClassifyRules } from './classify.js';
import { encodeHistogram, newHistogram } from './histogram.js';
import { buyerId, buyersOf, requestId, type ChildPlan } from './plan.js';
import type { ChildMessage, ReadyMessage, ResultMessage } from './protocol.js';
import { LATE_AFTER_MS } from './summary.js';
import { compileTemplate, type CompiledTemplate, type TemplateValues } from './template.js';

/** Op lines per OPS message: large enough to keep IPC cheap, small enough to stream. */
const BATCH_OPS = 1024;
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
/** First wait before a refused connection is tried again; it doubles up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 25;
const RETRY_MAX_MS = 250;
/** Position of conn_refused in the outcome counts. */
const CONN_REFUSED = OUTCOMES.indexOf('conn_refused');

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
  private lastInvocation: bigint | null = null;
  private firstAnswer: bigint | null = null;
  private lastCompletion: bigint | null = null;
  private readonly outcomes = new Array<number>(OUTCOMES.length).fill(0);
  private readonly errors = new Map<string, number>();

  // The batch of op lines not yet sent, and flow control.
  private batch = '';
  private batchOps = 0;
  private batchOutcomes = new Array<number>(OUTCOMES.length).fill(0);
  private credits = CREDITS;

  /** Requests whose connection failed before any byte was written, waiting to try again. */
  private readonly retrying = new Set<Exchange>();
  /** hrtime of the first connection failure since anything last connected, or null. */
  private refusedSince: bigint | null = null;
  /** Why the target counts as lost (it refused connections for longer than the timeout), or null. */
  private lost: string | null = null;

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
      refusedStatus: plan.rules.refusedStatus,
      refusedBody: plan.rules.refusedBody === null ? null : new RegExp(plan.rules.refusedBody),
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
    // Only a full batch held for want of a credit goes at once: sending every
    // partial one on each ACK made batches of ~90 lines, each a wakeup of the
    // coordinator; the timer sends partial batches.
    if (this.batchOps >= BATCH_OPS) this.flush();
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
    // Requests waiting to reconnect were never written: surely not bought.
    this.settleRetrying('the run was stopped');
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
    for (const exchange of this.retrying) clearTimeout(exchange.retryTimer);
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

  /**
   * Closed model: keep exactly `connections` requests in flight until the
   * buyers run out. Once the target is lost, the buyers not yet sent are
   * recorded at once as not sent, as fast as the history takes them.
   */
  private pumpClosed(): void {
    while (this.nextLocal < this.total && this.batchOps < MAX_HELD_OPS && (this.lost !== null || this.inFlight < this.plan.connections)) {
      const index = this.plan.index + this.nextLocal * this.plan.processes;
      this.nextLocal += 1;
      if (this.lost !== null) this.recordUnsent(index);
      else this.fire(index, null);
    }
  }

  /**
   * Open model: send each arrival at its time, whatever the earlier ones are
   * doing. Latency counts from the intended time, so waiting for a free
   * connection here is measured, not hidden (coordinated omission).
   */
  private pumpOpen(): void {
    if (this.lost !== null) {
      while (this.pending && this.batchOps < MAX_HELD_OPS) {
        this.recordUnsent(this.pending.index);
        this.pending = this.schedule!.next();
      }
      return;
    }
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
    // Names and values alternate, the form undici keeps headers in itself.
    const headers: string[] = [];
    for (const [name, template] of this.headers) headers.push(name, template(values));
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
    this.lastInvocation = tInv;
    this.dispatch(new Exchange(this, { path: this.plan.path, method: this.plan.method, headers, body }, values.buyer, values.request_id, tInv, intended ?? tInv));
  }

  /** Hands a request to a free connection (there is always one: in flight ≤ connections). */
  private dispatch(exchange: Exchange): void {
    const client = this.free.pop()!;
    exchange.client = client;
    client.dispatch(exchange.request, exchange);
  }

  /** A connection is carrying a request: the target is there. */
  connected(): void {
    this.refusedSince = null;
  }

  /** An answer came, body and all. */
  answered(exchange: Exchange, tCmp: bigint, status: number, body: string, retryAfter: boolean): void {
    this.free.push(exchange.client!);
    this.firstAnswer ??= tCmp;
    this.complete(exchange.buyerId, exchange.requestId, exchange.tInv, exchange.start, tCmp, status, classifyAnswer(status, body, this.rules, retryAfter));
  }

  /**
   * No (whole) answer came: the connection failed, the request timed out or
   * was cut by a stop. This runs inside undici's error handling, which, once
   * it has failed every request queued on a client, asserts the queue is
   * empty: a request sent from here would go to that very client (it is
   * free again) and break the assertion, killing the process. So the
   * client is released, and the next request sent, only after undici is done.
   */
  failed(exchange: Exchange, tCmp: bigint, status: number | null, error: Error): void {
    queueMicrotask(() => this.settleFailure(exchange, tCmp, status, error));
  }

  private settleFailure(exchange: Exchange, tCmp: bigint, status: number | null, error: Error): void {
    this.free.push(exchange.client!);
    if (exchange.started) {
      this.complete(exchange.buyerId, exchange.requestId, exchange.tInv, exchange.start, tCmp, status, this.cut ? interrupted() : classifyFailure(error));
      return;
    }
    // No byte of the request was written (undici calls onConnect just
    // before it writes): surely not bought. The connection is tried again
    // until the request's own timeout, so buyers outlast a target restart.
    exchange.lastError = error;
    this.refusedSince ??= tCmp;
    if (this.lost === null && tCmp - this.refusedSince >= this.timeoutNs) this.loseTarget(error);
    if (this.lost !== null) return this.completeUnsent(exchange, tCmp, this.lost);
    if (this.stopping) return this.completeUnsent(exchange, tCmp, 'the run was stopped');
    if (tCmp - exchange.tInv >= this.timeoutNs || permanent(error)) return this.completeUnsent(exchange, tCmp, null);
    const leftMs = Number(exchange.tInv + this.timeoutNs - tCmp) / 1e6;
    const waitMs = Math.max(1, Math.min(exchange.backoffMs, leftMs));
    exchange.backoffMs = Math.min(exchange.backoffMs * 2, RETRY_MAX_MS);
    this.retrying.add(exchange);
    exchange.retryTimer = setTimeout(() => {
      this.retrying.delete(exchange);
      exchange.retryTimer = undefined;
      exchange.started = false;
      this.dispatch(exchange);
    }, waitMs);
  }

  /**
   * Connections have failed for longer than the timeout with nothing
   * connecting in between: the target is gone. Nothing more is sent;
   * requests waiting to reconnect, and buyers not yet sent, are recorded
   * at once as not sent, so the run ends within about one timeout.
   */
  private loseTarget(error: Error): void {
    this.lost = `not sent: the target refused connections for longer than the timeout (${errorCode(error)})`;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.settleRetrying(this.lost);
  }

  /** Records every request waiting to reconnect as not sent. */
  private settleRetrying(why: string): void {
    const now = process.hrtime.bigint();
    for (const exchange of [...this.retrying]) {
      clearTimeout(exchange.retryTimer);
      this.retrying.delete(exchange);
      this.completeUnsent(exchange, now, why);
    }
  }

  private completeUnsent(exchange: Exchange, tCmp: bigint, why: string | null): void {
    this.complete(exchange.buyerId, exchange.requestId, exchange.tInv, exchange.start, tCmp, null, notSent(exchange.lastError, why));
  }

  /** A buyer never sent because the target was lost: surely not bought, recorded without a request. */
  private recordUnsent(index: number): void {
    const now = process.hrtime.bigint();
    this.outcomes[CONN_REFUSED]! += 1;
    this.batchOutcomes[CONN_REFUSED]! += 1;
    this.errors.set('not sent (target lost)', (this.errors.get('not sent (target lost)') ?? 0) + 1);
    this.batch += formatOpLine({
      kind: 'op',
      process: this.plan.index,
      buyer: buyerId(index),
      request_id: requestId(this.plan.runId, index),
      type: 'fail',
      outcome: 'conn_refused',
      t_inv: now,
      t_cmp: now,
      status: null,
      remaining: null,
      purchase_id: null,
      error: this.lost,
    });
    this.batchOps += 1;
    if (this.batchOps >= BATCH_OPS) this.flush();
  }

  private complete(buyer: string, request_id: string, tInv: bigint, start: bigint, tCmp: bigint, status: number | null, classified: Classified): void {
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
      buyer,
      request_id,
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
      lastInvocation: this.lastInvocation?.toString() ?? '',
      firstAnswer: this.firstAnswer?.toString() ?? '',
      lastCompletion: this.lastCompletion?.toString() ?? '',
      targetLost: this.lost,
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
 * One request's handler on undici's dispatch API, the lowest-level one: no
 * stream or promise per request. It implements the callbacks undici's Client
 * calls itself (onConnect, onHeaders, onData, onComplete, onError): a
 * handler with the newer onRequestStart/onResponse* names is wrapped per
 * request in an adapter that also parses every answer's headers into an
 * object, which cost about a tenth of undici's share of a request here. It
 * collects the whole body (always consumed, so the connection is reused)
 * and takes t_cmp once the last byte is in.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private status: number | null = null;
  private retryAfter = false;
  /** The body: most answers come in one chunk, kept as is; `more` holds any others. */
  private first: Buffer | null = null;
  private more: Buffer[] | null = null;
  /** The connection it went out on, free again once this completes. */
  client: Client | undefined;
  /** Set when undici is about to write the request: before that, no byte of it has left. */
  started = false;
  /** While waiting to reconnect: the last connection error, the next wait, the timer. */
  lastError: Error | undefined;
  backoffMs = RETRY_FIRST_MS;
  retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly buyer: BuyerProcess,
    /** The request as handed to undici (kept to send it again after a refused connection). */
    readonly request: Dispatcher.DispatchOptions,
    /** The buyer id and the request id, as the op line names them. */
    readonly buyerId: string,
    readonly requestId: string,
    /** hrtime just before the request was handed to undici. */
    readonly tInv: bigint,
    /** Where latency counts from: tInv, or the intended time in the open model. */
    readonly start: bigint,
  ) {}

  /** undici is about to write the request. */
  onConnect(): void {
    this.started = true;
    this.buyer.connected();
  }

  /** Called again after a 1xx interim answer; only the final one counts. */
  onHeaders(statusCode: number, headers: Buffer[]): boolean {
    this.status = statusCode;
    this.retryAfter = statusCode >= 500 && hasRetryAfter(headers);
    this.first = null;
    this.more = null;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.first === null) this.first = chunk;
    else (this.more ??= []).push(chunk);
    return true;
  }

  onComplete(): void {
    const tCmp = process.hrtime.bigint();
    const body = this.first === null ? '' : this.more === null ? this.first.toString('utf8') : Buffer.concat([this.first, ...this.more]).toString('utf8');
    this.buyer.answered(this, tCmp, this.status!, body, this.retryAfter);
  }

  onError(error: Error): void {
    this.buyer.failed(this, process.hrtime.bigint(), this.status, error);
  }
}

/** Whether raw headers (name, value, name, value… as undici hands them over) include Retry-After. */
function hasRetryAfter(headers: Buffer[]): boolean {
  for (let k = 0; k < headers.length; k += 2) {
    const name = headers[k]!;
    if (name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') return true;
  }
  return false;
}

/**
 * Errors of a connection attempt, which a later attempt may not meet (the
 * target restarting, a full backlog). Anything else before the request was
 * written (a certificate the client will not accept, an argument undici
 * refuses) would fail the same way again: not retried.
 */
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAI_AGAIN']);

function permanent(error: Error): boolean {
  return !RETRYABLE.has(errorCode(error));
}
