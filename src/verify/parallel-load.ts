import { open, type FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { parseHistoryLine, type HistoryRange } from '../history/reader.js';
import type { HistoryMeta, OpRecord } from '../history/types.js';
import type { OpColumns } from './op-columns.js';
import type { ParseAnswer, ParseTask, SliceRest } from './parse-worker.js';

/** Bytes read at a time while looking for a line's end. */
const PROBE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** One history file read by several threads: its meta line, base time and op columns in file order. */
export interface ParallelRead {
  meta: HistoryMeta;
  /** hrtime (ns) every time in the columns is relative to. */
  base: bigint;
  /** Each slice's ops, and what else it held (faults, the end record, a cut last line). */
  parts: Array<{ columns: OpColumns; rest: SliceRest }>;
}

/**
 * Parsing JSON is most of what verify spends on a large history, and it is
 * one core's work unless the file is cut up: each of `threads` workers
 * parses one slice, cut at line ends. The meta line and the first op (which
 * fixes the base time unless `base` is given) are read here, so their
 * errors name their lines. Returns undefined when any slice fails: the
 * caller then reads the file in order, and its error names the true line.
 * `size` is the file's, as the caller found it deciding to come here;
 * `onStarted` is called once every worker is under way.
 */
export async function readInParallel(path: string, size: number, base: bigint | undefined, threads: number, onStarted?: () => void): Promise<ParallelRead | undefined> {
  const file = await open(path, 'r');
  let head: Head | undefined;
  let ranges: HistoryRange[];
  try {
    head = await readHead(file, path, size);
    if (!head) return undefined;
    const cuts = [head.opsStart];
    for (let k = 1; k < threads; k++) {
      const cut = await lineStartAtOrAfter(file, head.opsStart + Math.floor((k * (size - head.opsStart)) / threads), size);
      if (cut > cuts.at(-1)! && cut < size) cuts.push(cut);
    }
    cuts.push(size);
    ranges = cuts.slice(0, -1).map((start, k) => ({ start, end: cuts[k + 1]! }));
  } finally {
    await file.close();
  }
  const taskBase = base ?? head.firstOp.t_inv;
  const slices = ranges.map((range) => parseSlice({ path, range, base: taskBase }));
  onStarted?.();
  const answers = await Promise.all(slices);
  if (!answers.every((answer) => answer.ok)) return undefined;
  return { meta: head.meta, base: taskBase, parts: answers.map((answer) => answer as { columns: OpColumns; rest: SliceRest }) };
}

interface Head {
  meta: HistoryMeta;
  firstOp: OpRecord;
  /** Byte where the op lines begin (just after the meta line). */
  opsStart: number;
}

/** The meta line and the first op line, or undefined when the file has no op line in its first MiB (the ordered read then decides). */
async function readHead(file: FileHandle, path: string, size: number): Promise<Head | undefined> {
  const buffer = Buffer.alloc(Math.min(size, 1 << 20));
  const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
  const bytes = buffer.subarray(0, bytesRead);
  const metaEnd = bytes.indexOf(NEWLINE);
  if (metaEnd === -1) return undefined;
  const meta = parseHistoryLine(bytes.toString('utf8', 0, metaEnd), path, 1) as HistoryMeta;
  // A flow history is read in order: its steps would cross from the threads
  // as objects, and that clone cost more than the parse it saved (166,667
  // steps, 48 MB: 1.7–1.9 s CPU with two threads, 0.85–1.05 s in order).
  if (meta.flow) return undefined;
  let lineNumber = 1;
  for (let start = metaEnd + 1, end = bytes.indexOf(NEWLINE, start); end !== -1; start = end + 1, end = bytes.indexOf(NEWLINE, start)) {
    lineNumber += 1;
    const line = bytes.toString('utf8', start, end);
    if (line.trim() === '') continue;
    const record = parseHistoryLine(line, path, lineNumber);
    // Fault lines may come first; the base time is the first op's.
    if (record.kind === 'op') return { meta, firstOp: record, opsStart: metaEnd + 1 };
  }
  return undefined;
}

/** The first byte of the line after the one that `position` falls in (or `size`). */
async function lineStartAtOrAfter(file: FileHandle, position: number, size: number): Promise<number> {
  const buffer = Buffer.alloc(PROBE_BYTES);
  for (let from = position; from < size; from += PROBE_BYTES) {
    const { bytesRead } = await file.read(buffer, 0, PROBE_BYTES, from);
    const at = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
    if (at !== -1) return from + at + 1;
    if (bytesRead === 0) break;
  }
  return size;
}

function parseSlice(task: ParseTask): Promise<ParseAnswer> {
  const worker = new Worker(new URL('./parse-worker.js', import.meta.url), { workerData: task });
  // A worker that fails (out of memory, a bug) or exits without answering
  // counts as a failed slice: the ordered read decides.
  return new Promise<ParseAnswer>((resolve) => {
    worker.once('message', resolve);
    worker.once('error', (error) => resolve({ ok: false, message: error.message }));
    worker.once('exit', (code) => resolve({ ok: false, message: `the parsing worker exited with code ${code}` }));
  }).finally(() => void worker.terminate());
}
