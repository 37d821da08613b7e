import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { ConfigError } from '../errors.js';
import { openHistory } from '../history/reader.js';
import type { HistoryMeta } from '../history/types.js';
import { unpackOps } from './op-columns.js';
import type { Operation } from './operation.js';
import { readInParallel } from './parallel-load.js';

/** One or more history files (shards of one run) merged into one list of operations. */
export interface LoadedHistory {
  metas: HistoryMeta[];
  ops: Operation[];
  /** Whether every time comes from one machine's monotonic clock. */
  realtime: { exact: true } | { exact: false; reason: string };
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
  const ops: Operation[] = [];
  let base: bigint | undefined;
  const requestIds = new Set<string>();
  let parsing = options.onParsing;
  const started = () => {
    parsing?.();
    parsing = undefined;
  };
  for (const path of paths) {
    // Shards must have disjoint buyers; a repeated request id means the
    // same file was given twice or two shards overlap.
    const distinct = (requestId: string, line: number) => {
      if (paths.length === 1) return;
      if (requestIds.has(requestId)) throw new ConfigError(`${path}:${line}: request id ${requestId} appears in more than one history (the same shard given twice?)`);
      requestIds.add(requestId);
    };
    const name = basename(path);
    const size = await sizeOf(path);
    const threads = Math.min(maxThreads, Math.floor(size / minBytes));
    const parallel = threads >= 2 ? await readInParallel(path, size, base, threads, started) : undefined;
    if (parallel) {
      metas.push(parallel.meta);
      base = parallel.base;
      let firstLine = 2;
      for (const columns of parallel.parts) {
        unpackOps(columns, { file: name, firstLine, quantity: parallel.meta.quantity }, ops, (op) => distinct(op.requestId, op.line));
        firstLine += columns.count;
      }
      continue;
    }
    started();
    const { meta, batches } = await openHistory(path);
    metas.push(meta);
    let line = 1;
    for await (const batch of batches) {
      for (const record of batch) {
        line += 1;
        base ??= record.t_inv;
        distinct(record.request_id, line);
        ops.push({
          type: record.type,
          outcome: record.outcome,
          invoke: Number(record.t_inv - base),
          complete: Number(record.t_cmp - base),
          remaining: record.remaining,
          quantity: meta.quantity,
          requestId: record.request_id,
          buyer: record.buyer,
          process: record.process,
          status: record.status,
          error: record.error,
          file: name,
          line,
        });
      }
    }
  }
  return { metas, ops, realtime: clockOf(metas) };
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
