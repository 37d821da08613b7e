// Entry of one history-parsing worker thread: reads and checks one slice of
// a history file, and hands its operations back as columns. Any failure is
// reported as such; the main thread then reads the file itself, so the
// error the user sees names the true line (this worker cannot know it).

import { parentPort, workerData } from 'node:worker_threads';
import { readHistoryBatches, type HistoryRange } from '../history/reader.js';
import type { OpRecord } from '../history/types.js';
import { OpPacker, transferables, type OpColumns } from './op-columns.js';

/** What a worker is given. */
export interface ParseTask {
  path: string;
  range: HistoryRange;
  /** hrtime (ns) the run's times are made relative to. */
  base: bigint;
}

/** What a worker answers. */
export type ParseAnswer = { ok: true; columns: OpColumns } | { ok: false; message: string };

const { path, range, base } = workerData as ParseTask;
const packer = new OpPacker(base);
let answer: ParseAnswer;
try {
  for await (const batch of readHistoryBatches(path, range)) {
    for (const record of batch) packer.add(record as OpRecord);
  }
  answer = { ok: true, columns: packer.finish() };
} catch (error) {
  answer = { ok: false, message: (error as Error).message };
}
parentPort!.postMessage(answer, answer.ok ? transferables(answer.columns) : []);
