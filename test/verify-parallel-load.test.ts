// Large histories are parsed by several worker threads, one slice each. The
// threads must change nothing but the time taken: the same operations in the
// same order with the same fields, and the same errors naming the same lines,
// as reading the file in order. A tiny threshold forces the threads onto
// small crafted files.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatMetaLine, formatOpLine } from '../src/history/writer.js';
import { OUTCOME_TYPE, OUTCOMES, type HistoryMeta, type OpRecord } from '../src/history/types.js';
import { HistoryFormatError } from '../src/errors.js';
import { loadHistories, type LoadOptions } from '../src/verify/load-history.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-parallel-load-'));
const ORDERED: LoadOptions = { parallelMinBytes: Number.MAX_SAFE_INTEGER };
const threads = (n: number): LoadOptions => ({ parallelMinBytes: 1, threads: n });

function meta(runId: string, base: bigint): HistoryMeta {
  return {
    kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/buy', buyers: 0, started_at: '2026-11-22T00:00:00.000Z', method: 'POST',
    quantity: 2, processes: 3, concurrency: 10, rate: null, seed: 1, run_id: runId, host_id: 'test/boot', ready_at: base, released_at: base,
  };
}

/** Every outcome, null and non-null fields, escapes, non-ASCII buyers; times near 2^60 when `huge`. */
function history(name: string, runId: string, count: number, huge = false): string {
  const base = huge ? 1n << 60n : 5_000_000_000n;
  const lines = [formatMetaLine(meta(runId, base))];
  for (let i = 0; i < count; i++) {
    const outcome = OUTCOMES[i % OUTCOMES.length]!;
    const op: OpRecord = {
      kind: 'op', process: i % 3, buyer: i % 5 === 0 ? `bü"yer\n${i} ✓` : `b-${i}`, request_id: `${runId}-${i}`, type: OUTCOME_TYPE[outcome], outcome,
      t_inv: base + BigInt(i) * 1_000n, t_cmp: base + BigInt(i) * 1_000n + BigInt(i % 7) * 333n, status: outcome === 'timeout' ? null : 200 + i,
      remaining: i % 4 === 0 ? null : count - i, purchase_id: i % 2 ? String(i) : null, error: OUTCOME_TYPE[outcome] === 'info' ? `cause ${i}: "quoted"\t` : null,
    };
    lines.push(formatOpLine(op));
    if (i % 50 === 7) lines.push('\n');
  }
  const path = join(scratch, name);
  writeFileSync(path, lines.join(''));
  return path;
}

describe('parsing a history in several threads', () => {
  test('gives exactly the operations of the ordered read, in the same order', async () => {
    const path = history('one.jsonl', 'one', 2_000);
    const ordered = await loadHistories([path], ORDERED);
    assert.equal(ordered.ops.length, 2_000);
    for (const n of [2, 3, 4]) assert.deepEqual(await loadHistories([path], threads(n)), ordered, `${n} threads`);
  });

  test('keeps every nanosecond of times beyond 2^53', async () => {
    const path = history('huge.jsonl', 'huge', 500, true);
    const ordered = await loadHistories([path], ORDERED);
    assert.equal(ordered.ops[499]!.invoke, 499_000);
    assert.deepEqual(await loadHistories([path], threads(2)), ordered);
  });

  test('merges shards as the ordered read does, and refuses the same shard twice in its words', async () => {
    const a = history('shard-a.jsonl', 'sa', 700);
    const b = history('shard-b.jsonl', 'sb', 900);
    assert.deepEqual(await loadHistories([a, b], threads(2)), await loadHistories([a, b], ORDERED));
    const ordered = await loadHistories([a, a], ORDERED).catch((error: Error) => error);
    const parallel = await loadHistories([a, a], threads(2)).catch((error: Error) => error);
    assert.ok(ordered instanceof Error && /appears in more than one history/.test(ordered.message));
    assert.deepEqual(parallel, ordered);
  });

  test('a bad line deep in a slice is reported with its true line number', async () => {
    const path = history('bad.jsonl', 'bad', 1_000);
    const lines = readFileSync(path, 'utf8').split('\n');
    const bad = lines.findIndex((line, index) => index >= 900 && line.includes('"process":'));
    lines[bad] = lines[bad]!.replace('"process":', '"process":-');
    writeFileSync(path, lines.join('\n'));
    const ordered = await loadHistories([path], ORDERED).catch((error: Error) => error);
    assert.ok(ordered instanceof Error);
    assert.match(ordered.message, new RegExp(`bad\\.jsonl:${bad + 1}: "process" must be a whole number`));
    assert.deepEqual(await loadHistories([path], threads(3)).catch((error: Error) => error), ordered);
  });

  test('a last line cut short is dropped and said, the same way in threads', async () => {
    const path = history('cut.jsonl', 'cut', 300);
    appendFileSync(path, '{"kind":"op","process":0,"buy');
    const ordered = await loadHistories([path], ORDERED);
    assert.equal(ordered.ops.length, 300);
    assert.equal(ordered.files[0]!.end, undefined);
    assert.equal(ordered.files[0]!.cutLine, readFileSync(path, 'utf8').split('\n').length);
    assert.deepEqual(await loadHistories([path], threads(2)), ordered);
  });

  test('fault and end records are read, and ops keep their true lines, the same way in threads', async () => {
    const path = history('closed.jsonl', 'closed', 600);
    const lines = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
    lines.splice(400, 0, '{"kind":"fault","name":"kill","detail":"server pid 7","t_start":5000300000,"t_end":5000400000,"error":null}');
    lines.splice(3, 0, '{"kind":"fault","name":"pause","detail":"","t_start":5000000100,"t_end":5000000200,"error":"exit 1"}');
    lines[0] = lines[0]!.replace('"buyers":0', '"buyers":600');
    lines.push('{"kind":"end","planned":600,"recorded":600,"reason":"done"}');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const ordered = await loadHistories([path], ORDERED);
    const [file] = ordered.files;
    assert.deepEqual(file!.end, { kind: 'end', planned: 600, recorded: 600, reason: 'done' });
    assert.deepEqual(file!.faults.map((fault) => fault.name), ['pause', 'kill']);
    for (const op of ordered.ops) assert.match(lines[op.line - 1]!, new RegExp(`"request_id":"${op.requestId}"`));
    for (const n of [2, 3]) assert.deepEqual(await loadHistories([path], threads(n)), ordered, `${n} threads`);
  });

  test('a line after the end record, or an end record that miscounts, is a format error in both reads', async () => {
    const path = history('after-end.jsonl', 'after', 400);
    const text = readFileSync(path, 'utf8');
    const cut = text.indexOf('\n', Math.floor(text.length / 2)) + 1;
    writeFileSync(path, `${text.slice(0, cut)}{"kind":"end","planned":0,"recorded":9,"reason":"done"}\n${text.slice(cut)}`);
    const ordered = await loadHistories([path], ORDERED).catch((error: Error) => error);
    assert.ok(ordered instanceof HistoryFormatError);
    assert.match(ordered.message, /after-end\.jsonl:\d+: a line after the end record \(line \d+\), which must be the last/);
    assert.deepEqual(await loadHistories([path], threads(3)).catch((error: Error) => error), ordered);
    const miscounted = history('miscounted.jsonl', 'mis', 300);
    appendFileSync(miscounted, '{"kind":"end","planned":0,"recorded":299,"reason":"done"}\n');
    const wrong = await loadHistories([miscounted], ORDERED).catch((error: Error) => error);
    assert.match(String(wrong), /the end record says 299 operations were recorded, the file has 300/);
    assert.deepEqual(await loadHistories([miscounted], threads(2)).catch((error: Error) => error), wrong);
  });

  test('one request id twice in one history is a format error in both reads', async () => {
    const path = history('twice.jsonl', 'twice', 500);
    const lines = readFileSync(path, 'utf8').split('\n');
    const last = lines.findLastIndex((line) => line.includes('"request_id":"twice-'));
    lines[last] = lines[last]!.replace(/"request_id":"twice-\d+"/, '"request_id":"twice-3"');
    writeFileSync(path, lines.join('\n'));
    const ordered = await loadHistories([path], ORDERED).catch((error: Error) => error);
    assert.ok(ordered instanceof HistoryFormatError);
    assert.match(ordered.message, new RegExp(`twice\\.jsonl:${last + 1}: request id twice-3 was already recorded on line \\d+`));
    assert.deepEqual(await loadHistories([path], threads(2)).catch((error: Error) => error), ordered);
  });
});
