// R1–R4 from the history of a reservation flow (docs/reservations.md
// "Checks"): what the answers to reserve, confirm and cancel alone prove.
//
// The model: an ok reserve surely made a hold of q units; the hold surely
// exists from the moment its answer was read (t_cmp) and surely still exists
// until something could have ended it: a confirm or cancel of it being sent
// (its t_inv), or its time running out — which cannot happen before the
// reserve's t_inv + ttl, because the server set expires_at after the reserve
// was sent. An ok confirm surely confirmed its hold's units by its t_cmp, for
// good. An unknown step (info) may or may not have acted: it never adds to
// what is surely held or confirmed, and a confirm or cancel of it still cuts
// its hold's sure life short at its t_inv. So a check FAILs only when the
// violation holds however the unknowns turned out.

import { comparesAcrossHosts, hostsNote, marginBetween } from './clocks.js';
import type { HistoryFacts } from './http-checks.js';
import { describeStep, type Step } from './step.js';
import { judged, notApplicable, pass, plural, unknown, WitnessList, type CheckResult } from './verdict.js';

/** Everything the reservation checks reason from, beside the database. */
export interface FlowFacts {
  steps: readonly Step[];
  /** S, from the database or --initial-stock. */
  initialStock: number | undefined;
  realtime: HistoryFacts['realtime'];
  /** `verify --reservation-ttl`, in ms: the hold time of reserves whose answer stated none. */
  ttlMs: number | undefined;
  /**
   * Run ids of histories cut short (no end record): their flows may have
   * sent steps that have no line, so rows with those ids are recovered.
   */
  incompleteRuns: ReadonlySet<string>;
  /**
   * Names of those files: a hold of theirs with no confirm or cancel line may
   * have been settled by a step the file lost, at any time after it was made.
   */
  incompleteFiles: ReadonlySet<string>;
}

/** One hold, as its steps tell it: found by its reservation id. */
export interface Hold {
  reservationId: string;
  /** The ok reserve that made it (absent when only confirms or cancels name it). */
  reserve: Step | undefined;
  /** Every confirm step naming it, whatever its outcome. */
  confirms: Step[];
  cancels: Step[];
}

/** The steps grouped by the reservation they made or acted on. */
export function holdsOf(steps: readonly Step[]): Map<string, Hold> {
  const holds = new Map<string, Hold>();
  const hold = (id: string) => {
    let found = holds.get(id);
    if (!found) holds.set(id, (found = { reservationId: id, reserve: undefined, confirms: [], cancels: [] }));
    return found;
  };
  for (const step of steps) {
    if (step.reservationId === null) continue;
    if (step.step === 'reserve') {
      // Only an ok reserve surely made the hold it names.
      if (step.type === 'ok') hold(step.reservationId).reserve = step;
    } else if (step.step === 'confirm') hold(step.reservationId).confirms.push(step);
    else hold(step.reservationId).cancels.push(step);
  }
  return holds;
}

const NO_INITIAL_STOCK = 'needs the initial stock: give --initial-stock (or --db with the reference schema)';
const NO_TTL = (step: Step) =>
  `the reserve answer on ${step.file}:${step.line} stated no ttl_seconds, so when its hold ends is unknown: give --reservation-ttl (the server's hold time) to decide`;

/** Nanoseconds in a millisecond. */
const MS = 1e6;

/** The hold time of a reserve, in ns, or undefined when neither its answer nor --reservation-ttl says. */
function ttlOf(reserve: Step, facts: FlowFacts): number | undefined {
  const ms = reserve.ttlMs ?? facts.ttlMs;
  return ms === undefined ? undefined : ms * MS;
}

function okOf(steps: Step[]): Step[] {
  return steps.filter((step) => step.type === 'ok');
}

/** The history parts of R1–R4: R3 and R4 are completed by the database (reservation-audit.ts). */
export function reservationHistoryChecks(facts: FlowFacts, holds: Map<string, Hold>): { r1: CheckResult; r2: CheckResult; r3: CheckResult; r4: CheckResult } {
  return { r1: confirmedWithinStock(facts, holds), r2: holdsWithinStock(facts, holds), r3: noConfirmAfterEnd(facts, holds), r4: singleSettlement(holds) };
}

/** R1: units surely confirmed (holds with an ok confirm) ≤ S. */
function confirmedWithinStock(facts: FlowFacts, holds: Map<string, Hold>): CheckResult {
  const [id, name] = ['R1', 'confirmed-within-stock'];
  let units = 0;
  const confirms: Step[] = [];
  for (const hold of holds.values()) {
    const ok = okOf(hold.confirms)[0];
    if (!ok) continue;
    // A hold confirmed twice is R4's anomaly; its units are confirmed once here.
    units += hold.reserve?.quantity ?? ok.quantity;
    confirms.push(ok);
  }
  const stock = facts.initialStock;
  const summary = `${plural(units, 'unit')} confirmed in ${plural(confirms.length, 'hold')}${stock !== undefined ? `, initial stock ${stock}` : ''}`;
  if (stock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK, summary);
  if (units <= stock) return pass(id, name, summary);
  const shown = confirms.slice(-5);
  return judged(id, name, summary, 1, [
    {
      message: `buyers were told ${plural(units, 'unit')} were confirmed, but only ${stock} existed: oversold by ${units - stock} (the last ${shown.length} confirms shown)`,
      operations: shown.map(describeStep),
    },
  ]);
}

/** One change of what is surely held or confirmed, at a moment. */
interface Change {
  at: number;
  units: number;
  step: Step;
}

/**
 * R2: at every moment, units surely held + surely confirmed ≤ S. A sweep
 * over the moments sure holds start and end; at equal times ends go first,
 * so touching intervals never count as overlapping.
 */
function holdsWithinStock(facts: FlowFacts, holds: Map<string, Hold>): CheckResult {
  const [id, name] = ['R2', 'holds-within-stock'];
  if (!facts.realtime.exact && !comparesAcrossHosts(facts.realtime)) return notApplicable(id, name, `real time cannot be compared: ${facts.realtime.reason}`);
  // Holds of several hosts count as alive only --clock-skew/2 inside their
  // ends: two that then overlap surely overlapped, whichever clock erred.
  const shrink = facts.realtime.exact ? 0 : (facts.realtime.hosts?.skewNs ?? 0) / 2;
  const stock = facts.initialStock;
  if (stock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK);
  const changes: Change[] = [];
  let noTtl: Step | undefined;
  let counted = 0;
  for (const hold of holds.values()) {
    const { reserve } = hold;
    const confirmed = okOf(hold.confirms).reduce<Step | undefined>((first, step) => (!first || step.complete < first.complete ? step : first), undefined);
    if (reserve) {
      const ttl = ttlOf(reserve, facts);
      // Without a hold time the hold may have expired the moment it was made:
      // it counts only once confirmed.
      if (ttl === undefined) noTtl ??= reserve;
      let end = ttl === undefined ? reserve.complete : reserve.invoke + ttl;
      for (const step of [...hold.confirms, ...hold.cancels]) end = Math.min(end, step.invoke);
      const settleLost = hold.confirms.length + hold.cancels.length === 0 && facts.incompleteFiles.has(reserve.file);
      if (settleLost) end = reserve.complete;
      if (end - shrink > reserve.complete + shrink) {
        changes.push({ at: reserve.complete + shrink, units: reserve.quantity, step: reserve }, { at: end - shrink, units: -reserve.quantity, step: reserve });
        counted += 1;
      }
    }
    if (confirmed) {
      // A cancel sent after all (R4's anomaly when it succeeds) may have given
      // the units back: from its t_inv they are no longer surely confirmed.
      const end = hold.cancels.reduce((least, step) => Math.min(least, step.invoke), Infinity);
      const units = reserve?.quantity ?? confirmed.quantity;
      if (end - shrink > confirmed.complete + shrink) {
        changes.push({ at: confirmed.complete + shrink, units, step: confirmed });
        if (end < Infinity) changes.push({ at: end - shrink, units: -units, step: confirmed });
      }
    }
  }
  changes.sort((a, b) => a.at - b.at || a.units - b.units);
  let level = 0;
  let peak = 0;
  let firstOver: number | undefined;
  let over = 0;
  for (const change of changes) {
    const before = level;
    level += change.units;
    peak = Math.max(peak, level);
    if (level > stock && before <= stock) {
      over += 1;
      firstOver ??= change.at;
    }
  }
  const summary = `${plural(counted, 'hold')} surely alive for a while, peak ${plural(peak, 'unit')} surely held or confirmed, initial stock ${stock}${hostsNote(facts.realtime)}`;
  if (over > 0) {
    const at = firstOver!;
    // The holds and confirms counted at that moment, recomputed once.
    const alive: Step[] = [];
    let level = 0;
    const open = new Map<Step, number>();
    for (const change of changes) {
      if (change.at > at) break;
      level += change.units;
      open.set(change.step, (open.get(change.step) ?? 0) + change.units);
    }
    for (const [step, units] of open) if (units > 0) alive.push(step);
    return judged(id, name, summary, over, [
      {
        message: `at ${(at / MS).toFixed(3)} ms, ${plural(level, 'unit')} were surely held or confirmed (${plural(alive.length, 'reservation')}: ${alive.slice(0, 8).map((step) => step.reservationId).join(', ')}${alive.length > 8 ? ', …' : ''}), more than the ${stock} in stock`,
        operations: alive.slice(0, 5).map(describeStep),
      },
    ]);
  }
  if (noTtl) return unknown(id, name, '--reservation-ttl', NO_TTL(noTtl), summary);
  return pass(id, name, summary);
}

/**
 * R3 (history part): no confirm succeeded after its hold surely ended: its
 * reserve's t_cmp + ttl (the latest the server can have set expires_at to)
 * passed before the confirm was sent, or an ok cancel of it had completed.
 */
function noConfirmAfterEnd(facts: FlowFacts, holds: Map<string, Hold>): CheckResult {
  const [id, name] = ['R3', 'no-confirm-after-end'];
  // A hold's steps come from one flow, so one history and one clock: across
  // hosts only a reservation id two flows were given needs the skew bound.
  if (!facts.realtime.exact && !facts.realtime.hosts) return notApplicable(id, name, `real time cannot be compared: ${facts.realtime.reason}`);
  let uncompared = 0;
  const before = (a: Step, aTime: number, b: Step, bTime: number): boolean => {
    const margin = marginBetween(facts.realtime, a.file, b.file);
    if (margin === undefined) uncompared += 1;
    return margin !== undefined && aTime + margin < bTime;
  };
  const found = new WitnessList();
  let confirms = 0;
  let noTtl: Step | undefined;
  for (const hold of holds.values()) {
    for (const confirm of okOf(hold.confirms)) {
      confirms += 1;
      const { reserve } = hold;
      const ttl = reserve && ttlOf(reserve, facts);
      if (reserve && ttl === undefined) noTtl ??= reserve;
      if (reserve && ttl !== undefined && before(reserve, reserve.complete + ttl, confirm, confirm.invoke)) {
        const late = (confirm.invoke - reserve.complete - ttl) / MS;
        found.add(() => ({
          message: `reservation ${hold.reservationId} was confirmed, but its hold had surely expired ${late.toFixed(3)} ms before the confirm was sent (ttl ${ttl / MS} ms from the reserve's answer)`,
          operations: [describeStep(reserve), describeStep(confirm)],
        }));
      }
      const cancel = okOf(hold.cancels).find((step) => before(step, step.complete, confirm, confirm.invoke));
      if (cancel) {
        found.add(() => ({ message: `reservation ${hold.reservationId} was confirmed after a cancel of it had succeeded`, operations: [describeStep(cancel), describeStep(confirm)] }));
      }
    }
  }
  const skipped = uncompared > 0 ? `; ${uncompared} step pairs of different hosts not compared (no --clock-skew)` : '';
  const summary = `${plural(confirms, 'ok confirm')} checked against their holds' ends${skipped}`;
  if (found.count === 0 && noTtl) return unknown(id, name, '--reservation-ttl', NO_TTL(noTtl), summary);
  return judged(id, name, summary, found.count, found.witnesses);
}

/** R4 (history part): no hold confirmed twice, cancelled twice, or both confirmed and cancelled. */
function singleSettlement(holds: Map<string, Hold>): CheckResult {
  const [id, name] = ['R4', 'single-settlement'];
  const found = new WitnessList();
  let settled = 0;
  for (const hold of holds.values()) {
    const settles = [...okOf(hold.confirms), ...okOf(hold.cancels)];
    if (settles.length > 0) settled += 1;
    if (settles.length < 2) continue;
    const confirms = settles.filter((step) => step.step === 'confirm').length;
    const what = confirms === settles.length ? `confirmed ${settles.length} times` : confirms === 0 ? `cancelled ${settles.length} times` : 'both confirmed and cancelled';
    found.add(() => ({ message: `reservation ${hold.reservationId} was ${what}: buyers were told so by ${plural(settles.length, 'answer')}`, operations: settles.map(describeStep) }));
  }
  return judged(id, name, `${plural(settled, 'hold')} settled by an ok confirm or cancel`, found.count, found.witnesses);
}
