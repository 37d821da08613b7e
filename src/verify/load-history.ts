import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { buyerId, requestId as requestId_ } from '../attack/plan.js';
import { ConfigError, HistoryFormatError } from '../errors.js';
import { checkClosing, readHistoryBatches, type ReadTail } from '../history/reader.js';
import type { FaultRecord, FlowName, HistoryEnd, HistoryMeta } from '../history/types.js';
import { unpackOps } from './op-columns.js';
import type { Operation } from './operation.js';
import { readInParallel, type ParallelRead } from './parallel-load.js';
import { toStep, type Step } from './step.js';

/** What one history file said about itself, beside its operations. */
export interface HistoryFile {
  /** The file's name, as witnesses cite it. */
  file: string;
  meta: HistoryMeta;
  /** Its end record, or undefined when it has none: the run was cut short. */
  end: HistoryEnd | undefined;
  faults: FaultRecord[];
  /** The last line, dropped because it was cut mid-write, if any. */
  cutLine: number | undefined;
  /** Op lines read (step lines, in a flow history). */
  recorded: number;
  /**
   * Planned requests with no op line in a history without its end record,
   * each added to the operations as an unknown (`unrecorded`): the request
   * may have been sent and may have bought. In a flow history: planned flows
   * without a reserve line (the reservation checks treat their rows as
   * recovered).
   */
  unrecorded: number;
}

/** One or more history files (shards of one run) merged into one list of operations. */
export interface LoadedHistory {
  metas: HistoryMeta[];
  ops: Operation[];
  /**
   * The step lines of a flow history (`meta.flow`), in file order; empty for
   * a purchase history. A history holds one or the other: a flow history
   * with op lines, or shards of a flow and a purchase run given together,
   * are refused (auditing both at once is out of scope).
   */
  steps: Step[];
  /** The flow every history ran, or undefined for purchases. */
  flow: FlowName | undefined;
  /** Whether every time comes from one machine's monotonic clock. */
  realtime: { exact: true } | { exact: false; reason: string };
  /** Per file: how it ended, its faults, what it lacks. */
  files: HistoryFile[];
  /** The hrtime (ns) operation times are relative to, so reports can place fault records on the same axis. */
  base: bigint | undefined;
}

/** How histories are read. */
export interface LoadOptions {
  /**
   * Files at least this large are parsed by several worker threads, one
   * slice each (default 16 MiB, about 75,000 operations); smaller ones are
   * not worth a thread's start-up.
   */
  parallelMinBytes?: number;
  /** Most threads parsing one file (default: the CPUs available, at most 4). */
  threads?: number;
  /**
   * Called once, as soon as the first file is being parsed (by its threads,
   * or in order), so the caller can read the database meanwhile.
   */
  onParsing?: () => void;
}

const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;
const MAX_THREADS = 4;

/**
 * Reads every file into compact operations. Times become nanoseconds after
 * the first invocation of the first file, as doubles: exact for runs shorter
 * than 104 days, and fast to compare.
 */
export async function loadHistories(paths: readonly string[], options: LoadOptions = {}): Promise<LoadedHistory> {
  if (paths.length === 0) throw new ConfigError('no history file given: pass --history FILE');
  const minBytes = options.parallelMinBytes ?? PARALLEL_MIN_BYTES;
  const maxThreads = options.threads ?? Math.min(availableParallelism(), MAX_THREADS);
  const metas: HistoryMeta[] = [];
  const files: HistoryFile[] = [];
  let ops: Operation[] = [];
  let steps: Step[] = [];
  let base: bigint | undefined;
  const elsewhere = new Set<string>();
  let parsing = options.onParsing;
  const started = () => {
    parsing?.();
    parsing = undefined;
  };
  for (const path of paths) {
    const name = basename(path);
    const size = await sizeOf(path);
    const threads = Math.min(maxThreads, Math.floor(size / minBytes));
    const parallel = threads >= 2 ? await readInParallel(path, size, base, threads, started) : undefined;
    const read = (parallel && fromSlices(parallel, name)) || (started(), await readInOrder(path, name, base));
    base = read.base;
    const { file, fileOps, fileSteps } = read;
    checkKind(path, file.meta, fileOps, fileSteps, metas[0]);
    // One request id, one request: twice in one file is a broken history.
    const firstLines = new FirstLines(file.meta);
    for (const op of fileSteps.length > 0 ? fileSteps : fileOps) {
      const first = firstLines.add(op.requestId, op.line);
      if (first !== undefined) throw new HistoryFormatError(`${path}:${op.line}: request id ${op.requestId} was already recorded on line ${first}: one request, one ${fileSteps.length > 0 ? 'step' : 'op'} line`);
    }
    // Shards must have disjoint buyers; a repeated request id means the
    // same file was given twice or two shards overlap.
    if (paths.length > 1) {
      // One of the two is empty (checkKind): no copy of a million ops.
      for (const op of fileSteps.length > 0 ? fileSteps : fileOps) {
        if (elsewhere.has(op.requestId)) throw new ConfigError(`${path}:${op.line}: request id ${op.requestId} appears in more than one history (the same shard given twice?)`);
      }
      for (const op of fileOps) elsewhere.add(op.requestId);
      for (const step of fileSteps) elsewhere.add(step.requestId);
    }
    metas.push(file.meta);
    files.push(file);
    // The first file's array is kept as it is: a million pushes saved.
    if (ops.length === 0) ops = fileOps;
    else for (const op of fileOps) ops.push(op);
    if (steps.length === 0) steps = fileSteps;
    else for (const step of fileSteps) steps.push(step);
  }
  // A history cut before its first op still has a clock: the barrier's.
  if (base === undefined) base = metas.find((meta) => meta.released_at > 0n)?.released_at;
  const flow = metas[0]!.flow;
  if (flow) countUnrecordedFlows(files, steps);
  else addUnrecorded(files, ops, base);
  return { metas, ops, steps, flow, realtime: clockOf(metas), files, base };
}

/**
 * The flow the first history ran (its meta line's `flow`), read before the
 * whole file so the right database read can start while it is parsed;
 * undefined for purchases, and for a file that cannot be read (the load
 * then reports it, naming the line).
 */
export async function firstHistoryFlow(paths: readonly string[]): Promise<FlowName | undefined> {
  if (paths.length === 0) return undefined;
  try {
    for await (const batch of readHistoryBatches(paths[0]!)) {
      const meta = batch[0];
      if (meta) return meta.kind === 'meta' ? meta.flow : undefined;
    }
  } catch {
    // Said by loadHistories, with its line.
  }
  return undefined;
}

/**
 * A flow history holds step lines only, a purchase history op lines only,
 * and shards of one audit are all one or all the other: auditing a purchase
 * run and a reservation run together is out of scope, so it is refused
 * rather than half-checked.
 */
function checkKind(path: string, meta: HistoryMeta, fileOps: Operation[], fileSteps: Step[], first: HistoryMeta | undefined): void {
  if (meta.flow && fileOps.length > 0) throw new HistoryFormatError(`${path}:${fileOps[0]!.line}: an op line in a flow history (meta flow ${meta.flow}): a flow records step lines only`);
  if (!meta.flow && fileSteps.length > 0) throw new HistoryFormatError(`${path}:${fileSteps[0]!.line}: a step line in a purchase history (its meta line names no flow)`);
  if (first && first.flow !== meta.flow) {
    const kind = (m: HistoryMeta) => (m.flow ? `a ${m.flow} flow` : 'purchases');
    throw new ConfigError(`${path} records ${kind(meta)}, the first history ${kind(first)}: verify audits one kind of run at a time (give them to separate verify runs)`);
  }
}

/**
 * A flow history without its end record may lack flows that were started:
 * counted per file (planned flows whose reserve line is missing), so the
 * report says so; the reservation checks treat the rows such flows wrote as
 * recovered, and reason only from what the steps surely did.
 */
function countUnrecordedFlows(files: HistoryFile[], steps: readonly Step[]): void {
  for (const file of files) {
    if (file.end) continue;
    let reserves = 0;
    for (const step of steps) if (step.file === file.file && step.step === 'reserve') reserves += 1;
    file.unrecorded = Math.max(0, file.meta.buyers - reserves);
  }
}

/**
 * The line each request id was first seen on. The attack's ids are the run
 * id and the buyer's index (plan.ts), so most are kept in an array by index:
 * a million of them cost a few megabytes and no hashing. Any other id goes
 * to a map.
 */
class FirstLines {
  private readonly byIndex: Uint32Array;
  private readonly others = new Map<string, number>();
  private readonly prefix: string;

  constructor(meta: HistoryMeta) {
    this.byIndex = new Uint32Array(meta.run_id ? meta.buyers : 0);
    this.prefix = `${meta.run_id}-`;
  }

  /** Records the id's line; returns the line it was first seen on if it was already. */
  add(requestId: string, line: number): number | undefined {
    const index = this.indexOf(requestId);
    if (index !== undefined) {
      const first = this.byIndex[index]!;
      if (first !== 0) return first;
      this.byIndex[index] = line;
      return undefined;
    }
    const first = this.others.get(requestId);
    if (first !== undefined) return first;
    this.others.set(requestId, line);
    return undefined;
  }

  private indexOf(requestId: string): number | undefined {
    if (this.byIndex.length === 0 || !requestId.startsWith(this.prefix)) return undefined;
    const digits = requestId.slice(this.prefix.length);
    const index = Number(digits);
    // Only the exact spelling requestId(run, i) makes: "r-07" and "r-7" are two ids.
    return Number.isSafeInteger(index) && index < this.byIndex.length && index >= 0 && String(index) === digits ? index : undefined;
  }
}

interface FileRead {
  file: HistoryFile;
  fileOps: Operation[];
  fileSteps: Step[];
  /** The base time, fixed by the first op read (of this file or an earlier one). */
  base: bigint | undefined;
}

/** One file read line by line on this thread: the reference every parallel read must equal. */
async function readInOrder(path: string, name: string, base: bigint | undefined): Promise<FileRead> {
  const tail: ReadTail = { cutLine: undefined, lines: 0, recordLines: [] };
  let meta: HistoryMeta | undefined;
  const file: Omit<HistoryFile, 'meta'> = { file: name, end: undefined, faults: [], cutLine: undefined, recorded: 0, unrecorded: 0 };
  const fileOps: Operation[] = [];
  const fileSteps: Step[] = [];
  for await (const batch of readHistoryBatches(path, undefined, tail)) {
    let k = 0;
    for (const record of batch) {
      const line = tail.recordLines![k++]!;
      if (record.kind === 'op') {
        base ??= record.t_inv;
        fileOps.push({
          type: record.type,
          outcome: record.outcome,
          invoke: Number(record.t_inv - base),
          complete: Number(record.t_cmp - base),
          remaining: record.remaining,
          quantity: meta!.quantity,
          requestId: record.request_id,
          buyer: record.buyer,
          purchaseId: record.purchase_id,
          process: record.process,
          status: record.status,
          error: record.error,
          file: name,
          line,
        });
      } else if (record.kind === 'fault') file.faults.push(record);
      else if (record.kind === 'end') file.end = record;
      else if (record.kind === 'meta') meta = record;
      else {
        base ??= record.t_inv;
        fileSteps.push(toStep(record, base, name, line));
      }
    }
    tail.recordLines!.length = 0;
  }
  file.cutLine = tail.cutLine;
  file.recorded = fileOps.length + fileSteps.length;
  const whole = { ...file, meta: meta! };
  checkClosing(path, whole.meta, whole);
  return { file: whole, fileOps, fileSteps, base };
}

/**
 * The slices read by worker threads, put back together; undefined when the
 * end record is not in the last slice (the ordered read then names the line
 * after it).
 */
function fromSlices(read: ParallelRead, name: string): FileRead | undefined {
  const { meta, parts } = read;
  const file: HistoryFile = { file: name, meta, end: undefined, faults: [], cutLine: undefined, recorded: 0, unrecorded: 0 };
  const fileOps: Operation[] = [];
  let lineOffset = 0;
  for (const [k, { columns, rest }] of parts.entries()) {
    if (rest.end && k !== parts.length - 1) return undefined;
    unpackOps(columns, { file: name, lineOffset, quantity: meta.quantity }, fileOps);
    file.faults.push(...rest.faults);
    file.end ??= rest.end;
    if (rest.cutLine !== undefined) file.cutLine = lineOffset + rest.cutLine;
    lineOffset += rest.lines;
  }
  file.recorded = fileOps.length;
  if (file.end && (file.end.planned !== meta.buyers || file.end.recorded !== file.recorded)) return undefined;
  // Flow histories never come here (parallel-load.ts reads them in order).
  return { file, fileOps, fileSteps: [], base: read.base };
}

/**
 * A history without its end record was cut short: requests it planned may
 * have been sent, and may have bought, with no line to say so. Each planned
 * request without an op line becomes an unknown operation, invoked any time
 * after the start barrier and never completing, so that rows it wrote are
 * "recovered", not "unexpected", and the stock it took is explained.
 *
 * Request and buyer ids are those the attack gives (plan.ts: run id and
 * index). Files of one run (shards share its run id) are taken together, so
 * a request recorded in one shard is not missing from another. When the
 * recorded ids do not follow the attack's pattern, the unknowns are added
 * without ids, and joins match them by count.
 *
 * What each check makes of them: H1–H5 reason from oks and sold-outs, which
 * they are not; H6 and D1 count them as units that may have been sold (room,
 * never a reason to fail); D3 counts their rows as recovered; D4 compares
 * only oks; D6 settles them from the ledger like any unknown; E1 lists them
 * but does not charge them to --max-errors (the attack lost them, not the
 * server).
 */
function addUnrecorded(files: HistoryFile[], ops: Operation[], base: bigint | undefined): void {
  const runs = new Map<string, HistoryFile[]>();
  for (const file of files) {
    const run = runs.get(file.meta.run_id);
    if (run) run.push(file);
    else runs.set(file.meta.run_id, [file]);
  }
  for (const [runId, run] of runs) {
    const cut = run.find((file) => !file.end);
    if (!cut) continue;
    const planned = Math.max(...run.map((file) => file.meta.buyers));
    const recorded = run.reduce((sum, file) => sum + file.recorded, 0);
    if (planned - recorded <= 0) continue;
    const names = new Set(run.map((file) => file.file));
    const seen = new Uint8Array(planned);
    const prefix = `${runId}-`;
    let derivable = runId !== '';
    for (const op of ops) {
      if (!derivable) break;
      if (!names.has(op.file)) continue;
      const index = op.requestId.startsWith(prefix) ? Number(op.requestId.slice(prefix.length)) : NaN;
      if (Number.isSafeInteger(index) && index >= 0 && index < planned && op.requestId === requestId_(runId, index)) seen[index] = 1;
      else derivable = false;
    }
    const { meta } = cut;
    // Before the barrier released, nothing was sent.
    const releasedAt = meta.released_at > 0n && base !== undefined ? Number(meta.released_at - base) : ops.reduce((least, op) => Math.min(least, op.invoke), 0);
    const unrecorded = (requestId: string, buyer: string, index: number): Operation => ({
      type: 'info',
      outcome: 'unrecorded',
      invoke: releasedAt,
      complete: Infinity,
      remaining: null,
      quantity: meta.quantity,
      requestId,
      buyer,
      purchaseId: null,
      process: index % Math.max(1, meta.processes),
      status: null,
      error: 'no answer recorded: the history ends before it',
      file: cut.file,
      line: 0,
    });
    let added = 0;
    if (derivable) {
      for (let i = 0; i < planned; i++) {
        if (seen[i]) continue;
        ops.push(unrecorded(requestId_(runId, i), buyerId(i), i));
        added += 1;
      }
    } else {
      for (; added < planned - recorded; added++) ops.push(unrecorded('', '', added));
    }
    cut.unrecorded = added;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    // The ordered read reports a missing or unreadable file in its own words.
    return 0;
  }
}

/**
 * Real-time order is only meaningful between times read from one clock:
 * hrtime is monotonic per machine since boot, so shards must share a host
 * (and a boot) for H4, H5 and H6's deadlines to compare their times.
 */
function clockOf(metas: HistoryMeta[]): LoadedHistory['realtime'] {
  if (metas.length === 1) return { exact: true };
  const hosts = new Set(metas.map((meta) => meta.host_id || '(none)'));
  if (hosts.size === 1 && !hosts.has('(none)')) return { exact: true };
  return {
    exact: false,
    reason: hosts.has('(none)')
      ? 'merged shards carry no host id, so their clocks cannot be compared'
      : `merged shards come from ${hosts.size} machines whose clocks cannot be compared`,
  };
}
