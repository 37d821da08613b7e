// `verify --history a b c` over shards of one run (attack --shard): a
// missing shard is named, and real-time checks across machines compare
// times only as far as the recorded wall clocks and --clock-skew allow.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { requestId, shardIndices } from '../src/attack/plan.js';
import { HISTORY_SCHEMA, type HistoryMeta, type HistoryShard } from '../src/history/types.js';
import { formatEndLine, formatMetaLine, formatOpLine } from '../src/history/writer.js';
import type { Realtime } from '../src/verify/clocks.js';
import { describeOperation } from '../src/verify/operation.js';
import { judgeFlow } from '../src/verify/verify.js';
import { runCli } from './helpers/cli.js';
import { confirmed, reserved } from './helpers/reservation-steps.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-verify-shards-'));
const MS = 1_000_000n;
/** One wall-clock instant every shard released at (ms since the epoch). */
const WALL = 1_800_000_000_000;

interface ShardFile {
  shard: HistoryShard;
  host: string;
  /** This host's hrtime at the release: hosts' monotonic clocks start anywhere. */
  releasedAt: bigint;
  /** Buys, by global buyer index: [index, ms after the release it was invoked, remaining told]. */
  buys: Array<[number, number, number]>;
}

/** Writes one shard's history: each buy answered 1 ms after it was sent; no end line when `cut`. */
function shardHistory(name: string, file: ShardFile, cut = false): string {
  const meta: HistoryMeta = {
    kind: 'meta',
    schema: HISTORY_SCHEMA,
    target: 'http://127.0.0.1:3000/buy',
    buyers: [...shardIndices(file.shard.run_buyers, file.shard)].length,
    started_at: new Date(WALL).toISOString(),
    method: 'POST',
    quantity: 1,
    processes: 1,
    concurrency: 1,
    rate: null,
    seed: 1,
    run_id: 'run',
    host_id: file.host,
    ready_at: file.releasedAt - MS,
    released_at: file.releasedAt,
    released_wall_ms: WALL,
    shard: file.shard,
  };
  const ops = file.buys.map(([index, at, remaining]) => {
    const tInv = file.releasedAt + BigInt(at) * MS;
    return formatOpLine({ kind: 'op', process: file.shard.index - 1, buyer: `b-${index}`, request_id: requestId('run', index), type: 'ok', outcome: 'bought', t_inv: tInv, t_cmp: tInv + MS, status: 200, remaining, purchase_id: String(index), error: null });
  });
  const end = cut ? [] : [formatEndLine({ kind: 'end', planned: meta.buyers, recorded: ops.length, reason: 'done' })];
  const path = join(scratch, name);
  writeFileSync(path, [formatMetaLine(meta), ...ops, ...end].join(''));
  return path;
}

interface VerdictJson {
  status: string;
  checks: Array<{ id: string; status: string; summary: string; reason?: string; witnesses: Array<{ message: string }> }>;
}

async function verify(histories: string[], ...flags: string[]): Promise<{ code: number | null; verdict: VerdictJson; stderr: string }> {
  const run = await runCli(['verify', '--history', ...histories, '--history-only', '--json', ...flags]);
  return { code: run.code, verdict: run.stdout ? (JSON.parse(run.stdout) as VerdictJson) : { status: '', checks: [] }, stderr: run.stderr };
}

const checkOf = (verdict: VerdictJson, id: string) => verdict.checks.find((check) => check.id === id);

describe('verify: a missing shard', () => {
  const shard = (index: number) => ({ index, count: 3, run_buyers: 6 });
  // Six buyers, stock 6: shard k holds buyers k-1 and k+2; each told a distinct remaining.
  const first = shardHistory('missing-1.jsonl', { shard: shard(1), host: 'host-a', releasedAt: 10_000n * MS, buys: [[0, 1, 5], [3, 2, 4]] });
  const third = shardHistory('missing-3.jsonl', { shard: shard(3), host: 'host-a', releasedAt: 10_000n * MS, buys: [[2, 5, 1], [5, 6, 0]] });

  test('is named, and the verdict is INCONCLUSIVE (exit 3), even with --history-only', async () => {
    const { code, verdict } = await verify([first, third], '--initial-stock', '6');
    assert.equal(code, 3);
    assert.equal(verdict.status, 'INCONCLUSIVE');
    const s1 = checkOf(verdict, 'S1')!;
    assert.equal(s1.status, 'UNKNOWN');
    assert.match(s1.reason!, /no history of shard 2\/3 of run run \(2 buyers\)/);
    // The missing shard's two requests may have bought: H6 may not call the gap unexplained.
    assert.equal(checkOf(verdict, 'H6')!.status, 'PASS', JSON.stringify(checkOf(verdict, 'H6')));
  });

  test("a missing shard's request settled from the ledger reads as such, not '-Infinity ms'", () => {
    // D6 settles a missing shard's request the ledger shows bought; its witness line used to say
    // "invoked -Infinity ms, completed never [missing shard 2/3:0]".
    const line = describeOperation({
      type: 'ok', outcome: 'bought', invoke: -Infinity, complete: Infinity, remaining: 70, quantity: 1, requestId: 'run-982',
      buyer: 'b-982', purchaseId: null, process: 0, status: null, error: null, file: 'missing shard 2/3', line: 0,
    });
    assert.equal(line, 'b-982 request run-982: bought 1, remaining 70; sent at an unknown time, no answer recorded [missing shard 2/3]');
  });

  test('given all three, the run is whole: no S1 row, PASS', async () => {
    const second = shardHistory('missing-2.jsonl', { shard: shard(2), host: 'host-a', releasedAt: 10_000n * MS, buys: [[1, 3, 3], [4, 4, 2]] });
    const { code, verdict } = await verify([first, second, third], '--initial-stock', '6');
    assert.equal(code, 0, JSON.stringify(verdict.checks));
    assert.equal(checkOf(verdict, 'S1'), undefined);
  });

  test('shards that disagree on their run are refused in one line', async () => {
    const stranger = shardHistory('stranger.jsonl', { shard: { index: 2, count: 4, run_buyers: 6 }, host: 'host-a', releasedAt: 10_000n * MS, buys: [] });
    const { code, stderr } = await verify([first, stranger], '--initial-stock', '6');
    assert.equal(code, 2);
    assert.match(stderr, /stranger\.jsonl is shard 2\/4 of 6 buyers, missing-1\.jsonl of run run says 3 shards of 6: not shards of one run/);
  });
});

describe('verify: shards of two machines', () => {
  const shard = (index: number) => ({ index, count: 2, run_buyers: 4 });
  // Host A's buyer 0 is told 0 left and answered 2 ms after the shared
  // release; host B's buyer 1 is sent 50 ms after it and told 1 left: the
  // stock went back up, by 48 ms on the wall clocks. The hrtimes of the two
  // hosts are seconds apart and mean nothing to each other.
  const onA = shardHistory('host-a.jsonl', { shard: shard(1), host: 'host-a/boot', releasedAt: 10_000n * MS, buys: [[0, 1, 0]] });
  const onB = shardHistory('host-b.jsonl', { shard: shard(2), host: 'host-b/boot', releasedAt: 7_000n * MS, buys: [[1, 50, 1]] });

  test('without --clock-skew: only times of one machine compared, H4 N/A saying how to compare', async () => {
    const { code, verdict } = await verify([onA, onB], '--initial-stock', '2');
    assert.equal(code, 0, JSON.stringify(verdict.checks));
    const h4 = checkOf(verdict, 'H4')!;
    assert.equal(h4.status, 'N/A');
    assert.match(h4.reason!, /2 machines .*only times of one machine compared; give --clock-skew/);
  });

  test('--clock-skew 10ms: the order holds beyond the bound, so H4 FAILs with both answers', async () => {
    const { code, verdict } = await verify([onA, onB], '--initial-stock', '2', '--clock-skew', '10ms');
    assert.equal(code, 1);
    const h4 = checkOf(verdict, 'H4')!;
    assert.equal(h4.status, 'FAIL');
    assert.match(h4.summary, /2 hosts: exact within each, across them only beyond the 10 ms --clock-skew bound/);
    assert.match(h4.witnesses[0]!.message, /completed first was told 0 remaining, yet a purchase invoked after it was told 1/);
  });

  test('--clock-skew 100ms: 48 ms apart is within what the clocks may err, so no FAIL', async () => {
    const { code, verdict } = await verify([onA, onB], '--initial-stock', '2', '--clock-skew', '100ms');
    assert.equal(code, 0, JSON.stringify(verdict.checks));
    assert.equal(checkOf(verdict, 'H4')!.status, 'PASS');
  });

  test('an order within one machine is exact whatever the other machines: FAIL without --clock-skew', async () => {
    // Host A's buyer 2 is sent 10 ms after buyer 0's answer (told 0) and told 2.
    const both = shardHistory('host-a-both.jsonl', { shard: shard(1), host: 'host-a/boot', releasedAt: 10_000n * MS, buys: [[0, 1, 0], [2, 12, 2]] });
    const { code, verdict } = await verify([both, onB], '--initial-stock', '3');
    assert.equal(code, 1);
    assert.equal(checkOf(verdict, 'H4')!.status, 'FAIL');
  });

  test('histories without a recorded wall clock cannot be lined up: --clock-skew says so', async () => {
    // As histories written before released_wall_ms existed.
    const [a, b] = ([[onA, 'old-a.jsonl'], [onB, 'old-b.jsonl']] as const).map(([path, name]) => {
      const copy = join(scratch, name);
      writeFileSync(copy, readFileSync(path, 'utf8').replace(/"released_wall_ms":[\d.]+,/, ''));
      return copy;
    });
    const { code, verdict } = await verify([a!, b!], '--initial-stock', '2', '--clock-skew', '10ms');
    assert.equal(code, 0, JSON.stringify(verdict.checks));
    assert.equal(checkOf(verdict, 'H4')!.status, 'N/A');
    assert.match(checkOf(verdict, 'H4')!.reason!, /not every history recorded its wall clock/);
  });
});

describe('verify: reservation flows of two machines (R2, R3)', () => {
  // Stock 1. Host A holds r_1 from 1 ms to 1001 ms (ttl 1000 ms); host B
  // holds r_2 from 21 ms: both surely held at once, by 980 ms, on the wall clocks.
  const hosts = (skewNs: number | undefined): Realtime => ({ exact: false, reason: 'merged shards come from 2 machines', hosts: { hostOf: new Map([['a', 0], ['b', 1]]), count: 2, skewNs } });
  const steps = [reserved('f1', 'r_1', 0, 1, { file: 'a' }), reserved('f2', 'r_2', 20, 21, { file: 'b' })];
  const checkOf = (id: string, realtime: Realtime) => judgeFlow(steps, { initialStock: 1, reservations: { none: true }, realtime, maxErrors: Infinity, historyOnly: true }).checks.find((check) => check.id === id)!;

  test('R2 is N/A across machines without --clock-skew', () => assert.equal(checkOf('R2', hosts(undefined)).status, 'N/A'));
  test('R2 FAILs when the holds overlap by more than the bound', () => assert.equal(checkOf('R2', hosts(10e6)).status, 'FAIL'));
  test('R2 does not FAIL when they overlap by less than the bound', () => assert.equal(checkOf('R2', hosts(2000e6)).status, 'PASS'));
  test('R3 compares a hold\'s own steps exactly: one flow is one machine', () => {
    const late = [reserved('f1', 'r_1', 0, 1, { file: 'a', ttlMs: 10 }), confirmed('f1', 'r_1', 50, 51, { file: 'a' }), reserved('f2', 'r_2', 20, 21, { file: 'b' })];
    const r3 = judgeFlow(late, { initialStock: 2, reservations: { none: true }, realtime: hosts(undefined), maxErrors: Infinity, historyOnly: true }).checks.find((check) => check.id === 'R3')!;
    assert.equal(r3.status, 'FAIL', JSON.stringify(r3));
  });
});
