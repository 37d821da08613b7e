// H1–H6: what the HTTP answers alone prove or refute (DESIGN.md "Checks").
//
// The model: the stock is a counter that starts at S. A purchase of q units
// that succeeds takes the units [remaining, remaining + q) and answers with
// `remaining`; a sold-out answer means fewer than q units were left. An ok
// surely happened, a fail surely did not, an info may have happened at any
// moment after it was invoked (it never "completes"). A check FAILS only when
// the violation holds however the info operations turned out.
//
// For one unit per purchase these checks together (with D1 and D5 when the
// final stock is known) are exactly linearizability of that counter: the
// property test in test/verify-linearizability.test.ts compares them with a
// brute-force search. With larger quantities they stay sound (never a false
// FAIL) and reason in units.

import { bestPreceding, comparesAcrossHosts, hostsNote, type Realtime } from './clocks.js';
import { describeOperation, type Operation } from './operation.js';
import { judged, notApplicable, pass, plural, unknown, WitnessList, type CheckResult } from './verdict.js';

/** Everything the history checks reason from. */
export interface HistoryFacts {
  ops: readonly Operation[];
  /** S, from the database or --initial-stock. */
  initialStock: number | undefined;
  /** F, when the database was read: it says which units the run consumed in the end. */
  finalStock: number | undefined;
  /** Whether invoke/complete times of all operations come from one clock, or how hosts' clocks compare. */
  realtime: Realtime;
}

/** The operations split by what the checks need of them. */
interface Partition {
  oks: Operation[];
  /** Oks whose answer gave a remaining stock. */
  placed: Operation[];
  soldOuts: Operation[];
  /** "Not now, try again": surely not bought, and never a sold-out. */
  refused: number;
  infos: Operation[];
}

function partition(ops: readonly Operation[]): Partition {
  const result: Partition = { oks: [], placed: [], soldOuts: [], refused: 0, infos: [] };
  for (const op of ops) {
    if (op.type === 'ok') {
      result.oks.push(op);
      if (op.remaining !== null) result.placed.push(op);
    } else if (op.type === 'info') result.infos.push(op);
    else if (op.outcome === 'sold_out') result.soldOuts.push(op);
    else if (op.outcome === 'refused') result.refused += 1;
  }
  return result;
}

// Neutral about the cause: the server may send no remaining stock at all,
// or attack's --remaining-field may not name the field it sends.
const NO_REMAINING = 'no successful answer carried a remaining stock (the server sends none, or attack --remaining-field does not name it)';
const NO_INITIAL_STOCK = 'needs the initial stock: give --initial-stock (or --db with the reference schema)';
const noInitialStock = (id: string, name: string, summary = '') => unknown(id, name, '--initial-stock', NO_INITIAL_STOCK, summary);

/** Runs H1–H6 over one set of facts. */
export function httpChecks(facts: HistoryFacts): CheckResult[] {
  const parts = partition(facts.ops);
  return [
    okRange(facts, parts),
    duplicateRemaining(parts),
    oversellCount(facts, parts),
    realtimeOrder(facts, parts),
    earlySoldOut(facts, parts),
    unexplainedDecrements(facts, parts),
  ];
}

function unplaced(parts: Partition): string {
  const missing = parts.oks.length - parts.placed.length;
  return missing > 0 ? `; ${plural(missing, 'ok answer')} gave no remaining and ${missing === 1 ? 'is' : 'are'} not placed` : '';
}

/**
 * H1: every ok's units [remaining, remaining + q) lie within [0, S). An ok
 * answer claiming a negative stock, or at least the initial stock, is
 * evidence of an oversell (or a lie), however many unknowns there were.
 */
function okRange(facts: HistoryFacts, parts: Partition): CheckResult {
  const [id, name] = ['H1', 'ok-range'];
  if (parts.oks.length > 0 && parts.placed.length === 0) return notApplicable(id, name, NO_REMAINING);
  const stock = facts.initialStock;
  const found = new WitnessList();
  for (const op of parts.placed) {
    if (op.remaining! < 0) {
      found.add(() => ({ message: `an ok answer reports ${op.remaining} remaining: the stock went below zero (oversold)`, operations: [describeOperation(op)] }));
    } else if (stock !== undefined && op.remaining! + op.quantity > stock) {
      found.add(() => ({
        message: `an ok answer reports ${op.remaining} remaining after buying ${op.quantity}, but the stock was only ${stock}`,
        operations: [describeOperation(op)],
      }));
    }
  }
  const unplacedNote = unplaced(parts);
  if (stock === undefined) {
    const summary = `${plural(parts.placed.length, 'ok answer')}, none below zero${unplacedNote}`;
    if (found.count === 0) return noInitialStock(id, name, summary);
    return judged(id, name, `${plural(parts.placed.length, 'ok answer')}, ${found.count} below zero${unplacedNote}`, found.count, found.witnesses);
  }
  const summary = `${plural(parts.placed.length, 'ok answer')}, remaining within [0, ${Math.max(0, stock - 1)}]${unplacedNote}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** H2: no two oks own the same unit (two buyers told the same remaining: a lost update). */
function duplicateRemaining(parts: Partition): CheckResult {
  const [id, name] = ['H2', 'duplicate-remaining'];
  if (parts.oks.length > 0 && parts.placed.length === 0) return notApplicable(id, name, NO_REMAINING);
  const sorted = [...parts.placed].sort((a, b) => a.remaining! - b.remaining!);
  const found = new WitnessList();
  let highest: Operation | undefined;
  for (const op of sorted) {
    if (highest && op.remaining! < highest.remaining! + highest.quantity) {
      const other = highest;
      found.add(() => ({
        message:
          other.remaining === op.remaining
            ? `two buyers were both told ${op.remaining} remaining: one decrement was lost`
            : `two purchases claim overlapping units (${other.remaining}..${other.remaining! + other.quantity - 1} and ${op.remaining}..${op.remaining! + op.quantity - 1})`,
        operations: [describeOperation(other), describeOperation(op)],
      }));
    }
    if (!highest || op.remaining! + op.quantity > highest.remaining! + highest.quantity) highest = op;
  }
  return judged(id, name, `${plural(sorted.length, 'remaining value')}, ${sorted.length - found.count} distinct`, found.count, found.witnesses);
}

/** H3: units bought by ok answers ≤ S. */
function oversellCount(facts: HistoryFacts, parts: Partition): CheckResult {
  const [id, name] = ['H3', 'oversell-count'];
  const stock = facts.initialStock;
  if (stock === undefined) return noInitialStock(id, name);
  const units = parts.oks.reduce((sum, op) => sum + op.quantity, 0);
  const summary = `${plural(units, 'unit')} bought by ${plural(parts.oks.length, 'ok answer')}, stock ${stock}`;
  if (units <= stock) return pass(id, name, summary);
  return judged(id, name, summary, units - stock, [
    { message: `buyers were told they bought ${plural(units, 'unit')}, but only ${stock} existed: oversold by ${units - stock}` },
  ]);
}

/**
 * Whether the real-time checks may compare times at all: on one clock, or
 * within each host (and across hosts beyond a --clock-skew bound).
 */
function realtimeSkip(facts: HistoryFacts, id: string, name: string): CheckResult | undefined {
  return facts.realtime.exact || facts.realtime.hosts ? undefined : notApplicable(id, name, `real time cannot be compared: ${facts.realtime.reason}`);
}

/**
 * A PASS that could not compare every pair (several hosts, no --clock-skew)
 * is not a pass: N/A, saying what was compared.
 */
function partialPass(facts: HistoryFacts, result: CheckResult): CheckResult {
  if (result.status !== 'PASS' || comparesAcrossHosts(facts.realtime)) return result;
  return notApplicable(result.id, result.name, `real time cannot be compared: ${(facts.realtime as { reason: string }).reason}`, result.summary);
}

/** H4: if ok A completed before ok B was invoked, A's units lie above B's. */
function realtimeOrder(facts: HistoryFacts, parts: Partition): CheckResult {
  const [id, name] = ['H4', 'realtime-order'];
  const skipped = realtimeSkip(facts, id, name);
  if (skipped) return skipped;
  if (parts.oks.length > 0 && parts.placed.length === 0) return notApplicable(id, name, NO_REMAINING);
  // For every buyer, the lowest remaining among the oks that completed
  // before it was invoked: it must be told less than that.
  const { byInvoke, best: lowest } = bestPreceding(parts.placed, parts.placed, (a, b) => a.remaining! < b.remaining!, facts.realtime);
  const found = new WitnessList();
  for (const [k, later] of byInvoke.entries()) {
    const earlier = lowest[k];
    if (earlier && earlier.remaining! < later.remaining! + later.quantity) {
      found.add(() => ({
        message: `a purchase that completed first was told ${earlier.remaining} remaining, yet a purchase invoked after it was told ${later.remaining}: the stock went back up`,
        operations: [describeOperation(earlier), describeOperation(later)],
      }));
    }
  }
  return partialPass(facts, judged(id, name, `${plural(parts.placed.length, 'ok answer')} ordered against real time${hostsNote(facts.realtime)}`, found.count, found.witnesses));
}

/** H5: no sold-out answer completed before a purchase of as many units was invoked and succeeded. */
function earlySoldOut(facts: HistoryFacts, parts: Partition): CheckResult {
  const [id, name] = ['H5', 'early-sold-out'];
  const found = new WitnessList();
  // A sold-out answer that itself reports enough stock contradicts itself.
  for (const refused of parts.soldOuts) {
    if (refused.remaining !== null && refused.remaining >= refused.quantity) {
      found.add(() => ({
        message: `a buyer was told sold out while the same answer says ${refused.remaining} remain (asked for ${refused.quantity})`,
        operations: [describeOperation(refused)],
      }));
    }
  }
  if (!realtimeSkip(facts, id, name)) {
    const { byInvoke, best: smallest } = bestPreceding(parts.soldOuts, parts.oks, (a, b) => a.quantity < b.quantity, facts.realtime);
    for (const [k, bought] of byInvoke.entries()) {
      const refused = smallest[k];
      if (refused && refused.quantity <= bought.quantity) {
        found.add(() => ({
          message: `a buyer was told sold out, and a purchase of ${bought.quantity} invoked after that answer succeeded: stock was refused while it remained (undersell)`,
          operations: [describeOperation(refused), describeOperation(bought)],
        }));
      }
    }
  }
  const refusedNote = parts.refused > 0 ? ` (${parts.refused} refused "try again": not sold-outs)` : '';
  const summary = `${plural(parts.soldOuts.length, 'sold-out answer')}${refusedNote} against ${plural(parts.oks.length, 'ok answer')}${hostsNote(facts.realtime)}`;
  const result = judged(id, name, summary, found.count, found.witnesses);
  if (result.status === 'PASS' && !comparesAcrossHosts(facts.realtime)) return notApplicable(id, name, `real time cannot be compared: ${(facts.realtime as { reason: string }).reason}`, summary);
  return result;
}

/** A run of consecutive units that must have been sold by `deadline`. */
interface Demand {
  from: number;
  to: number;
  deadline: number;
  /** The answer that sets the deadline (it could not have been given before these units were sold). */
  because: Operation | undefined;
}

/**
 * H6: every unit the run implies was sold is owned by an ok, or by a distinct
 * info op invoked before that unit's deadline. A unit's deadline is the
 * earliest completion of an answer that could only be given once it was gone:
 * an ok placed below it, or a sold-out answer. Greedy matching by deadline is
 * exact because the sets of eligible info ops are nested.
 */
function unexplainedDecrements(facts: HistoryFacts, parts: Partition): CheckResult {
  const [id, name] = ['H6', 'unexplained-decrements'];
  if (parts.placed.length < parts.oks.length) {
    return notApplicable(id, name, parts.placed.length === 0 ? NO_REMAINING : `${plural(parts.oks.length - parts.placed.length, 'successful answer')} gave no remaining stock, so their units cannot be placed`);
  }
  const stock = facts.initialStock;
  if (stock === undefined) return noInitialStock(id, name);
  // Across hosts an unknown counts as invoked --clock-skew earlier than its
  // clock says (never a false FAIL); without a bound, at any time.
  const timed = comparesAcrossHosts(facts.realtime);
  const slack = facts.realtime.exact ? 0 : (facts.realtime.hosts?.skewNs ?? 0);

  // Answers that imply "every unit from `floor` up was gone by `complete`".
  const thresholds: Array<{ floor: number; complete: number; op: Operation }> = [];
  for (const op of parts.placed) thresholds.push({ floor: op.remaining! + op.quantity, complete: op.complete, op });
  for (const op of parts.soldOuts) {
    thresholds.push({ floor: op.remaining !== null ? Math.min(op.remaining, op.quantity - 1) : op.quantity - 1, complete: op.complete, op });
  }

  // The lowest unit the run implies was sold.
  let lowest = stock;
  for (const op of parts.placed) lowest = Math.min(lowest, op.remaining!);
  for (const t of thresholds) if (t.op.type !== 'ok') lowest = Math.min(lowest, t.floor);
  if (facts.finalStock !== undefined) lowest = Math.min(lowest, facts.finalStock);
  lowest = Math.max(0, lowest);

  // Units in [lowest, stock) not owned by an ok, as runs split wherever the
  // deadline changes; deadline(v) = min complete over thresholds with floor <= v.
  thresholds.sort((a, b) => a.floor - b.floor);
  const owned = [...parts.placed].sort((a, b) => a.remaining! - b.remaining!);
  const demands: Demand[] = [];
  let deadline = Infinity;
  let because: Operation | undefined;
  let t = 0;
  let o = 0;
  let unit = lowest;
  const absorbThresholdsUpTo = (v: number) => {
    while (t < thresholds.length && thresholds[t]!.floor <= v) {
      const threshold = thresholds[t++]!;
      if (timed && threshold.complete < deadline) {
        deadline = threshold.complete;
        because = threshold.op;
      }
    }
  };
  while (unit < stock) {
    absorbThresholdsUpTo(unit);
    while (o < owned.length && owned[o]!.remaining! + owned[o]!.quantity <= unit) o++;
    const owner = owned[o];
    if (owner && owner.remaining! <= unit) {
      unit = owner.remaining! + owner.quantity;
      continue;
    }
    const nextOwned = owner ? owner.remaining! : stock;
    const nextThreshold = t < thresholds.length ? thresholds[t]!.floor : stock;
    const end = Math.min(nextOwned, Math.max(nextThreshold, unit + 1), stock);
    demands.push({ from: unit, to: end, deadline, because });
    unit = end;
  }

  const gapUnits = demands.reduce((sum, d) => sum + d.to - d.from, 0);
  const summary = `${plural(stock - lowest, 'unit')} implied sold, ${gapUnits} not owned by an ok, ${plural(parts.infos.length, 'info op')} to explain them`;
  const infos = [...parts.infos].sort((a, b) => a.invoke - b.invoke);
  demands.sort((a, b) => a.deadline - b.deadline);
  const found = new WitnessList();
  let supply = 0;
  let needed = 0;
  let i = 0;
  for (const demand of demands) {
    while (i < infos.length && infos[i]!.invoke - slack <= demand.deadline) supply += infos[i++]!.quantity;
    needed += demand.to - demand.from;
    if (needed > supply) {
      const short = needed - supply;
      found.add(() => ({
        message:
          `${demand.to - demand.from === 1 ? `unit ${demand.from} was` : `units ${demand.from}..${demand.to - 1} were`} sold ${demand.because ? 'before the answer below was given' : 'by the end of the run'}, ` +
          `but no ok owns them and only ${plural(supply, 'unit')}' worth of unknown (info) operations could have: ${short} unexplained`,
        operations: demand.because ? [describeOperation(demand.because)] : undefined,
      }));
      // Count each shortfall once: the matched supply is used up.
      needed = supply;
    }
  }
  return judged(id, name, summary, found.count, found.witnesses);
}
