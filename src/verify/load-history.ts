import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { buyerId, requestId as requestId_, shareOf } from '../attack/plan.js';
import { ConfigError, HistoryFormatError } from '../errors.js';
import { checkClosing, readHistoryBatches, type ReadTail } from '../history/reader.js';
import type { FaultRecord, FlowName, HistoryEnd, HistoryMeta } from '../history/types.js';
import type { Realtime } from './clocks.js';
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
  /** Whether every time comes from one machine's monotonic clock, or how the hosts' clocks line up. */
  realtime: Realtime;
  /** Per file: how it ended, its faults, what it lacks. */
  files: HistoryFile[];
  /** The hrtime (ns) operation times are relative to, so reports can place fault records on the same axis. */
  base: bigint | undefined;
  /**
   * Shards of a sharded run (meta `shard`) with no history among those
   * given: their requests were added as unknowns (`unrecorded`, file
   * `missing shard i/n`), and the verdict cannot pass without them.
   */
  missingShards: MissingShard[];
}

/** A shard of a run that no given history holds. */
export interface MissingShard {
  runId: string;
  /** 1-based, as `attack --shard index/count`. */
  index: number;
  count: number;
  /** The buyers it was to run. */
  planned: number;
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
  /**
   * `--clock-skew` in ms: how far the wall clocks of the machines that ran
   * the shards may disagree. Given, times of different hosts are lined up on
   * the wall clock each history recorded and compared beyond this bound;
   * not given, only times of one host are compared.
   */
  clockSkewMs?: number | undefined;
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
  // Each host's times are counted from one base on its own clock; another
  // host's base is put where the wall clocks say the first one's was.
  const hostBases = new Map<string, bigint>();
  let anchor: { base: bigint; offset: bigint } | undefined;
  const bases = new Map<string, bigint | undefined>();
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
    const head = await metaOf(path);
    const host = head ? hostKey(head, name) : undefined;
    const offset = head && wallOffset(head);
    let fileBase = host === undefined ? base : hostBases.get(host);
    if (fileBase === undefined && anchor && offset !== undefined) fileBase = anchor.base + anchor.offset - offset;
    const parallel = threads >= 2 ? await readInParallel(path, size, fileBase, threads, started) : undefined;
    const read = (parallel && fromSlices(parallel, name)) || (started(), await readInOrder(path, name, fileBase));
    const { file, fileOps, fileSteps } = read;
    if (read.base !== undefined) {
      base ??= read.base;
      hostBases.set(hostKey(file.meta, name), read.base);
      const fileOffset = wallOffset(file.meta);
      if (!anchor && fileOffset !== undefined) anchor = { base: read.base, offset: fileOffset };
    }
    bases.set(name, read.base);
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
  const missingShards = findMissingShards(files);
  const flow = metas[0]!.flow;
  if (flow) countUnrecordedFlows(files, steps);
  else addUnrecorded(files, ops, (file) => bases.get(file) ?? base, missingShards);
  return { metas, ops, steps, flow, realtime: clockOf(files, options.clockSkewMs), files, missingShards, base };
}

/** The meta line alone (undefined when the file cannot be read: the full read says why, naming the line). */
async function metaOf(path: string): Promise<HistoryMeta | undefined> {
  try {
    for await (const batch of readHistoryBatches(path)) {
      const meta = batch[0];
      if (meta) return meta.kind === 'meta' ? meta : undefined;
    }
  } catch {
    // Said by the full read.
  }
  return undefined;
}

/** Files of one host read one monotonic clock; a file that names none has a clock of its own. */
function hostKey(meta: HistoryMeta, file: string): string {
  return meta.host_id || `(no host id) ${file}`;
}

/** Wall-clock ns minus hrtime ns at the release, when the history recorded its wall clock. */
function wallOffset(meta: HistoryMeta): bigint | undefined {
  if (meta.released_wall_ms === undefined || meta.released_at <= 0n) return undefined;
  return BigInt(Math.round(meta.released_wall_ms * 1e3)) * 1000n - meta.released_at;
}

/**
 * Shards of each sharded run that no file holds. Shards of one run must
 * agree on their count and on the run's buyers; one given twice is caught
 * by its repeated request ids.
 */
function findMissingShards(files: readonly HistoryFile[]): MissingShard[] {
  const runs = new Map<string, HistoryFile[]>();
  for (const file of files) {
    if (!file.meta.shard) continue;
    const run = runs.get(file.meta.run_id) ?? [];
    run.push(file);
    runs.set(file.meta.run_id, run);
  }
  const missing: MissingShard[] = [];
  for (const [runId, run] of runs) {
    const { count, run_buyers: runBuyers } = run[0]!.meta.shard!;
    for (const file of run) {
      const shard = file.meta.shard!;
      if (shard.count !== count || shard.run_buyers !== runBuyers) {
        throw new ConfigError(`${file.file} is shard ${shard.index}/${shard.count} of ${shard.run_buyers} buyers, ${run[0]!.file} of run ${runId} says ${count} shards of ${runBuyers}: not shards of one run`);
      }
      if (file.meta.buyers !== shareOf(runBuyers, shard)) {
        throw new HistoryFormatError(`${file.file}: shard ${shard.index}/${count} of ${runBuyers} buyers runs ${shareOf(runBuyers, shard)}, its meta line says ${file.meta.buyers}`);
      }
    }
    const present = new Set(run.map((file) => file.meta.shard!.index));
    for (let index = 1; index <= count; index++) {
      if (!present.has(index)) missing.push({ runId, index, count, planned: shareOf(runBuyers, { index, count }) });
    }
  }
  return missing;
}

/**
 * The flow the first history ran (its meta line's `flow`), read before the
 * whole file so the right database read can start while it is parsed;
 * undefined for purchases, and for a file that cannot be read (the load
 * then reports it, naming the line).
 */
export async function firstHistoryFlow(paths: readonly string[]): Promise<FlowName | undefined> {
  return paths.length === 0 ? undefined : (await metaOf(paths[0]!))?.flow;
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
    this.byIndex = new Uint32Array(meta.run_id ? (meta.shard?.run_buyers ?? meta.buyers) : 0);
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
function addUnrecorded(files: HistoryFile[], ops: Operation[], baseOf: (file: string) => bigint | undefined, missingShards: readonly MissingShard[]): void {
  const runs = new Map<string, HistoryFile[]>();
  for (const file of files) {
    const run = runs.get(file.meta.run_id);
    if (run) run.push(file);
    else runs.set(file.meta.run_id, [file]);
  }
  for (const [runId, run] of runs) {
    const missing = missingShards.filter((shard) => shard.runId === runId);
    const cut = run.filter((file) => !file.end);
    if (cut.length === 0 && missing.length === 0) continue;
    // A sharded run plans the buyers of all its shards; its files hold
    // only theirs, so an index is looked for only where it belongs.
    const sharded = run[0]!.meta.shard;
    const planned = sharded ? sharded.run_buyers : Math.max(...run.map((file) => file.meta.buyers));
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
    // Who owns index i: the cut file of its shard, a missing shard, or (a
    // whole shard, or an unsharded whole run) nobody.
    const owners: Array<{ file: string; meta: HistoryMeta | undefined; shardIndex: number | undefined }> = [];
    for (const file of cut) owners.push({ file: file.file, meta: file.meta, shardIndex: file.meta.shard?.index });
    for (const shard of missing) owners.push({ file: `missing shard ${shard.index}/${shard.count}`, meta: undefined, shardIndex: shard.index });
    const ownerOf = (i: number) => (sharded ? owners.find((owner) => owner.shardIndex === (i % sharded.count) + 1) : owners[0]);
    const unrecorded = (owner: (typeof owners)[number], requestId: string, buyer: string, index: number): Operation => {
      const { meta } = owner;
      const base = meta && baseOf(owner.file);
      // Before the barrier released, nothing was sent; a missing shard's
      // release is unknown, so its requests may have gone any time.
      const releasedAt = meta && meta.released_at > 0n && base !== undefined ? Number(meta.released_at - base) : meta ? ops.reduce((least, op) => Math.min(least, op.invoke), 0) : -Infinity;
      return {
        type: 'info',
        outcome: 'unrecorded',
        invoke: releasedAt,
        complete: Infinity,
        remaining: null,
        quantity: (meta ?? run[0]!.meta).quantity,
        requestId,
        buyer,
        purchaseId: null,
        process: index % Math.max(1, (meta ?? run[0]!.meta).processes),
        status: null,
        error: meta ? 'no answer recorded: the history ends before it' : `no answer recorded: the history of ${owner.file} was not given`,
        file: owner.file,
        line: 0,
      };
    };
    const added = new Map<string, number>();
    if (derivable) {
      for (let i = 0; i < planned; i++) {
        if (seen[i]) continue;
        const owner = ownerOf(i);
        if (!owner) continue;
        ops.push(unrecorded(owner, requestId_(runId, i), buyerId(i), i));
        added.set(owner.file, (added.get(owner.file) ?? 0) + 1);
      }
    } else {
      const owner = owners[0]!;
      for (let k = 0; k < planned - recorded; k++) ops.push(unrecorded(owner, '', '', k));
      added.set(owner.file, planned - recorded);
    }
    for (const file of cut) file.unrecorded = added.get(file.file) ?? 0;
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
 * hrtime is monotonic per machine since boot, so histories of one host (and
 * boot) compare exactly. Histories of several hosts compare within each
 * host; across hosts only with --clock-skew and when every history recorded
 * its wall clock at the release (clocks.ts).
 */
function clockOf(files: readonly HistoryFile[], clockSkewMs: number | undefined): Realtime {
  const hostOf = new Map<string, number>();
  const hosts = new Map<string, number>();
  for (const file of files) {
    const key = hostKey(file.meta, file.file);
    if (!hosts.has(key)) hosts.set(key, hosts.size);
    hostOf.set(file.file, hosts.get(key)!);
  }
  if (hosts.size === 1) return { exact: true };
  const named = files.every((file) => file.meta.host_id);
  const lined = files.every((file) => wallOffset(file.meta) !== undefined);
  const skewNs = clockSkewMs !== undefined && lined ? clockSkewMs * 1e6 : undefined;
  const what = named ? `merged shards come from ${hosts.size} machines whose clocks cannot be compared exactly` : 'merged shards carry no host id, so their clocks cannot be compared';
  const why =
    skewNs !== undefined
      ? `${what}: lined up on their wall clocks, ordered across machines only beyond --clock-skew ${clockSkewMs} ms`
      : clockSkewMs !== undefined
        ? `${what}, and not every history recorded its wall clock (released_wall_ms), so --clock-skew cannot line them up: only times of one machine compared`
        : `${what}: only times of one machine compared; give --clock-skew (the most the machines' wall clocks may disagree, e.g. 10ms) to compare across them`;
  return { exact: false, reason: why, hosts: { hostOf, count: hosts.size, skewNs } };
}
