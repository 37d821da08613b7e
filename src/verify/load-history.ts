import { basename } from 'node:path';
import { ConfigError } from '../errors.js';
import { openHistory } from '../history/reader.js';
import type { HistoryMeta } from '../history/types.js';
import type { Operation } from './operation.js';

/** One or more history files (shards of one run) merged into one list of operations. */
export interface LoadedHistory {
  metas: HistoryMeta[];
  ops: Operation[];
  /** Whether every time comes from one machine's monotonic clock. */
  realtime: { exact: true } | { exact: false; reason: string };
}

/**
 * Reads every file, one line at a time, into compact operations. Times
 * become nanoseconds after the first invocation of the first file, as
 * doubles: exact for runs shorter than 104 days, and fast to compare.
 */
export async function loadHistories(paths: readonly string[]): Promise<LoadedHistory> {
  if (paths.length === 0) throw new ConfigError('no history file given: pass --history FILE');
  const metas: HistoryMeta[] = [];
  const ops: Operation[] = [];
  let base: bigint | undefined;
  const requestIds = new Set<string>();
  for (const path of paths) {
    const { meta, batches } = await openHistory(path);
    metas.push(meta);
    const name = basename(path);
    let line = 1;
    for await (const batch of batches) {
      for (const record of batch) {
        line += 1;
        base ??= record.t_inv;
        if (paths.length > 1) {
          // Shards must have disjoint buyers; a repeated request id means the
          // same file was given twice or two shards overlap.
          if (requestIds.has(record.request_id)) {
            throw new ConfigError(`${path}:${line}: request id ${record.request_id} appears in more than one history (the same shard given twice?)`);
          }
          requestIds.add(record.request_id);
        }
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
