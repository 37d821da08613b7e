// The history file round trip: what the writer writes, the reader reads back
// exactly (nanoseconds beyond 2^53 included), and a bad file is named by line.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HistoryFormatError } from '../src/errors.js';
import { openHistory, readHistory } from '../src/history/reader.js';
import { HISTORY_SCHEMA, type HistoryMeta, type HistoryRecord, type OpRecord } from '../src/history/types.js';
import { formatOpLine, HistoryWriter } from '../src/history/writer.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-history-'));

const meta: HistoryMeta = {
  kind: 'meta',
  schema: HISTORY_SCHEMA,
  target: 'http://127.0.0.1:3000/buy',
  buyers: 2,
  started_at: '2026-01-01T00:00:00.000Z',
  method: 'POST',
  quantity: 1,
  processes: 2,
  concurrency: 2,
  rate: null,
  seed: 7,
  run_id: 'abc',
  host_id: 'host/boot',
  ready_at: 9_007_199_254_740_993n, // 2^53 + 1: not representable as a double
  released_at: 9_007_199_254_740_995n,
};

const ok: OpRecord = {
  kind: 'op',
  process: 1,
  buyer: 'b-1',
  request_id: 'abc-1',
  type: 'ok',
  outcome: 'bought',
  t_inv: 9_007_199_254_741_001n,
  t_cmp: 9_007_199_254_741_003n,
  status: 200,
  remaining: 99,
  purchase_id: '42',
  error: null,
};

const info: OpRecord = {
  ...ok,
  process: 0,
  buyer: 'b-0',
  request_id: 'abc-0',
  type: 'info',
  outcome: 'timeout',
  t_inv: 9_007_199_254_741_011n,
  t_cmp: 9_007_199_254_741_013n,
  status: null,
  remaining: null,
  purchase_id: null,
  error: 'UND_ERR_HEADERS_TIMEOUT: "quoted", \\ and {"t_inv":5,"t_cmp":6} inside text',
};

async function collect(path: string): Promise<HistoryRecord[]> {
  const records: HistoryRecord[] = [];
  for await (const record of readHistory(path)) records.push(record);
  return records;
}

async function rejection(path: string): Promise<HistoryFormatError> {
  try {
    await collect(path);
  } catch (error) {
    assert.ok(error instanceof HistoryFormatError, String(error));
    return error;
  }
  assert.fail(`${path} was accepted`);
}

describe('history: writer and reader', () => {
  test('round trip is exact, times beyond 2^53 ns included', async () => {
    const path = join(scratch, 'round-trip.jsonl');
    const writer = await HistoryWriter.create(path);
    await writer.writeMeta(meta);
    await writer.write(formatOpLine(ok) + formatOpLine(info));
    await writer.close();

    const text = readFileSync(path, 'utf8');
    assert.match(text, /"t_inv":9007199254741001,/, 'times are integer literals, not strings');
    assert.equal(text.split('\n').length, 4, 'three lines, each ending in a newline');

    const { meta: read, ops } = await openHistory(path);
    assert.deepEqual(read, meta);
    const records: OpRecord[] = [];
    for await (const op of ops) records.push(op);
    assert.deepEqual(records, [ok, info]);
  });

  test('each line is valid JSON with DESIGN.md field order', () => {
    const line = formatOpLine(info);
    assert.ok(line.endsWith('\n'));
    const parsed = JSON.parse(line);
    assert.deepEqual(Object.keys(parsed), ['kind', 'process', 'buyer', 'request_id', 'type', 'outcome', 't_inv', 't_cmp', 'status', 'remaining', 'purchase_id', 'error']);
    assert.equal(parsed.error, info.error);
  });

  test('a file that is not a history, or a bad line, is named with its line number', async () => {
    const write = (name: string, lines: string[]) => {
      const path = join(scratch, name);
      writeFileSync(path, lines.join('\n'));
      return path;
    };
    const metaLine = JSON.stringify({ kind: 'meta', schema: HISTORY_SCHEMA, target: 't', buyers: 1, started_at: 'now' });
    const opLine = formatOpLine(ok).trim();

    assert.match((await rejection(write('empty.jsonl', []))).message, /empty/);
    assert.match((await rejection(write('no-meta.jsonl', [opLine]))).message, /no-meta\.jsonl:1: the first line must be the meta line/);
    assert.match((await rejection(write('schema.jsonl', [metaLine.replace(HISTORY_SCHEMA, 'other/9')]))).message, /schema\.jsonl:1: schema "other\/9"/);
    assert.match((await rejection(write('type.jsonl', [metaLine, opLine, opLine.replace('"type":"ok"', '"type":"fail"')]))).message, /type\.jsonl:3: outcome bought must have type ok/);
    assert.match((await rejection(write('outcome.jsonl', [metaLine, opLine.replace('"bought"', '"maybe"')]))).message, /outcome\.jsonl:2: unknown outcome "maybe"/);
    assert.match((await rejection(write('time.jsonl', [metaLine, opLine.replace(/"t_inv":\d+/, '"t_inv":"12"')]))).message, /time\.jsonl:2: "t_inv" must be a whole number of nanoseconds/);
    assert.match((await rejection(write('order.jsonl', [metaLine, opLine.replace(/"t_cmp":\d+/, '"t_cmp":5')]))).message, /order\.jsonl:2: t_cmp is before t_inv/);
    // A last line cut mid-write is no format error: the reader drops it and says so (verify reports the history incomplete).
    const cut = await openHistory(write('cut.jsonl', [metaLine, opLine, opLine.slice(0, 40)]));
    for await (const batch of cut.batches) assert.equal(batch.length, 1);
    assert.deepEqual([cut.closing.cutLine, cut.closing.recorded, cut.closing.end], [3, 1, undefined]);
  });

  test('an unwritable path is a one-line configuration error', async () => {
    await assert.rejects(HistoryWriter.create(join(scratch, 'missing', 'h.jsonl')), /cannot write the history file .*its folder does not exist \(ENOENT\)/);
  });
});
