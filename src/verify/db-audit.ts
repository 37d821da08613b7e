// D1–D6: the HTTP answers against what the database holds at the end, and
// E1, the error budget. The final state comes from the reference schema via
// an adapter or from the user's own SQL (final-state.ts); a check that needs
// a column the user's ledger does not return says so and is UNKNOWN.

import { httpChecks, type HistoryFacts } from './http-checks.js';
import { describeOperation, type Operation } from './operation.js';
import { judged, notApplicable, pass, plural, unknown, WitnessList, type CheckResult } from './verdict.js';

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
  /**
   * Which optional ledger columns were present. `buyerId` and `purchaseId`
   * (the row's own id, as an answer's purchase_id names it), when not said,
   * are read off the rows.
   */
  columns: { requestId: boolean; stockAfter: boolean; buyerId?: boolean; purchaseId?: boolean };
  /** Where it came from, for the report: `sqlite:./flashsale.db sku A`. */
  source: string;
}

/** What ledger rows are matched to answers on. */
export type JoinKey = 'request' | 'buyer' | 'purchase';

/** `--join`: a key, or `auto`: request id when the ledger has it, else buyer id (when unique), else purchase id. */
export type JoinChoice = JoinKey | 'auto';

/** How the ledger was joined for D3, D4 and D6, or why it could not be. */
/** `instead`: with an explicit --join that cannot be made, a join that could (then the checks are UNKNOWN, not N/A). */
export type JoinOutcome = { key: JoinKey } | { key: undefined; reason: string; instead?: JoinKey };
type NoJoin = { reason: string; instead?: JoinKey };

const NO_DB = 'no store given: pass --db (or --stock-db/--ledger-db, --final-stock; with --stock/--ledger or --stock-sql/--ledger-sql for your own schema), or --history-only to decide on the history alone';
const NO_LEDGER = 'no ledger was read: give --ledger-sql (SQL) or --ledger (Redis)';
const NO_INITIAL_STOCK = 'needs the initial stock: give --initial-stock';

const KEY_NAMES: Record<JoinKey, string> = { request: 'request id', buyer: 'buyer id', purchase: 'purchase id' };

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
export function databaseChecks(facts: HistoryFacts, state: FinalState | undefined, historyResults?: CheckResult[], join: JoinChoice = 'auto'): { checks: CheckResult[]; join: JoinOutcome | undefined } {
  if (!state) {
    const checks = (
      [
        ['D1', 'stock-bounds'],
        ['D2', 'conservation'],
        ['D3', 'ledger-vs-responses'],
        ['D4', 'stock-after-match'],
        ['D5', 'sold-out-final'],
        ['D6', 'resolved-recheck'],
      ] as const
    ).map(([id, name]) => unknown(id, name, '--db', NO_DB));
    return { checks, join: undefined };
  }
  const chosen = state.ledger ? chooseJoin(facts.ops, state, join) : undefined;
  const joined = chosen?.key && state.ledger ? joinLedger(facts.ops, state.ledger, chosen.key) : undefined;
  const noJoin: NoJoin = chosen && !chosen.key ? { reason: chosen.reason, instead: chosen.instead } : { reason: '' };
  return {
    checks: [
      stockBounds(facts, state),
      conservation(facts, state),
      ledgerVsResponses(state, joined, noJoin),
      stockAfterMatch(state, joined, noJoin),
      soldOutFinal(facts, state),
      resolvedRecheck(facts, state, joined, noJoin, historyResults),
    ],
    join: chosen,
  };
}

/** Whether every ledger row carries the key (an empty ledger carries every key). */
function ledgerHas(state: FinalState, key: JoinKey): boolean {
  const ledger = state.ledger ?? [];
  if (key === 'request') return state.columns.requestId;
  if (key === 'buyer') return state.columns.buyerId ?? ledger.every((row) => row.buyerId !== undefined);
  // A foreign ledger without an id column gets row numbers `#1`, `#2`… for
  // its witnesses (final-state.ts); those are no purchase ids.
  return state.columns.purchaseId ?? ledger.every((row) => row.id !== undefined && !(typeof row.id === 'string' && /^#\d+$/.test(row.id)));
}

/** A buyer id that sent more than one request, if any: then buyer ids cannot name one answer. */
function repeatedBuyer(ops: readonly Operation[]): string | undefined {
  const buyers = new Set<string>();
  for (const op of ops) {
    if (op.buyer === '') continue;
    if (buyers.has(op.buyer)) return op.buyer;
    buyers.add(op.buyer);
  }
  return undefined;
}

/** The join `--join` asks for, if it can be made, or the first that can under `auto`; else why none can. */
export function chooseJoin(ops: readonly Operation[], state: FinalState, choice: JoinChoice): JoinOutcome {
  const why: Record<JoinKey, () => string | undefined> = {
    request: () => (ledgerHas(state, 'request') ? undefined : 'the ledger has no request_id column'),
    buyer: () => {
      if (!ledgerHas(state, 'buyer')) return 'the ledger has no buyer_id column';
      const repeated = repeatedBuyer(ops);
      return repeated === undefined ? undefined : `buyer ids repeat in the history (${repeated} sent more than one request), so a row cannot name one answer`;
    },
    purchase: () => {
      if (!ledgerHas(state, 'purchase')) return 'the ledger has no id column';
      return ops.some((op) => op.purchaseId !== null) ? undefined : 'no answer carried a purchase id';
    },
  };
  if (choice !== 'auto') {
    const reason = why[choice]();
    if (reason === undefined) return { key: choice };
    const instead = (['request', 'buyer', 'purchase'] as const).find((key) => key !== choice && why[key]() === undefined);
    const can = instead ? `; --join ${instead} can` : '';
    return { key: undefined, reason: `cannot join on ${KEY_NAMES[choice]} (--join ${choice}): ${reason}${can}`, ...(instead ? { instead } : {}) };
  }
  const reasons: string[] = [];
  for (const key of ['request', 'buyer', 'purchase'] as const) {
    const reason = why[key]();
    if (reason === undefined) return { key };
    reasons.push(reason);
  }
  return { key: undefined, reason: `nothing to join the ledger to the answers on: ${reasons.join('; ')} (return request_id, buyer_id or id from your ledger query)` };
}

/** D1: 0 ≤ F, S − ok − info ≤ F ≤ S − ok, and no ok was told less than F remains. */
function stockBounds(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D1', 'stock-bounds'];
  const stock = facts.initialStock;
  if (stock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK);
  const final = state.finalStock;
  let okUnits = 0;
  let infoUnits = 0;
  let unrecordedUnits = 0;
  let lowestOk: Operation | undefined;
  for (const op of facts.ops) {
    if (op.type === 'ok') {
      okUnits += op.quantity;
      if (op.remaining !== null && (!lowestOk || op.remaining < lowestOk.remaining!)) lowestOk = op;
    } else if (op.type === 'info') {
      infoUnits += op.quantity;
      if (op.outcome === 'unrecorded') unrecordedUnits += op.quantity;
    }
  }
  const [lowest, highest] = [Math.max(0, stock - okUnits - infoUnits), stock - okUnits];
  const found = new WitnessList();
  if (final < 0) found.add(() => ({ message: `the final stock is ${final}: below zero` }));
  if (highest < 0) {
    // More was sold than existed: no final stock can be right, and "at most
    // -90 can remain" would read as nonsense.
    found.add(() => ({ message: `buyers were told they bought ${plural(okUnits, 'unit')} of ${stock}: oversold by ${-highest}, so no final stock can account for the sales` }));
  } else if (final > highest) {
    found.add(() => ({ message: `the final stock is ${final}, but ${okUnits} of ${stock} units were sold to buyers told so: at most ${highest} can remain (a sale was lost)` }));
  }
  // With nothing owed (lowest 0) a negative final is the "below zero" above,
  // not also units that vanished.
  if (final < lowest && !(final < 0 && lowest === 0)) {
    found.add(() => ({
      message: `the final stock is ${final}, but only ${plural(okUnits, 'unit')} ${okUnits === 1 ? 'was' : 'were'} sold and ${infoUnits} more may have been: at least ${lowest} must remain (units vanished)`,
    }));
  }
  if (lowestOk && lowestOk.remaining! < final) {
    const op = lowestOk;
    found.add(() => ({ message: `a buyer was told ${op.remaining} remaining, yet ${final} remain at the end: the stock went back up`, operations: [describeOperation(op)] }));
  }
  const expected = highest < 0 ? 'expected: none possible (more sold than the stock)' : lowest === highest ? `expected ${highest}` : `expected ${lowest}..${highest}`;
  const unrecorded = unrecordedUnits > 0 ? ` (${unrecordedUnits} of them unrecorded requests)` : '';
  const summary = `final ${final}, initial ${stock}, ${plural(okUnits, 'unit')} ok, ${plural(infoUnits, 'unit')} unknown${unrecorded}: ${expected}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** D2: F + Σ ledger quantity = S. */
function conservation(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D2', 'conservation'];
  if (!state.ledger) return unknown(id, name, '--ledger-sql', NO_LEDGER);
  const stock = facts.initialStock;
  if (stock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK);
  const ledgerUnits = state.ledger.reduce((sum, row) => sum + row.quantity, 0);
  const summary = `final ${state.finalStock} + ledger ${ledgerUnits} = ${state.finalStock + ledgerUnits}, initial ${stock}`;
  const difference = state.finalStock + ledgerUnits - stock;
  if (difference === 0) return pass(id, name, summary);
  return judged(id, name, summary, 1, [
    {
      message:
        difference < 0
          ? `${plural(-difference, 'unit')} left the stock without a ledger row (decrements lost or rows missing)`
          : // What is known: rows were written for units that never left the
            // stock. Two sales writing over each other's decrement does that,
            // and so does a guarded decrement that matched no row while its
            // sale was recorded anyway.
            `the ledger records ${plural(difference, 'unit')} more than left the stock: sales were recorded without their decrement (a lost update, or a decrement that did not apply)`,
    },
  ]);
}

/** The ledger rows of one key, and the operation that sent it (if any did). */
interface LedgerGroup {
  rows: LedgerEntry[];
  op: Operation | undefined;
  /** Further answers with the same key (two buyers given one purchase id). */
  others: Operation[];
}

/**
 * Ledger rows and operations matched on one key. Keyed by the ledger (the
 * smaller side: at most the stock), so a history of a million operations
 * costs one look-up each, not a million-entry map. Answers that carry no key
 * (an unknown never answered has no purchase id; an unrecorded request of a
 * history without ids has none at all) can own rows only by count.
 */
interface Joined {
  key: JoinKey;
  groups: Map<string, LedgerGroup>;
  /** Oks with a key and no ledger row. */
  lost: Operation[];
  /** Rows whose key no answer has. */
  orphans: LedgerEntry[];
  /** Oks without a key (purchase join: the answer gave no purchase id). */
  keylessOks: Operation[];
  /** Unknown operations without a key: the orphans beyond the keyless oks' may be theirs. */
  keylessInfos: Operation[];
}

function keyOfOp(op: Operation, key: JoinKey): string | null {
  if (key === 'request') return op.requestId || null;
  if (key === 'buyer') return op.buyer || null;
  return op.purchaseId;
}

function keyOfRow(row: LedgerEntry, key: JoinKey): string {
  return String(key === 'request' ? row.requestId : key === 'buyer' ? row.buyerId : row.id);
}

function joinLedger(ops: readonly Operation[], ledger: LedgerEntry[], key: JoinKey): Joined {
  const groups = new Map<string, LedgerGroup>();
  for (const row of ledger) {
    const value = keyOfRow(row, key);
    const group = groups.get(value);
    if (group) group.rows.push(row);
    else groups.set(value, { rows: [row], op: undefined, others: [] });
  }
  const joined: Joined = { key, groups, lost: [], orphans: [], keylessOks: [], keylessInfos: [] };
  for (const op of ops) {
    const value = keyOfOp(op, key);
    if (value === null) {
      if (op.type === 'ok') joined.keylessOks.push(op);
      else if (op.type === 'info') joined.keylessInfos.push(op);
      continue;
    }
    const group = groups.get(value);
    if (!group) {
      if (op.type === 'ok') joined.lost.push(op);
    } else if (group.op) group.others.push(op);
    else group.op = op;
  }
  for (const group of groups.values()) if (!group.op) joined.orphans.push(...group.rows);
  return joined;
}

/** How the rows no answer's key matched are shared out, by count. */
function shareOrphans(joined: Joined): { byKeylessOks: number; lostKeyless: number; byKeylessInfos: number; unexpected: LedgerEntry[] } {
  const byKeylessOks = Math.min(joined.orphans.length, joined.keylessOks.length);
  const left = joined.orphans.length - byKeylessOks;
  const byKeylessInfos = Math.min(left, joined.keylessInfos.length);
  return {
    byKeylessOks,
    lostKeyless: joined.keylessOks.length - byKeylessOks,
    byKeylessInfos,
    unexpected: joined.orphans.slice(byKeylessOks + byKeylessInfos),
  };
}

/** D3: lost, unexpected, aborted-visible and duplicated rows; recovered ones are counted. */
/** The result of a join check that has no join: UNKNOWN when another --join would work, else N/A. */
function withoutJoin(id: string, name: string, noJoin: NoJoin, reason = noJoin.reason): CheckResult {
  return noJoin.instead ? unknown(id, name, `--join ${noJoin.instead}`, reason) : notApplicable(id, name, reason);
}

function ledgerVsResponses(state: FinalState, joined: Joined | undefined, noJoin: NoJoin): CheckResult {
  const [id, name] = ['D3', 'ledger-vs-responses'];
  if (!state.ledger) return unknown(id, name, '--ledger-sql', NO_LEDGER);
  if (!joined) return withoutJoin(id, name, noJoin);
  const keyName = KEY_NAMES[joined.key];
  const found = new WitnessList();
  let aborted = 0;
  let duplicated = 0;
  let recovered = 0;
  let recoveredUnrecorded = 0;
  for (const op of joined.lost) {
    found.add(() => ({ message: 'lost: the buyer was told the purchase succeeded, but the ledger has no row for it', operations: [describeOperation(op)] }));
  }
  const shared = shareOrphans(joined);
  if (shared.lostKeyless > 0) {
    const example = joined.keylessOks[0]!;
    found.add(() => ({
      message: `lost: ${plural(joined.keylessOks.length, 'ok answer')} gave no ${keyName}, and only ${plural(joined.orphans.length, 'ledger row')} match no answer: at least ${shared.lostKeyless} of those sales have no row`,
      operations: [describeOperation(example)],
    }));
    // One witness, one violation per sale without a row.
    found.count += shared.lostKeyless - 1;
  }
  for (const row of shared.unexpected) {
    const message =
      joined.key === 'request'
        ? 'unexpected: a ledger row for a request this run never sent'
        : joined.key === 'buyer'
          ? 'unexpected: a ledger row for a buyer this run never sent'
          : `unexpected: a ledger row whose id no answer gave, beyond the ${plural(joined.keylessInfos.length + joined.keylessOks.length, 'answer')} without a purchase id that could own it`;
    found.add(() => ({ message, rows: [describeRow(row)] }));
  }
  for (const { rows, op, others } of joined.groups.values()) {
    if (!op) continue;
    for (const other of others) {
      found.add(() => ({ message: `two answers name one ${keyName}: one ledger row cannot be both sales`, operations: [describeOperation(op), describeOperation(other)], rows: rows.map(describeRow) }));
    }
    if (op.type === 'fail') {
      aborted += 1;
      found.add(() => ({ message: `aborted-visible: the buyer was told ${op.outcome}, but the ledger has a row for it`, operations: [describeOperation(op)], rows: rows.map(describeRow) }));
    }
    if (rows.length > 1) {
      duplicated += 1;
      found.add(() => ({ message: `duplicated: ${rows.length} ledger rows for one ${joined.key === 'buyer' ? 'buyer (who sent one request)' : joined.key}`, operations: [describeOperation(op)], rows: rows.map(describeRow) }));
    }
    if (op.type === 'info') {
      recovered += 1;
      if (op.outcome === 'unrecorded') recoveredUnrecorded += 1;
    }
  }
  recovered += shared.byKeylessInfos;
  const keylessInfosUnrecorded = joined.keylessInfos.some((op) => op.outcome === 'unrecorded');
  if (keylessInfosUnrecorded) recoveredUnrecorded += shared.byKeylessInfos;
  const unrecordedNote = recoveredUnrecorded > 0 ? ` (${recoveredUnrecorded} by requests the incomplete history did not record)` : '';
  const keylessNote = joined.keylessOks.length > 0 ? `, ${plural(joined.keylessOks.length, 'ok answer')} without a ${keyName} matched by count` : '';
  const summary =
    `joined on ${keyName}: ${plural(state.ledger.length, 'row')}: lost ${joined.lost.length + shared.lostKeyless}, unexpected ${shared.unexpected.length}, ` +
    `aborted-visible ${aborted}, duplicated ${duplicated}, recovered ${recovered}${unrecordedNote}${keylessNote}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** D4: each row's stock_after equals the remaining its buyer was told; rows own distinct units. */
function stockAfterMatch(state: FinalState, joined: Joined | undefined, noJoin: NoJoin): CheckResult {
  const [id, name] = ['D4', 'stock-after-match'];
  if (!state.ledger) return unknown(id, name, '--ledger-sql', NO_LEDGER);
  if (!state.columns.stockAfter) return notApplicable(id, name, 'the ledger has no stock_after column (return one from your ledger query if you have it)');
  if (!joined) return withoutJoin(id, name, noJoin);
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
  return judged(id, name, `${plural(compared, 'row')} compared with their answers (on ${KEY_NAMES[joined.key]}), ${plural(sorted.length, 'stock_after value')}`, found.count, found.witnesses);
}

/**
 * D5: if anyone was told sold out, fewer units than the smallest refused
 * quantity remain. A "refused, try again" answer makes no claim about the
 * stock, so it is never a sold-out here.
 */
function soldOutFinal(facts: HistoryFacts, state: FinalState): CheckResult {
  const [id, name] = ['D5', 'sold-out-final'];
  let smallest: Operation | undefined;
  let soldOuts = 0;
  let refused = 0;
  for (const op of facts.ops) {
    if (op.outcome === 'refused') refused += 1;
    if (op.outcome !== 'sold_out') continue;
    soldOuts += 1;
    if (!smallest || op.quantity < smallest.quantity) smallest = op;
  }
  const refusedNote = refused > 0 ? ` (${refused} refused "try again": not sold-outs)` : '';
  if (!smallest) return pass(id, name, `nobody was told sold out${refusedNote}`);
  const soldOut = smallest;
  const summary = `${plural(soldOuts, 'sold-out answer')}${refusedNote}, final stock ${state.finalStock}`;
  if (state.finalStock < soldOut.quantity) return pass(id, name, summary);
  return judged(id, name, summary, 1, [
    { message: `a buyer was told sold out for ${plural(soldOut.quantity, 'unit')}, yet ${state.finalStock} remain at the end (undersell)`, operations: [describeOperation(soldOut)] },
  ]);
}

/**
 * D6: settle every info op from the ledger (a row: it happened, with the
 * row's stock_after, at some unknown time after it was invoked; no row: it
 * did not) and rerun H1–H6 on the now-certain history. Rows that only
 * keyless unknowns can own are settled as bought by one of them, invoked as
 * early as the earliest of them: the most any of them allows, so settling
 * never invents a failure.
 */
function resolvedRecheck(facts: HistoryFacts, state: FinalState, joined: Joined | undefined, noJoin: NoJoin, historyResults: CheckResult[] | undefined): CheckResult {
  const [id, name] = ['D6', 'resolved-recheck'];
  if (!state.ledger) return unknown(id, name, '--ledger-sql', NO_LEDGER);
  // Without stock_after no join would make D6 run: N/A first, so a --join hint never promises it.
  if (!state.columns.stockAfter) return notApplicable(id, name, 'the ledger has no stock_after column to place settled operations with');
  if (!joined) return withoutJoin(id, name, noJoin, `${noJoin.reason}, so unknown operations cannot be settled`);
  let happened = 0;
  let didNot = 0;
  let rerun: CheckResult[];
  const anyUnknown = facts.ops.some((op) => op.type === 'info');
  if (!anyUnknown && historyResults && facts.finalStock === state.finalStock) {
    rerun = historyResults;
  } else {
    const shared = shareOrphans(joined);
    if (shared.byKeylessInfos > 0 && joined.keylessOks.length > 0) {
      return notApplicable(id, name, `${plural(joined.keylessOks.length, 'ok answer')} without a ${KEY_NAMES[joined.key]} and unknown operations may own the same unmatched rows, so they cannot be settled`);
    }
    const settled: Operation[] = [];
    for (const op of facts.ops) {
      if (op.type !== 'info') {
        settled.push(op);
        continue;
      }
      const value = keyOfOp(op, joined.key);
      if (value === null) continue;
      const row = joined.groups.get(value)?.rows[0];
      if (row) {
        happened += 1;
        settled.push({ ...op, type: 'ok', outcome: 'bought', remaining: row.stockAfter!, quantity: row.quantity, complete: Infinity });
      } else {
        didNot += 1;
      }
    }
    if (joined.keylessInfos.length > 0) {
      const earliest = joined.keylessInfos.reduce((first, op) => (op.invoke < first.invoke ? op : first));
      const owned = joined.orphans.slice(shared.byKeylessOks, shared.byKeylessOks + shared.byKeylessInfos);
      for (const row of owned) settled.push({ ...earliest, type: 'ok', outcome: 'bought', remaining: row.stockAfter!, quantity: row.quantity, complete: Infinity });
      happened += owned.length;
      didNot += joined.keylessInfos.length - owned.length;
    }
    rerun = httpChecks({ ...facts, ops: settled, finalStock: state.finalStock });
  }
  const failed = rerun.filter((check) => check.status === 'FAIL');
  const summary = `${plural(happened, 'unknown op')} settled as bought, ${didNot} as not; H1–H6 rerun: ${rerun.map((c) => `${c.id} ${c.status}`).join(', ')}`;
  return judged(
    id,
    name,
    summary,
    failed.reduce((sum, check) => sum + check.violations, 0),
    failed.flatMap((check) => check.witnesses.map((w) => ({ ...w, message: `${check.id} ${check.name} after settling: ${w.message}` }))),
  );
}

/** What E1 reads of an operation, or of a step of a flow. */
interface Budgeted {
  type: 'ok' | 'fail' | 'info';
  outcome: string;
  status: number | null;
  error: string | null;
}

/**
 * E1: unknown (info) operations within the budget, with their causes.
 * Requests an incomplete history did not record are counted and said, but
 * not charged: the attack lost them, not the server, and every other check
 * already treats them as unknown.
 */
export function errorBudget<T extends Budgeted>(ops: readonly T[], maxErrors: number, describe: (op: T) => string = describeOperation as unknown as (op: T) => string): CheckResult {
  const [id, name] = ['E1', 'error-budget'];
  const causes = new Map<string, { count: number; example: T }>();
  let infos = 0;
  let unrecorded = 0;
  for (const op of ops) {
    if (op.type !== 'info') continue;
    if (op.outcome === 'unrecorded') {
      unrecorded += 1;
      continue;
    }
    infos += 1;
    const cause = `${op.outcome}${op.status !== null ? ` ${op.status}` : ''}${op.error ? `: ${op.error}` : ''}`;
    const entry = causes.get(cause);
    if (entry) entry.count += 1;
    else causes.set(cause, { count: 1, example: op });
  }
  const unrecordedNote = unrecorded > 0 ? `; ${plural(unrecorded, 'planned request')} unrecorded (incomplete history): unknown to every check, not charged to the budget` : '';
  const summary = `${plural(infos, 'unknown outcome')}, budget ${maxErrors}${unrecordedNote}`;
  if (infos <= maxErrors) return pass(id, name, summary);
  const ranked = [...causes.entries()].sort((a, b) => b[1].count - a[1].count);
  return judged(
    id,
    name,
    summary,
    infos - maxErrors,
    ranked.map(([cause, { count, example }]) => ({ message: `${count} × ${cause}`, operations: [describe(example)] })),
  );
}
