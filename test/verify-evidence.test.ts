// verify through bin/ on crafted histories, as a user meets them: a run cut
// short at a line boundary or mid-line, a history that repeats a request id,
// a server whose answers contradict the stock, a verify that could not see
// the database (INCONCLUSIVE, or --history-only), checks that cannot apply
// (N/A), refusals that must never count as sold-outs, and every ledger join.
// The final state comes from a small SQLite file read with --stock-sql and
// --ledger-sql, written here with the rows each case needs.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-evidence-'));
const RUN = 'r1';
/** hrtime of the start barrier; every op is invoked after it. */
const RELEASED = 1_000_000_000;

interface CraftedOp {
  /** Buyer index: request id `r1-i`, buyer `b-i`, as attack names them. */
  i: number;
  outcome: 'bought' | 'sold_out' | 'refused' | 'timeout';
  /** Invoked and completed, in µs after the barrier. */
  at: [number, number];
  remaining?: number | null;
  purchaseId?: string | null;
  buyer?: string;
}

const TYPES = { bought: 'ok', sold_out: 'fail', refused: 'fail', timeout: 'info' } as const;
const STATUS = { bought: 200, sold_out: 410, refused: 503, timeout: null } as const;

function metaLine(buyers: number): string {
  return JSON.stringify({
    kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/buy', buyers, started_at: '2026-11-23T10:00:00.000Z', method: 'POST',
    quantity: 1, processes: 1, concurrency: buyers, rate: null, seed: 1, run_id: RUN, host_id: 'test/boot', ready_at: RELEASED - 1000, released_at: RELEASED,
  });
}

function opLine(op: CraftedOp): string {
  return JSON.stringify({
    kind: 'op', process: 0, buyer: op.buyer ?? `b-${op.i}`, request_id: `${RUN}-${op.i}`, type: TYPES[op.outcome], outcome: op.outcome,
    t_inv: RELEASED + op.at[0] * 1000, t_cmp: RELEASED + op.at[1] * 1000, status: STATUS[op.outcome], remaining: op.remaining ?? null,
    purchase_id: op.purchaseId ?? null, error: op.outcome === 'timeout' ? 'no answer within 5000 ms' : null,
  });
}

/** A history file: the meta line, the ops, and the end record unless `end` is false. */
function historyFile(name: string, buyers: number, ops: CraftedOp[], end: boolean | 'interrupted' = true): string {
  const lines = [metaLine(buyers), ...ops.map(opLine)];
  if (end) lines.push(JSON.stringify({ kind: 'end', planned: buyers, recorded: ops.length, reason: end === true ? 'done' : end }));
  const path = join(scratch, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

interface Row {
  i: number;
  stockAfter: number;
  id?: number;
}

/** A shop database: its final stock and ledger rows (request id, buyer id, row id, stock_after). */
function shopDb(name: string, finalStock: number, rows: Row[]): string {
  const path = join(scratch, `${name}.db`);
  const db = new Database(path);
  db.exec('CREATE TABLE stock (left_now INTEGER); CREATE TABLE orders (id INTEGER PRIMARY KEY, request_id TEXT, buyer_id TEXT, quantity INTEGER, stock_after INTEGER)');
  db.prepare('INSERT INTO stock VALUES (?)').run(finalStock);
  const insert = db.prepare('INSERT INTO orders (id, request_id, buyer_id, quantity, stock_after) VALUES (?, ?, ?, 1, ?)');
  rows.forEach((row, k) => insert.run(row.id ?? 100 + k, `${RUN}-${row.i}`, `b-${row.i}`, row.stockAfter));
  db.close();
  return path;
}

const ALL_COLUMNS = 'SELECT id, request_id, buyer_id, quantity, stock_after FROM orders';

function verifyArgs(history: string, db: string, stock: number, ledgerSql = ALL_COLUMNS): string[] {
  return ['verify', '--history', history, '--db', `sqlite:${db}`, '--initial-stock', String(stock), '--stock-sql', 'SELECT left_now FROM stock', '--ledger-sql', ledgerSql];
}

/** A check's row of the table as one line, `│ H1 ok-range │ PASS │ detail… │`, its wrapped detail joined back. */
function row(stdout: string, id: string): string {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`│ ${id} `));
  if (start === -1) return '';
  const cells = (line: string) => line.split('│').slice(1, -1).map((cell) => cell.trim());
  const [name, result, ...detail] = cells(lines[start]!);
  for (let k = start + 1; k < lines.length && /^│\s+│/.test(lines[k]!); k++) detail.push(cells(lines[k]!)[2]!);
  return `│ ${name} │ ${result} │ ${detail.join(' ')} │`;
}

describe('a history cut short is audited anyway, and the server is not blamed for what it did not record', () => {
  // Stock 5, ten buyers planned. The server sold units to buyers 0–4, every
  // sale in its ledger. The attack recorded only buyers 0–2 before it died.
  const sold: CraftedOp[] = [
    { i: 0, outcome: 'bought', at: [0, 10], remaining: 4 },
    { i: 1, outcome: 'bought', at: [0, 20], remaining: 3 },
    { i: 2, outcome: 'bought', at: [0, 30], remaining: 2 },
  ];
  const db = shopDb('cut', 0, [0, 1, 2, 3, 4].map((i) => ({ i, stockAfter: 4 - i })));

  test('with the end record claiming the run was whole, the rows of buyers 3 and 4 are unexpected (FAIL)', async () => {
    const history = historyFile('claims-whole.jsonl', 10, sold, 'interrupted');
    const run = await runCli(verifyArgs(history, db, 5));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(row(run.stdout, 'D3'), /FAIL ×2/);
    assert.match(run.stdout, /unexpected: a ledger row for a request this run never sent/);
    assert.match(run.stdout, /history: complete, ended early: claims-whole\.jsonl interrupted after 3 of 10 planned requests \(the rest were never sent\)/);
  });

  test('cut at a line boundary: PASS, and the verdict says the history is incomplete', async () => {
    const history = historyFile('cut-at-line.jsonl', 10, sold, false);
    const run = await runCli(verifyArgs(history, db, 5));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /history: incomplete history: cut-at-line\.jsonl has no end record: 7 of 10 planned requests have no answer recorded/);
    assert.match(row(run.stdout, 'D3'), /PASS │ .*recovered 2 \(2 by requests the incomplete history did not record\)/);
    assert.match(row(run.stdout, 'E1'), /7 planned requests unrecorded/);
    assert.match(run.stdout, /verdict: PASS: 13 of 13 applicable checks passed, none failed; incomplete history/);
  });

  test('cut mid-line: the cut line is dropped and said, PASS', async () => {
    const whole = historyFile('whole.jsonl', 10, [...sold, { i: 3, outcome: 'bought', at: [0, 40], remaining: 1 }], false);
    const text = readFileSync(whole, 'utf8');
    const history = join(scratch, 'cut-mid-line.jsonl');
    writeFileSync(history, text.slice(0, text.length - 40));
    const run = await runCli(verifyArgs(history, db, 5));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /cut-mid-line\.jsonl has no end record \(its last line, 5, was cut mid-write and dropped\): 7 of 10 planned requests/);
  });

  test('a lost sale is still caught in an incomplete history', async () => {
    const history = historyFile('cut-lost.jsonl', 10, sold, false);
    const lostDb = shopDb('cut-lost', 0, [0, 2, 3, 4].map((i) => ({ i, stockAfter: 4 - i })));
    const run = await runCli(verifyArgs(history, lostDb, 5));
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /lost: the buyer was told the purchase succeeded, but the ledger has no row for it/);
  });
});

describe('format errors are exit 2, one line', () => {
  test('one request id on two op lines', async () => {
    const history = historyFile('twice.jsonl', 2, [
      { i: 0, outcome: 'bought', at: [0, 10], remaining: 1 },
      { i: 0, outcome: 'bought', at: [0, 20], remaining: 0 },
    ]);
    const run = await runCli(['verify', '--history', history, '--history-only', '--initial-stock', '2']);
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /twice\.jsonl:3: request id r1-0 was already recorded on line 2: one request, one op line/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  test('a line after the end record', async () => {
    const history = historyFile('after-end.jsonl', 1, [{ i: 0, outcome: 'bought', at: [0, 10], remaining: 0 }]);
    writeFileSync(history, `${readFileSync(history, 'utf8')}${opLine({ i: 1, outcome: 'sold_out', at: [20, 30] })}\n`);
    const run = await runCli(['verify', '--history', history, '--history-only', '--initial-stock', '1']);
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /after-end\.jsonl:4: a line after the end record \(line 3\), which must be the last/);
  });
});

describe('answers that contradict the stock fail H1 whatever --max-errors says', () => {
  for (const [what, remaining] of [['a negative remaining', -3], ['a remaining of at least the initial stock', 3]] as const) {
    test(what, async () => {
      const history = historyFile(`liar-${remaining}.jsonl`, 4, [
        { i: 0, outcome: 'bought', at: [0, 10], remaining },
        { i: 1, outcome: 'timeout', at: [0, 5000] },
        { i: 2, outcome: 'timeout', at: [0, 5000] },
        { i: 3, outcome: 'timeout', at: [0, 5000] },
      ]);
      const run = await runCli(['verify', '--history', history, '--history-only', '--initial-stock', '3', '--max-errors', '99']);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(row(run.stdout, 'H1'), /FAIL ×1/);
      assert.match(run.stdout, new RegExp(`an ok answer reports ${remaining} remaining.*\\n\\s+op\\s+b-0 request r1-0`));
      assert.match(row(run.stdout, 'E1'), /PASS/);
    });
  }
});

describe('honest verdicts', () => {
  // Sold 1 of 10 and told 99 buyers "sold out", all in flight together, so
  // real time alone cannot tell: only the final stock can.
  const undersold: CraftedOp[] = [{ i: 0, outcome: 'bought', at: [0, 50], remaining: 9, purchaseId: '100' }];
  for (let i = 1; i < 100; i++) undersold.push({ i, outcome: 'sold_out', at: [0, 60 + i], remaining: 0 });
  const history = historyFile('undersold.jsonl', 100, undersold);

  test('history-only verify of an underselling server is INCONCLUSIVE (exit 3), naming the inputs that would decide it', async () => {
    const junit = join(scratch, 'undersold.xml');
    const run = await runCli(['verify', '--history', history, '--junit', junit]);
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, /verdict: INCONCLUSIVE: 9 of 13 checks could not run \(H1 H3 H6 D1 D2 D3 D4 D5 D6\): the database was not read; give --initial-stock, --db to decide them/);
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuite [^>]*failures="0" skipped="0" errors="9">/);
    assert.match(xml, /<error message="UNKNOWN: no store given/);
    const json = JSON.parse((await runCli(['verify', '--history', history, '--json'])).stdout);
    assert.equal(json.status, 'INCONCLUSIVE');
    const needs = json.checks.filter((check: { status: string }) => check.status === 'UNKNOWN').map((check: { needs: string }) => check.needs);
    assert.deepEqual(needs, [...Array(3).fill('--initial-stock'), ...Array(6).fill('--db')]);
    // --history-only accepts going without the database, not without the stock.
    const historyOnly = await runCli(['verify', '--history', history, '--history-only']);
    assert.equal(historyOnly.code, 3, historyOnly.stdout);
    assert.match(historyOnly.stdout, /verdict: INCONCLUSIVE: 3 of 13 checks could not run \(H1 H3 H6\); give --initial-stock to decide them/);
  });

  test('given the initial stock, the history alone shows this undersell (H6)', async () => {
    const run = await runCli(['verify', '--history', history, '--initial-stock', '10', '--history-only']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(row(run.stdout, 'H6'), /FAIL ×1 │ 10 units implied sold, 9 not owned by an ok, 0 info ops/);
  });

  test('--history-only makes the choice explicit: exit 0, and the verdict says so', async () => {
    const honest = historyFile('honest.jsonl', 3, [
      { i: 0, outcome: 'bought', at: [0, 10], remaining: 1 },
      { i: 1, outcome: 'bought', at: [20, 30], remaining: 0 },
      { i: 2, outcome: 'sold_out', at: [40, 50], remaining: 0 },
    ]);
    const run = await runCli(['verify', '--history', honest, '--initial-stock', '2', '--history-only']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /verdict: PASS \(history only\): 7 of 7 applicable checks passed, none failed; history only: D1 D2 D3 D4 D5 D6 not run \(--history-only\)/);
    assert.match(row(run.stdout, 'D5'), /UNKNOWN\*/);
    const inconclusive = await runCli(['verify', '--history', honest, '--initial-stock', '2']);
    assert.equal(inconclusive.code, 3, inconclusive.stdout);
    const contradiction = await runCli(['verify', '--history', honest, '--history-only', '--db', 'sqlite:/nonexistent.db']);
    assert.equal(contradiction.code, 2);
    assert.match(contradiction.stderr, /--history-only and a store to audit (.*) contradict each other/);
  });

  test('--strict turns INCONCLUSIVE into exit 1', async () => {
    assert.equal((await runCli(['verify', '--history', history, '--strict'])).code, 1);
  });

  test('with the database, the undersell fails D5', async () => {
    const db = shopDb('undersold', 9, [{ i: 0, stockAfter: 9 }]);
    const run = await runCli(verifyArgs(history, db, 10));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /a buyer was told sold out for 1 unit, yet 9 remain at the end \(undersell\)/);
  });

  test('a server that reports no remaining stock: those checks are N/A, say why, and do not block', async () => {
    const quiet = historyFile('quiet.jsonl', 3, [
      { i: 0, outcome: 'bought', at: [0, 10] },
      { i: 1, outcome: 'bought', at: [0, 20] },
      { i: 2, outcome: 'sold_out', at: [30, 40] },
    ]);
    const db = shopDb('quiet', 0, [{ i: 0, stockAfter: 1 }, { i: 1, stockAfter: 0 }]);
    const junit = join(scratch, 'quiet.xml');
    const run = await runCli([...verifyArgs(quiet, db, 2), '--junit', junit]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(row(run.stdout, 'H1'), /N\/A │ no successful answer carried a remaining stock \(the server sends none, or attack --remaining-field does not name it\)/);
    assert.match(run.stdout, /verdict: PASS: 9 of 9 applicable checks passed, none failed; 4 N\/A \(H1 H2 H4 H6\)/);
    assert.match(readFileSync(junit, 'utf8'), /<skipped message="N\/A: no successful answer carried a remaining stock/);
  });
});

describe('a refused answer ("try again") is never a sold-out', () => {
  // A refusal completes before two sales are even invoked. Read as a
  // sold-out it would be an undersell (H5) and imply every unit gone (H6).
  const ops = (refusal: 'refused' | 'sold_out'): CraftedOp[] => [
    { i: 0, outcome: refusal, at: [0, 10] },
    { i: 1, outcome: 'bought', at: [20, 30], remaining: 1 },
    { i: 2, outcome: 'bought', at: [40, 50], remaining: 0 },
  ];
  const db = shopDb('refused', 0, [{ i: 1, stockAfter: 1 }, { i: 2, stockAfter: 0 }]);

  test('refused: PASS, counted apart from sold-outs', async () => {
    const run = await runCli(verifyArgs(historyFile('refused.jsonl', 3, ops('refused')), db, 2));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(row(run.stdout, 'H5'), /PASS │ 0 sold-out answers \(1 refused "try again": not sold-outs\) against 2 ok answers/);
    assert.match(run.stdout, /answers: refused 1, bought 2/);
  });

  test('the same answer as a sold-out: FAIL H5', async () => {
    const run = await runCli(verifyArgs(historyFile('sold-out-first.jsonl', 3, ops('sold_out')), db, 2));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(row(run.stdout, 'H5'), /FAIL/);
  });
});

describe('the ledger joins on request id, buyer id or purchase id', () => {
  const sales: CraftedOp[] = [
    { i: 0, outcome: 'bought', at: [0, 10], remaining: 2, purchaseId: '100' },
    { i: 1, outcome: 'bought', at: [20, 30], remaining: 1, purchaseId: '101' },
    { i: 2, outcome: 'timeout', at: [40, 5040] },
    { i: 3, outcome: 'sold_out', at: [5100, 5110], remaining: 0 },
  ];
  const history = historyFile('joins.jsonl', 4, sales);
  // The timed-out request did buy the last unit: recovered, whatever the join.
  const db = shopDb('joins', 0, [{ i: 0, stockAfter: 2, id: 100 }, { i: 1, stockAfter: 1, id: 101 }, { i: 2, stockAfter: 0, id: 102 }]);
  const lostDb = shopDb('joins-lost', 1, [{ i: 0, stockAfter: 2, id: 100 }]);
  const cases = [
    { join: 'request', sql: ALL_COLUMNS, says: 'request id' },
    { join: 'buyer', sql: 'SELECT id, buyer_id, quantity, stock_after FROM orders', says: 'buyer id' },
    { join: 'purchase', sql: 'SELECT id, quantity, stock_after FROM orders', says: 'purchase id' },
  ] as const;
  for (const { join: key, sql, says } of cases) {
    test(`--join ${key}, and auto picks it when the ledger has nothing better`, async () => {
      for (const flag of [['--join', key], []]) {
        const run = await runCli([...verifyArgs(history, db, 3, sql), '--max-errors', '1', ...flag]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, new RegExp(`ledger joined on: ${says}`));
        assert.match(row(run.stdout, 'D3'), new RegExp(`PASS │ joined on ${says}: 3 rows: lost 0, unexpected 0, aborted-visible 0, duplicated 0, recovered 1`));
      }
      const lost = await runCli([...verifyArgs(history, lostDb, 3, sql), '--max-errors', '1', '--join', key]);
      assert.equal(lost.code, 1, lost.stdout);
      assert.match(row(lost.stdout, 'D3'), /FAIL/);
      assert.match(lost.stdout, /lost: the buyer was told the purchase succeeded, but the ledger has no row for it\n\s+op\s+b-1 request r1-1/);
    });
  }

  test('buyer ids that repeat cannot join, and D3 says why', async () => {
    const repeated = historyFile('repeated-buyer.jsonl', 2, [
      { i: 0, outcome: 'bought', at: [0, 10], remaining: 1, buyer: 'same' },
      { i: 1, outcome: 'bought', at: [20, 30], remaining: 0, buyer: 'same' },
    ]);
    const rows = shopDb('repeated-buyer', 0, [{ i: 0, stockAfter: 1 }, { i: 1, stockAfter: 0 }]);
    const run = await runCli([...verifyArgs(repeated, rows, 2, 'SELECT id, buyer_id, quantity, stock_after FROM orders'), '--join', 'buyer']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /ledger joined on: none: cannot join on buyer id \(--join buyer\): buyer ids repeat in the history \(same sent more than one request\)/);
    assert.match(row(run.stdout, 'D3'), /N\/A/);
  });

  test('an unknown --join is a usage error', async () => {
    const run = await runCli(['verify', '--history', history, '--join', 'email']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /expected one of auto, request, buyer, purchase, got "email"/);
  });
});
