// D1–D6: the HTTP answers against what the database holds at the end, and
// E1, the error budget. The final state comes from the reference schema via
// an adapter or from the user's own SQL (final-state.ts); a check that needs
// a column the user's ledger does not return says so and is UNKNOWN.

import { httpChecks, type HistoryFacts } from './http-checks.js';
import { describeOperation, type Operation } from './operation.js';
import { judged, pass, unknown, WitnessList, type CheckResult } from './verdict.js';

/**
 * A ledger row as verify reads it; columns the user's SQL lacks are absent.
 * The reference schema's PurchaseRow is one as it is, so half a million rows
 * are not copied.
 */
export interface LedgerEntry {
  requestId?: string | undefined;
  quantity: number;
  stockAfter?: number | undefined;
  /** For witnesses: the row's id, if the ledger has one. */
  id?: number | string | undefined;
  /** For witnesses: the buyer, if the ledger has one. */
  buyerId?: string | undefined;
}

/** The database at the end of the run. */
export interface FinalState {
  /** F. */
  finalStock: number;
  /** Undefined when no ledger query was given. */
  ledger: LedgerEntry[] | undefined;
  /** Which optional ledger columns were present. */
  columns: { requestId: boolean; stockAfter: boolean };
  /** Where it came from, for the report: `sqlite:./flashsale.db sku A`. */
  source: string;
}

const NO_DB = 'no database given: pass --db (and --stock-sql/--ledger-sql for your own schema)';

function describeRow(row: LedgerEntry): string {
  const parts = [row.id !== undefined ? `row ${row.id}` : 'row'];
  if (row.buyerId !== undefined) parts.push(`buyer ${row.buyerId}`);
  if (row.requestId !== undefined) parts.push(`request ${row.requestId}`);
  parts.push(`quantity ${row.quantity}`);
  if (row.stockAfter !== undefined) parts.push(`stock_after ${row.stockAfter}`);
  return parts.join(', ');
}

/**
 * Runs D1–D6 (UNKNOWN without a final state). `historyResults` are H1–H6 as
 * already run on these facts: when no operation is unknown, settling changes
 * nothing and D6 reuses them instead of running them twice.
 */
export function databaseChecks(facts: HistoryFacts, state: FinalState | undefined, historyResults?: CheckResult[]): CheckResult[] {
  if (!state) {
    return [
      unknown('D1', 'stock-bounds', NO_DB),
      unknown('D2', 'conservation', NO_DB),
      unknown('D3', 'ledger-vs-responses', NO_DB),
      unknown('D4', 'stock-after-match', NO_DB),
      unknown('D5', 'sold-out-final', NO_DB),
      unknown('D6', 'resolved-recheck', NO_DB),
    ];
  }
  const joined = state.ledger && state.columns.requestId ? joinLedger(facts.ops, state.ledger) : undefined;
  return [
    stockBounds(facts, state),
    conservation(facts, state),
    ledgerVsResponses(state, joined),
    stockAfterMatch(state, joined),
    soldOutFinal(facts, state),
    resolvedRecheck(facts, state, joined, historyResults),
  ];
}

/** D1: 0 ≤ F, S − ok − info ≤ F ≤ S − ok, and no ok was told less than F remains. */
function stockBounds(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D1', 'stock-bounds'];
  const stock = facts.initialStock;
  if (stock === undefined) return unknown(id, name, 'needs the initial stock: give --initial-stock');
  const final = state.finalStock;
  let okUnits = 0;
  let infoUnits = 0;
  let lowestOk: Operation | undefined;
  for (const op of facts.ops) {
    if (op.type === 'ok') {
      okUnits += op.quantity;
      if (op.remaining !== null && (!lowestOk || op.remaining < lowestOk.remaining!)) lowestOk = op;
    } else if (op.type === 'info') infoUnits += op.quantity;
  }
  const found = new WitnessList();
  if (final < 0) found.add(() => ({ message: `the final stock is ${final}: below zero` }));
  if (final > stock - okUnits) {
    found.add(() => ({ message: `the final stock is ${final}, but ${okUnits} of ${stock} units were sold to buyers told so: at most ${stock - okUnits} can remain (a sale was lost)` }));
  }
  if (final < stock - okUnits - infoUnits) {
    found.add(() => ({
      message: `the final stock is ${final}, but only ${okUnits} units were sold and ${infoUnits} more may have been: at least ${stock - okUnits - infoUnits} must remain (units vanished)`,
    }));
  }
  if (lowestOk && lowestOk.remaining! < final) {
    const op = lowestOk;
    found.add(() => ({ message: `a buyer was told ${op.remaining} remaining, yet ${final} remain at the end: the stock went back up`, operations: [describeOperation(op)] }));
  }
  const summary = `final ${final}, initial ${stock}, ${okUnits} units ok, ${infoUnits} units unknown: expected ${Math.max(0, stock - okUnits - infoUnits)}..${stock - okUnits}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** D2: F + Σ ledger quantity = S. */
function conservation(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D2', 'conservation'];
  if (!state.ledger) return unknown(id, name, 'no ledger was read: give --ledger-sql');
  const stock = facts.initialStock;
  if (stock === undefined) return unknown(id, name, 'needs the initial stock: give --initial-stock');
  const ledgerUnits = state.ledger.reduce((sum, row) => sum + row.quantity, 0);
  const summary = `final ${state.finalStock} + ledger ${ledgerUnits} = ${state.finalStock + ledgerUnits}, initial ${stock}`;
  const difference = state.finalStock + ledgerUnits - stock;
  if (difference === 0) return pass(id, name, summary);
  return judged(id, name, summary, 1, [
    {
      message:
        difference < 0
          ? `${-difference} units left the stock without a ledger row (decrements lost or rows missing)`
          : `the ledger records ${difference} units more than left the stock (lost updates: sales written over each other)`,
    },
  ]);
}

/** The ledger rows of one request id, and the operation that sent it (if any did). */
interface LedgerGroup {
  rows: LedgerEntry[];
  op: Operation | undefined;
}

/**
 * Ledger rows and operations matched on request id. Keyed by the ledger's
 * request ids (the smaller side: at most the stock), so a history of a
 * million operations costs one look-up each, not a million-entry map.
 */
interface Joined {
  groups: Map<string, LedgerGroup>;
  /** Oks with no ledger row. */
  lost: Operation[];
}

function joinLedger(ops: readonly Operation[], ledger: LedgerEntry[]): Joined {
  const groups = new Map<string, LedgerGroup>();
  for (const row of ledger) {
    const group = groups.get(row.requestId!);
    if (group) group.rows.push(row);
    else groups.set(row.requestId!, { rows: [row], op: undefined });
  }
  const lost: Operation[] = [];
  for (const op of ops) {
    const group = groups.get(op.requestId);
    if (group) group.op = op;
    else if (op.type === 'ok') lost.push(op);
  }
  return { groups, lost };
}

/** D3: lost, unexpected, aborted-visible and duplicated rows; recovered ones are counted. */
function ledgerVsResponses(state: FinalState, joined: Joined | undefined): CheckResult {
  const [id, name] = ['D3', 'ledger-vs-responses'];
  if (!state.ledger) return unknown(id, name, 'no ledger was read: give --ledger-sql');
  if (!joined) return unknown(id, name, 'the ledger has no request_id column to join on: return one from --ledger-sql');
  const found = new WitnessList();
  let aborted = 0;
  let duplicated = 0;
  let recovered = 0;
  let unexpected = 0;
  for (const op of joined.lost) {
    found.add(() => ({ message: 'lost: the buyer was told the purchase succeeded, but the ledger has no row for it', operations: [describeOperation(op)] }));
  }
  for (const { rows, op } of joined.groups.values()) {
    if (!op) {
      unexpected += rows.length;
      for (const row of rows) found.add(() => ({ message: 'unexpected: a ledger row for a request this run never sent', rows: [describeRow(row)] }));
      continue;
    }
    if (op.type === 'fail') {
      aborted += 1;
      found.add(() => ({ message: `aborted-visible: the buyer was told ${op.outcome}, but the ledger has a row for it`, operations: [describeOperation(op)], rows: rows.map(describeRow) }));
    }
    if (rows.length > 1) {
      duplicated += 1;
      found.add(() => ({ message: `duplicated: ${rows.length} ledger rows for one request`, operations: [describeOperation(op)], rows: rows.map(describeRow) }));
    }
    if (op.type === 'info') recovered += 1;
  }
  const summary =
    `${state.ledger.length} rows: lost ${joined.lost.length}, unexpected ${unexpected}, aborted-visible ${aborted}, ` +
    `duplicated ${duplicated}, recovered ${recovered}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** D4: each row's stock_after equals the remaining its buyer was told; rows own distinct units. */
function stockAfterMatch(state: FinalState, joined: Joined | undefined): CheckResult {
  const [id, name] = ['D4', 'stock-after-match'];
  if (!state.ledger) return unknown(id, name, 'no ledger was read: give --ledger-sql');
  if (!state.columns.stockAfter) return unknown(id, name, 'the ledger has no stock_after column: return one from --ledger-sql');
  if (!joined) return unknown(id, name, 'the ledger has no request_id column to join on: return one from --ledger-sql');
  const found = new WitnessList();
  let compared = 0;
  for (const { rows, op } of joined.groups.values()) {
    if (!op || op.type !== 'ok' || op.remaining === null) continue;
    for (const row of rows) {
      compared += 1;
      if (row.stockAfter !== op.remaining) {
        found.add(() => ({ message: `the buyer was told ${op.remaining} remaining, the ledger row says ${row.stockAfter}`, operations: [describeOperation(op)], rows: [describeRow(row)] }));
      }
    }
  }
  const sorted = [...state.ledger].sort((a, b) => a.stockAfter! - b.stockAfter!);
  for (let i = 1; i < sorted.length; i++) {
    const [below, above] = [sorted[i - 1]!, sorted[i]!];
    if (above.stockAfter! < below.stockAfter! + below.quantity) {
      found.add(() => ({ message: `two ledger rows claim the same units (stock_after ${below.stockAfter} and ${above.stockAfter})`, rows: [describeRow(below), describeRow(above)] }));
    }
  }
  return judged(id, name, `${compared} rows compared with their answers, ${sorted.length} stock_after values`, found.count, found.witnesses);
}

/** D5: if anyone was told sold out, fewer units than the smallest refused quantity remain. */
function soldOutFinal(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D5', 'sold-out-final'];
  let smallest: Operation | undefined;
  let soldOuts = 0;
  for (const op of facts.ops) {
    if (op.outcome !== 'sold_out') continue;
    soldOuts += 1;
    if (!smallest || op.quantity < smallest.quantity) smallest = op;
  }
  if (!smallest) return pass(id, name, 'nobody was told sold out');
  const refused = smallest;
  const summary = `${soldOuts} sold-out answers, final stock ${state.finalStock}`;
  if (state.finalStock < refused.quantity) return pass(id, name, summary);
  return judged(id, name, summary, 1, [
    { message: `a buyer was told sold out for ${refused.quantity} units, yet ${state.finalStock} remain at the end (undersell)`, operations: [describeOperation(refused)] },
  ]);
}

/**
 * D6: settle every info op from the ledger (a row: it happened, with the
 * row's stock_after, at some unknown time after it was invoked; no row: it
 * did not) and rerun H1–H6 on the now-certain history.
 */
function resolvedRecheck(facts: HistoryFacts, state: FinalState, joined: Joined | undefined, historyResults: CheckResult[] | undefined): CheckResult {
  const [id, name] = ['D6', 'resolved-recheck'];
  if (!state.ledger) return unknown(id, name, 'no ledger was read: give --ledger-sql');
  if (!joined) return unknown(id, name, 'the ledger has no request_id column to settle unknown operations with');
  if (!state.columns.stockAfter) return unknown(id, name, 'the ledger has no stock_after column to place settled operations with');
  let happened = 0;
  let didNot = 0;
  let rerun: CheckResult[];
  const anyUnknown = facts.ops.some((op) => op.type === 'info');
  if (!anyUnknown && historyResults && facts.finalStock === state.finalStock) {
    rerun = historyResults;
  } else {
    const settled: Operation[] = [];
    for (const op of facts.ops) {
      if (op.type !== 'info') {
        settled.push(op);
        continue;
      }
      const row = joined.groups.get(op.requestId)?.rows[0];
      if (row) {
        happened += 1;
        settled.push({ ...op, type: 'ok', outcome: 'bought', remaining: row.stockAfter!, quantity: row.quantity, complete: Infinity });
      } else {
        didNot += 1;
      }
    }
    rerun = httpChecks({ ...facts, ops: settled, finalStock: state.finalStock });
  }
  const failed = rerun.filter((check) => check.status === 'FAIL');
  const summary = `${happened} unknown ops settled as bought, ${didNot} as not; H1–H6 rerun: ${rerun.map((c) => `${c.id} ${c.status}`).join(', ')}`;
  return judged(
    id,
    name,
    summary,
    failed.reduce((sum, check) => sum + check.violations, 0),
    failed.flatMap((check) => check.witnesses.map((w) => ({ ...w, message: `${check.id} ${check.name} after settling: ${w.message}` }))),
  );
}

/** E1: unknown (info) operations within the budget, with their causes. */
export function errorBudget(ops: readonly Operation[], maxErrors: number): CheckResult {
  const [id, name] = ['E1', 'error-budget'];
  const causes = new Map<string, { count: number; example: Operation }>();
  let infos = 0;
  for (const op of ops) {
    if (op.type !== 'info') continue;
    infos += 1;
    const cause = `${op.outcome}${op.status !== null ? ` ${op.status}` : ''}${op.error ? `: ${op.error}` : ''}`;
    const entry = causes.get(cause);
    if (entry) entry.count += 1;
    else causes.set(cause, { count: 1, example: op });
  }
  const summary = `${infos} unknown outcomes, budget ${maxErrors}`;
  if (infos <= maxErrors) return pass(id, name, summary);
  const ranked = [...causes.entries()].sort((a, b) => b[1].count - a[1].count);
  return judged(
    id,
    name,
    summary,
    infos - maxErrors,
    ranked.map(([cause, { count, example }]) => ({ message: `${count} × ${cause}`, operations: [describeOperation(example)] })),
  );
}
