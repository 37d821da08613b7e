// The history file (DESIGN.md "History file"): JSON Lines, one meta line, then
// one line per operation as it completes. `attack` writes it, `verify` reads
// it; these types are the whole contract between the two.

/** The `schema` value of the meta line; a reader refuses any other. */
export const HISTORY_SCHEMA = 'flashsale-history/1';

/** ok = the effect surely happened; fail = surely did not; info = unknown. */
export type OpType = 'ok' | 'fail' | 'info';

/** What became of one request, by the classification DESIGN.md gives. */
export type Outcome = 'bought' | 'sold_out' | 'refused' | 'rejected' | 'http_5xx' | 'timeout' | 'conn_reset' | 'conn_refused' | 'bad_body';

/** Every outcome, in the order summaries list them. */
export const OUTCOMES: readonly Outcome[] = ['bought', 'sold_out', 'refused', 'rejected', 'http_5xx', 'timeout', 'conn_reset', 'conn_refused', 'bad_body'];

/**
 * The type each outcome always has. An outcome never changes type: an info
 * is never guessed into ok or fail, whatever the odds.
 */
export const OUTCOME_TYPE: Readonly<Record<Outcome, OpType>> = {
  bought: 'ok',
  sold_out: 'fail',
  // "Not now, try again" (429, 503 with Retry-After, --refused-status/body):
  // surely not bought, and no claim about the stock, so never a sold-out.
  refused: 'fail',
  rejected: 'fail',
  conn_refused: 'fail',
  http_5xx: 'info',
  timeout: 'info',
  conn_reset: 'info',
  bad_body: 'info',
};

/** Line 1 of a history file: what was attacked, how, and when. */
export interface HistoryMeta {
  kind: 'meta';
  /** Always HISTORY_SCHEMA. */
  schema: typeof HISTORY_SCHEMA;
  /** The URL every request went to. */
  target: string;
  /** Buyers planned (one request each); fewer ops mean the run was stopped early. */
  buyers: number;
  /** Wall-clock start, ISO 8601, for people; ordering uses the monotonic times. */
  started_at: string;
  /** HTTP method of every request. */
  method: string;
  /** Units each request asks for (verify reasons in units when above 1). */
  quantity: number;
  /** Attacking child processes. */
  processes: number;
  /** Most requests in flight at once, across all processes. */
  concurrency: number;
  /** Arrivals per second for the open model; null for the closed model. */
  rate: number | null;
  /** Seed of the open model's arrival schedule. */
  seed: number;
  /** Prefix of every request id of this run, so runs never share an id. */
  run_id: string;
  /**
   * The machine and boot whose monotonic clock the times come from: times of
   * histories with the same host_id can be compared, others cannot.
   */
  host_id: string;
  /** hrtime (ns) when the last child reported ready at the start barrier. */
  ready_at: bigint;
  /** hrtime (ns) when the barrier released: no operation was invoked before it. */
  released_at: bigint;
  /**
   * The wall clock (ms since the epoch, to the microsecond) read at the
   * instant released_at was: maps this history's hrtime onto wall time, so
   * verify can line up shards run on different machines (as well as their
   * clocks agree). Absent in histories written before it existed.
   */
  released_wall_ms?: number;
  /** `attack --start-at`: the wall-clock instant the barrier was to release, ISO 8601. */
  start_at?: string;
  /** `attack --shard`: which slice of a run this history holds; absent for a whole run. */
  shard?: HistoryShard;
  /**
   * The flow each buyer ran (`attack --flow`); absent for one-step purchases.
   * A flow history holds step lines instead of op lines.
   */
  flow?: FlowName;
}

/**
 * A shard's place in its run. The shard holds the buyers whose global index
 * i has i mod count = index − 1; its meta `buyers` (and end `planned`) count
 * only those, and shards of one run share its run_id.
 */
export interface HistoryShard {
  /** 1-based, as `--shard index/count` gave it. */
  index: number;
  count: number;
  /** Buyers of the whole run, all shards together. */
  run_buyers: number;
}

/** One completed operation: one request and what became of it. */
export interface OpRecord {
  kind: 'op';
  /** Index of the attacking child process (0-based). */
  process: number;
  /** The buyer id sent in the request. */
  buyer: string;
  /** The request id, sent as Idempotency-Key; unique within and across runs. */
  request_id: string;
  type: OpType;
  outcome: Outcome;
  /** hrtime (ns) taken just before the request was handed to the HTTP client. */
  t_inv: bigint;
  /** hrtime (ns) taken after the response body was read (or the request failed). */
  t_cmp: bigint;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  /**
   * Stock the answer says is left, or null when it says none. Any integer: an
   * ok answer claiming a negative stock is evidence of an oversell (H1), so
   * it is recorded as said, never turned into an unknown.
   */
  remaining: number | null;
  /** The purchase id the answer gave, as text, or null. */
  purchase_id: string | null;
  /** Why the operation is not plainly ok or fail (timeout, reset, unparsable body…), or null. */
  error: string | null;
}

/** Why a run's history ended. */
export type EndReason = 'done' | 'interrupted' | 'target_lost';

/**
 * The last line of a complete history. A history without it was cut short
 * (coordinator killed, disk full, file truncated): verify says so, and treats
 * every planned request that has no op line as unknown.
 */
export interface HistoryEnd {
  kind: 'end';
  /** Requests planned: the meta line's `buyers`. */
  planned: number;
  /** Op lines written before this one. */
  recorded: number;
  reason: EndReason;
}

/**
 * A fault injected during the run (`attack --fault`, `prove --faults`), on
 * the same monotonic clock as the operations, so reports can mark it on the
 * time axis. Written when the fault has finished; may appear anywhere
 * between the meta line and the end line.
 */
export interface FaultRecord {
  kind: 'fault';
  /** What was done: `kill`, `pause`, `drop`, or `command` for `attack --fault`. */
  name: string;
  /** For people: the command run or the process acted on. */
  detail: string;
  /** hrtime (ns) when the fault began. */
  t_start: bigint;
  /** hrtime (ns) when it was over (the command exited, the process resumed). */
  t_end: bigint;
  /** Why the fault itself failed (a command's non-zero exit…), or null. */
  error: string | null;
}

/**
 * Multi-step flows (issue 12): a buyer reserves units, then confirms, cancels
 * or abandons the hold. Each request of a flow is one step line.
 */
export type FlowName = 'reserve-confirm';

/** Which request of a flow a step line records. */
export type StepName = 'reserve' | 'confirm' | 'cancel';

export const STEP_NAMES: readonly StepName[] = ['reserve', 'confirm', 'cancel'];

/**
 * What became of one step. The first four are the step's own success or
 * refusal; the rest mean what they mean for a purchase (Outcome).
 * - reserved: the hold surely exists (201/200 with a reservation id).
 * - confirmed / cancelled: the hold was surely settled by this step.
 * - sold_out: a reserve refused because too few units were available.
 * - expired: a confirm or cancel refused because the hold had expired (its
 *   units went back on sale by expiry, not by this step).
 * - rejected: any other definite refusal (unknown, foreign, already
 *   confirmed or cancelled reservation; bad input).
 */
export type StepOutcome = 'reserved' | 'confirmed' | 'cancelled' | 'sold_out' | 'expired' | 'refused' | 'rejected' | 'http_5xx' | 'timeout' | 'conn_reset' | 'conn_refused' | 'bad_body';

export const STEP_OUTCOMES: readonly StepOutcome[] = ['reserved', 'confirmed', 'cancelled', 'sold_out', 'expired', 'refused', 'rejected', 'http_5xx', 'timeout', 'conn_reset', 'conn_refused', 'bad_body'];

/** As for purchases: an outcome never changes type. */
export const STEP_OUTCOME_TYPE: Readonly<Record<StepOutcome, OpType>> = {
  reserved: 'ok',
  confirmed: 'ok',
  cancelled: 'ok',
  sold_out: 'fail',
  expired: 'fail',
  refused: 'fail',
  rejected: 'fail',
  conn_refused: 'fail',
  http_5xx: 'info',
  timeout: 'info',
  conn_reset: 'info',
  bad_body: 'info',
};

/** The outcome a step counts as success for. */
export const STEP_SUCCESS: Readonly<Record<StepName, StepOutcome>> = { reserve: 'reserved', confirm: 'confirmed', cancel: 'cancelled' };

/**
 * One completed step of a flow: one request and what became of it. Times,
 * status and error mean what they mean on an op line.
 */
export interface StepRecord {
  kind: 'step';
  process: number;
  buyer: string;
  /**
   * The buyer's flow: its reserve's request id. Every step of one flow
   * carries it, so a flow's steps are found without a join.
   */
  flow_id: string;
  step: StepName;
  /**
   * Sent as Idempotency-Key. A reserve's is requestId(run, i), as a
   * purchase's; a confirm's is `<flow_id>.confirm`, a cancel's
   * `<flow_id>.cancel`.
   */
  request_id: string;
  type: OpType;
  outcome: StepOutcome;
  t_inv: bigint;
  t_cmp: bigint;
  status: number | null;
  /**
   * The reservation this step made (reserve: from the answer) or acted on
   * (confirm, cancel: as sent); null when a reserve got none.
   */
  reservation_id: string | null;
  /** Units the reserve asked for (confirm and cancel: the hold's units). */
  quantity: number;
  /**
   * Units the answer says are still available (not held, not sold), or
   * null when it says none. Any integer, as on an op line.
   */
  remaining: number | null;
  /**
   * A reserve's hold time as its answer stated it (`ttl_seconds` × 1000), in
   * ms; null on other steps and when the answer stated none (verify then
   * takes `--reservation-ttl`). A hold made by a reserve that completed at
   * t_cmp has surely expired by t_cmp + ttl_ms.
   */
  ttl_ms: number | null;
  error: string | null;
}

/** Any line of a history file. */
export type HistoryRecord = HistoryMeta | OpRecord | HistoryEnd | FaultRecord | StepRecord;
