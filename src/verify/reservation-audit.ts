// The reservation checks against the database (docs/reservations.md
// "Checks"): the database parts of R3 and R4, and R5–R7, over the reference
// schema's `reservations` and `reservation_events` rows read at the end of
// the run (adapters/reservation-reader.ts). R1–R4's history parts are
// reservation-history.ts's; this file puts the family together.

import type { ReservationEventRow, ReservationRow, ReservationSnapshot } from '../../adapters/reservation-reader.js';
import { holdsOf, reservationHistoryChecks, type FlowFacts } from './reservation-history.js';
import { describeStep, type Step } from './step.js';
import { judged, notApplicable, pass, plural, unknown, WitnessList, type CheckResult, type Witness } from './verdict.js';

/** What the database side has to go on. */
export type ReservationEvidence =
  /** The reference schema's rows. */
  | { rows: ReservationSnapshot }
  /** No store was given (`--history-only` waives what needs one). */
  | { none: true }
  /** A store other than the reference schema: the rows cannot be found in it. */
  | { foreign: string };

const NO_DB = 'no store given: pass --db (the reference schema serve wrote), or --history-only to decide on the history alone';
const NO_INITIAL_STOCK = 'needs the initial stock: give --initial-stock';

/** R1–R7 in order: the history parts merged with the database's where a check has both. */
export function reservationChecks(facts: FlowFacts, evidence: ReservationEvidence, historyOnly: boolean): CheckResult[] {
  const holds = holdsOf(facts.steps);
  const history = reservationHistoryChecks(facts, holds);
  const databaseOnly = (id: string, name: string, run: (rows: ReservationSnapshot) => CheckResult): CheckResult => {
    if ('rows' in evidence) return run(evidence.rows);
    if ('foreign' in evidence) return notApplicable(id, name, evidence.foreign);
    return unknown(id, name, '--db', NO_DB);
  };
  const both = (part: CheckResult, run: (rows: ReservationSnapshot) => CheckResult): CheckResult => {
    if ('rows' in evidence) return merge(part, run(evidence.rows));
    if (part.status === 'FAIL' || historyOnly) return withNote(part, 'database part not run (--history-only)', historyOnly);
    if ('foreign' in evidence) return withNote(part, `database part N/A: ${evidence.foreign}`, true);
    return { ...unknown(part.id, part.name, '--db', `history part ${part.status}${part.reason ? ` (${part.reason})` : ''}; the database part needs the rows: ${NO_DB}`), summary: part.summary };
  };
  return [
    history.r1,
    history.r2,
    both(history.r3, (rows) => confirmsBeforeEnd(rows)),
    both(history.r4, (rows) => settledOnce(rows)),
    databaseOnly('R5', 'returned-once', (rows) => returnedOnce(rows, facts.initialStock)),
    databaseOnly('R6', 'reservation-conservation', (rows) => conservation(rows, facts.initialStock)),
    databaseOnly('R7', 'reservation-ledger-vs-responses', (rows) => ledgerVsResponses(facts, rows)),
  ];
}

function withNote(part: CheckResult, note: string, show: boolean): CheckResult {
  return show ? { ...part, summary: part.summary ? `${part.summary}; ${note}` : note } : part;
}

/**
 * One row for a check with a history part and a database part: FAIL if
 * either failed (both parts' witnesses), else UNKNOWN if the history part
 * could not decide (the database part's result said), else the database
 * part's verdict.
 */
function merge(history: CheckResult, database: CheckResult): CheckResult {
  const summary = `history: ${history.summary || history.reason}; database: ${database.summary}`;
  if (history.status === 'FAIL' || database.status === 'FAIL') {
    const witnesses = [...history.witnesses, ...database.witnesses];
    return judged(history.id, history.name, summary, history.violations + database.violations, witnesses);
  }
  // Real time that cannot be compared leaves the database part to decide.
  if (history.status === 'N/A') return { ...database, summary: `history part N/A (${history.reason}); database: ${database.summary}` };
  if (history.status !== 'PASS') return { ...history, summary: `database part ${database.status}: ${database.summary}` };
  return { ...database, summary };
}

function describeReservation(row: ReservationRow): string {
  const settled = row.settledAtMs !== undefined ? `, settled_at_ms ${row.settledAtMs}` : '';
  return `reservation ${row.reservationId}: state ${row.state}, quantity ${row.quantity}, buyer ${row.buyerId}, request ${row.requestId}, stock_after ${row.stockAfter}, expires_at_ms ${row.expiresAtMs}${settled}`;
}

function describeEvent(event: ReservationEventRow): string {
  const request = event.requestId !== undefined ? `request ${event.requestId}` : 'no request';
  return `event ${event.id}: ${event.kind} of ${event.reservationId}, quantity ${event.quantity}, stock_after ${event.stockAfter}, ${request}, at_ms ${event.atMs}`;
}

function eventsByReservation(rows: ReservationSnapshot): Map<string, ReservationEventRow[]> {
  const grouped = new Map<string, ReservationEventRow[]>();
  for (const event of rows.events) {
    const list = grouped.get(event.reservationId);
    if (list) list.push(event);
    else grouped.set(event.reservationId, [event]);
  }
  return grouped;
}

const TERMINAL = new Set(['confirm', 'cancel', 'expire']);
const RETURNING = new Set(['cancel', 'expire']);

/** R3 (database part): no confirm event at or after its hold's expires_at_ms, none after a cancel or expire event of it. */
function confirmsBeforeEnd(rows: ReservationSnapshot): CheckResult {
  const byId = new Map(rows.reservations.map((row) => [row.reservationId, row]));
  const ended = new Map<string, ReservationEventRow>();
  const found = new WitnessList();
  let confirms = 0;
  for (const event of rows.events) {
    if (RETURNING.has(event.kind)) {
      if (!ended.has(event.reservationId)) ended.set(event.reservationId, event);
      continue;
    }
    if (event.kind !== 'confirm') continue;
    confirms += 1;
    const row = byId.get(event.reservationId);
    if (row && event.atMs >= row.expiresAtMs) {
      found.add(() => ({ message: `reservation ${row.reservationId} was confirmed at ${event.atMs}, ${event.atMs - row.expiresAtMs} ms after it expired (expires_at_ms ${row.expiresAtMs})`, rows: [describeReservation(row), describeEvent(event)] }));
    }
    const before = ended.get(event.reservationId);
    if (before) found.add(() => ({ message: `reservation ${event.reservationId} was confirmed after its hold ended by ${before.kind}`, rows: [describeEvent(before), describeEvent(event)] }));
  }
  return judged('R3', 'no-confirm-after-end', `${plural(confirms, 'confirm event')} checked against expires_at_ms and earlier ends`, found.count, found.witnesses);
}

/** R4 (database part): one terminal event per hold at most, so never two confirms. */
function settledOnce(rows: ReservationSnapshot): CheckResult {
  const found = new WitnessList();
  let holds = 0;
  for (const [reservationId, events] of eventsByReservation(rows)) {
    holds += 1;
    const terminal = events.filter((event) => TERMINAL.has(event.kind));
    if (terminal.length < 2) continue;
    const confirms = terminal.filter((event) => event.kind === 'confirm').length;
    const what = confirms >= 2 ? `confirmed ${confirms} times` : `ended ${terminal.length} times (${terminal.map((event) => event.kind).join(', ')})`;
    found.add(() => ({ message: `reservation ${reservationId} was ${what}`, rows: terminal.map(describeEvent) }));
  }
  return judged('R4', 'single-settlement', `${plural(holds, 'reservation')} with events, each ended at most once`, found.count, found.witnesses);
}

/**
 * R5: each cancelled or expired hold gave its units back exactly once (one
 * cancel or expire event of its quantity), no confirmed or held one gave any
 * back (nor one that has a confirm event, whatever its state says now), and the stock the events imply is the stock there is: S − holds +
 * returns − purchases = F overall, and, when no purchase interleaves, each
 * event's stock_after is the one before it plus its own change.
 */
function returnedOnce(rows: ReservationSnapshot, initialStock: number | undefined): CheckResult {
  const [id, name] = ['R5', 'returned-once'];
  if (initialStock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK);
  const grouped = eventsByReservation(rows);
  const found = new WitnessList();
  let returned = 0;
  for (const row of rows.reservations) {
    const events = grouped.get(row.reservationId) ?? [];
    const returns = events.filter((event) => RETURNING.has(event.kind));
    const confirm = events.find((event) => event.kind === 'confirm');
    const shouldReturn = row.state === 'cancelled' || row.state === 'expired';
    if (shouldReturn) returned += 1;
    if (shouldReturn && returns.length === 0) {
      found.add(() => ({ message: `reservation ${row.reservationId} is ${row.state}, but no cancel or expire event gave its units back`, rows: [describeReservation(row)] }));
    } else if (returns.length > 1) {
      found.add(() => ({ message: `reservation ${row.reservationId} gave its units back ${returns.length} times`, rows: [describeReservation(row), ...returns.map(describeEvent)] }));
    } else if (returns.length > 0 && (!shouldReturn || confirm)) {
      // A confirmed hold's units are sold: giving them back sells them twice.
      const why = confirm ? `was confirmed (event ${confirm.id})` : `is ${row.state}`;
      found.add(() => ({ message: `reservation ${row.reservationId} ${why}, yet its units were given back`, rows: [describeReservation(row), ...(confirm ? [describeEvent(confirm)] : []), ...returns.map(describeEvent)] }));
    }
    for (const event of returns) {
      if (event.quantity !== row.quantity) found.add(() => ({ message: `reservation ${row.reservationId} holds ${row.quantity} units, its ${event.kind} gave back ${event.quantity}`, rows: [describeReservation(row), describeEvent(event)] }));
    }
  }
  let held = 0;
  let given = 0;
  for (const event of rows.events) {
    if (event.kind === 'hold') held += event.quantity;
    else if (RETURNING.has(event.kind)) given += event.quantity;
  }
  const implied = initialStock - held + given - rows.purchasedUnits;
  if (implied !== rows.finalStock) {
    found.add(() => ({
      message: `the events imply ${implied} units available (initial ${initialStock} − held ${held} + given back ${given} − purchased ${rows.purchasedUnits}), but the stock is ${rows.finalStock}`,
    }));
  }
  if (rows.purchasedUnits === 0) {
    let previous: ReservationEventRow | undefined;
    for (const event of rows.events) {
      const before = previous ? previous.stockAfter : initialStock;
      const change = event.kind === 'hold' ? -event.quantity : RETURNING.has(event.kind) ? event.quantity : 0;
      if (event.stockAfter !== before + change) {
        const last = previous;
        found.add(() => ({
          message: `after ${event.kind} of ${event.quantity} the stock should be ${before + change}, event ${event.id} says ${event.stockAfter} (a change lost or applied twice)`,
          rows: [...(last ? [describeEvent(last)] : []), describeEvent(event)],
        }));
      }
      previous = event;
    }
  }
  const summary = `${plural(returned, 'hold')} cancelled or expired; ${plural(rows.events.length, 'event')} imply ${implied} available, the stock is ${rows.finalStock}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** R6: F + held + confirmed + Σ purchases = S, from the final rows. */
function conservation(rows: ReservationSnapshot, initialStock: number | undefined): CheckResult {
  const [id, name] = ['R6', 'reservation-conservation'];
  if (initialStock === undefined) return unknown(id, name, '--initial-stock', NO_INITIAL_STOCK);
  let held = 0;
  let confirmed = 0;
  for (const row of rows.reservations) {
    if (row.state === 'held') held += row.quantity;
    else if (row.state === 'confirmed') confirmed += row.quantity;
  }
  const total = rows.finalStock + held + confirmed + rows.purchasedUnits;
  const summary = `available ${rows.finalStock} + held ${held} + confirmed ${confirmed} + purchased ${rows.purchasedUnits} = ${total}, initial ${initialStock}`;
  if (total === initialStock) return pass(id, name, summary);
  const difference = total - initialStock;
  return judged(id, name, summary, 1, [
    {
      message:
        difference > 0
          ? `${plural(difference, 'unit')} more than the initial stock are accounted for: units were given back that were still held or confirmed (or given back twice)`
          : `${plural(-difference, 'unit')} of the initial stock are unaccounted for: taken from the stock without a hold or sale to show for it`,
    },
  ]);
}

/** The row and events a step's request id names. */
interface Written {
  reservations: ReservationRow[];
  events: ReservationEventRow[];
}

/**
 * R7: every ok reserve has its reservation row (same id, quantity,
 * stock_after as told) and hold event, every ok confirm or cancel its event
 * and its row in that state; no row or event for a step that surely failed;
 * rows and events of unknown steps are recovered (allowed, counted), and so
 * are those of flows a cut-short history did not record; any other row or
 * event names a request this run never sent.
 */
function ledgerVsResponses(facts: FlowFacts, rows: ReservationSnapshot): CheckResult {
  const [id, name] = ['R7', 'reservation-ledger-vs-responses'];
  const written = new Map<string, Written>();
  const entry = (key: string) => {
    let found = written.get(key);
    if (!found) written.set(key, (found = { reservations: [], events: [] }));
    return found;
  };
  for (const row of rows.reservations) entry(row.requestId).reservations.push(row);
  for (const event of rows.events) if (event.requestId !== undefined) entry(event.requestId).events.push(event);
  const byReservation = new Map(rows.reservations.map((row) => [row.reservationId, row]));
  const found = new WitnessList();
  const counts = { lost: 0, mismatched: 0, abortedVisible: 0, recovered: 0, unexpected: 0, unrecorded: 0 };
  const fail = (count: keyof typeof counts, witness: () => Witness) => {
    counts[count] += 1;
    found.add(witness);
  };
  const sent = new Set<string>();
  for (const step of facts.steps) {
    sent.add(step.requestId);
    const mine = written.get(step.requestId);
    const hasAny = mine !== undefined && (mine.reservations.length > 0 || mine.events.length > 0);
    const evidence = () => [...(mine?.reservations ?? []).map(describeReservation), ...(mine?.events ?? []).map(describeEvent)];
    if (step.type === 'info') {
      if (hasAny) counts.recovered += 1;
      continue;
    }
    if (step.type === 'fail') {
      if (hasAny) fail('abortedVisible', () => ({ message: `aborted-visible: the ${step.step} was answered ${step.outcome}, but the database has what it wrote`, operations: [describeStep(step)], rows: evidence() }));
      continue;
    }
    const problem = okProblem(step, mine, byReservation);
    if (problem) fail(problem.lost ? 'lost' : 'mismatched', () => ({ message: problem.message, operations: [describeStep(step)], rows: [...evidence(), ...problem.rows] }));
  }
  for (const [requestId, { reservations, events }] of written) {
    if (sent.has(requestId)) continue;
    if (recordedElsewhere(requestId, facts.incompleteRuns)) {
      counts.unrecorded += 1;
      continue;
    }
    fail('unexpected', () => ({ message: `unexpected: rows for request ${requestId}, which this run never sent`, rows: [...reservations.map(describeReservation), ...events.map(describeEvent)] }));
  }
  const unrecorded = counts.unrecorded > 0 ? ` (+${counts.unrecorded} of flows the cut-short history did not record)` : '';
  const summary =
    `${plural(rows.reservations.length, 'reservation')}, ${plural(rows.events.length, 'event')} joined on request id: lost ${counts.lost}, mismatched ${counts.mismatched}, ` +
    `aborted-visible ${counts.abortedVisible}, unexpected ${counts.unexpected}, recovered ${counts.recovered}${unrecorded}`;
  return judged(id, name, summary, found.count, found.witnesses);
}

/** What is wrong with the rows of an ok step, if anything. */
function okProblem(step: Step, mine: Written | undefined, byReservation: Map<string, ReservationRow>): { lost: boolean; message: string; rows: string[] } | undefined {
  if (step.step === 'reserve') {
    const row = mine?.reservations[0];
    if (!row) return { lost: true, message: `lost: the buyer was told ${step.reservationId} was reserved, but no reservation row has its request id`, rows: [] };
    if (row.reservationId !== step.reservationId) return { lost: false, message: `the answer named reservation ${step.reservationId}, the row of its request is ${row.reservationId}`, rows: [] };
    if (row.quantity !== step.quantity) return { lost: false, message: `the reserve asked for ${step.quantity} units, its row holds ${row.quantity}`, rows: [] };
    if (step.remaining !== null && row.stockAfter !== step.remaining) return { lost: false, message: `the buyer was told ${step.remaining} remaining, the row's stock_after is ${row.stockAfter}`, rows: [] };
    if (!mine.events.some((event) => event.kind === 'hold')) return { lost: true, message: `lost: reservation ${row.reservationId} has no hold event`, rows: [] };
    return undefined;
  }
  const kind = step.step;
  const state = kind === 'confirm' ? 'confirmed' : 'cancelled';
  const event = mine?.events.find((candidate) => candidate.kind === kind);
  if (!event) return { lost: true, message: `lost: the buyer was told ${step.reservationId} was ${state}, but no ${kind} event has its request id`, rows: [] };
  if (event.reservationId !== step.reservationId) return { lost: false, message: `the ${kind} acted on ${step.reservationId}, its event names ${event.reservationId}`, rows: [] };
  const row = step.reservationId === null ? undefined : byReservation.get(step.reservationId);
  if (!row) return { lost: true, message: `lost: the buyer was told ${step.reservationId} was ${state}, but no reservation row has that id`, rows: [] };
  if (row.state !== state) return { lost: false, message: `the buyer was told ${row.reservationId} was ${state}, but the row says ${row.state}`, rows: [describeReservation(row)] };
  return undefined;
}

/**
 * A request id of a flow of a history that was cut short: `<run>-<i>` for a
 * reserve, with `.confirm` or `.cancel` for its later steps (plan.ts).
 */
function recordedElsewhere(requestId: string, incompleteRuns: ReadonlySet<string>): boolean {
  if (incompleteRuns.size === 0) return false;
  const flow = requestId.replace(/\.(confirm|cancel)$/, '');
  const dash = flow.lastIndexOf('-');
  return dash > 0 && incompleteRuns.has(flow.slice(0, dash));
}
