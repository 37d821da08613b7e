// Entry of one history-parsing worker thread: reads and checks one slice of
// a history file, and hands its operations back as columns. Any failure is
// reported as such; the main thread then reads the file itself, so the
// error the user sees names the true line (this worker cannot know it).

import { parentPort, workerData } from 'node:worker_threads';
import { readHistoryBatches, type HistoryRange, type ReadTail } from '../history/reader.js';
import type { FaultRecord, HistoryEnd } from '../history/types.js';
import { HistoryFormatError } from '../errors.js';
import { OpPacker, transferables, type OpColumns } from './op-columns.js';

/** What a worker is given. */
export interface ParseTask {
  path: string;
  range: HistoryRange;
  /** hrtime (ns) the run's times are made relative to. */
  base: bigint;
}

/** What one slice held besides its ops (line numbers as the slice counts them, from 2). */
export interface SliceRest {
  faults: FaultRecord[];
  end: HistoryEnd | undefined;
  /** The end record's line, or 0. */
  endLine: number;
  /** The last line, dropped because it was cut mid-write (only the file's last slice can have one). */
  cutLine: number | undefined;
  /** Lines in the slice. */
  lines: number;
}

/** What a worker answers. */
export type ParseAnswer = { ok: true; columns: OpColumns; rest: SliceRest } | { ok: false; message: string };

const { path, range, base } = workerData as ParseTask;
const packer = new OpPacker(base);
let answer: ParseAnswer;
try {
  const tail: ReadTail = { cutLine: undefined, lines: 0, recordLines: [] };
  const rest: SliceRest = { faults: [], end: undefined, endLine: 0, cutLine: undefined, lines: 0 };
  let seen = 0;
  for await (const batch of readHistoryBatches(path, range, tail)) {
    for (const record of batch) {
      const line = tail.recordLines![seen++]!;
      if (record.kind === 'op') packer.add(record, line);
      else if (record.kind === 'fault') rest.faults.push(record);
      else if (record.kind === 'end') [rest.end, rest.endLine] = [record, line];
      // Flow histories are read in order (parallel-load.ts): a step line here
      // is in a purchase history, and the ordered read names it as such.
      else if (record.kind === 'step') throw new HistoryFormatError(`${path}:${line}: a step line in a sliced read`);
    }
    // The line numbers of a read batch are used up with it.
    tail.recordLines!.length = 0;
    seen = 0;
  }
  rest.cutLine = tail.cutLine;
  rest.lines = tail.lines;
  answer = { ok: true, columns: packer.finish(), rest };
} catch (error) {
  answer = { ok: false, message: (error as Error).message };
}
parentPort!.postMessage(answer, answer.ok ? transferables(answer.columns) : []);
