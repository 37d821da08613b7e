import assert from 'node:assert/strict';
import { readHistory } from '../../src/history/reader.js';
import type { HistoryEnd, HistoryMeta, StepRecord } from '../../src/history/types.js';

/** A flow history read through the real reader, which checks every step line's format. */
export interface FlowHistory {
  meta: HistoryMeta;
  steps: StepRecord[];
  end: HistoryEnd | undefined;
}

/** Reads an `attack --flow` history; any line other than meta, step or end fails the test. */
export async function flowHistory(path: string): Promise<FlowHistory> {
  let meta: HistoryMeta | undefined;
  let end: HistoryEnd | undefined;
  const steps: StepRecord[] = [];
  for await (const record of readHistory(path)) {
    if (record.kind === 'meta') meta = record;
    else if (record.kind === 'step') steps.push(record);
    else if (record.kind === 'end') end = record;
    else assert.fail(`a flow history holds no ${record.kind} line`);
  }
  assert.ok(meta, `${path} has no meta line`);
  return { meta, steps, end };
}

/** A flow's buyer index, from its flow id (`<run_id>-<i>`). */
export function flowIndex(meta: HistoryMeta, flowId: string): number {
  return Number(flowId.slice(meta.run_id.length + 1));
}
