import { readReservationSnapshot, type ReservationSnapshot } from '../../adapters/reservation-reader.js';
import { ConfigError } from '../errors.js';
import { databaseChecks, errorBudget, type FinalState, type JoinChoice, type JoinOutcome } from './db-audit.js';
import { planFinalState, readFinalState, type ReadPlan, type ReadState, type StoreOptions } from './final-state.js';
import { httpChecks, type HistoryFacts } from './http-checks.js';
import { firstHistoryFlow, loadHistories, type HistoryFile, type LoadedHistory, type MissingShard } from './load-history.js';
import type { Operation } from './operation.js';
import { reservationChecks, type ReservationEvidence } from './reservation-audit.js';
import { describeStep, type Step } from './step.js';
import { plural, unknown, type CheckResult, type Verdict, type VerdictStatus } from './verdict.js';

/** What `flashsale verify` is asked to audit; the store flags are final-state.ts's. */
export interface VerifyOptions extends StoreOptions {
  histories: string[];
  /** S; overrides what the database says. */
  initialStock?: number | undefined;
  /** Unknown (info) operations tolerated by E1. */
  maxErrors: number;
  /** The user decides on the history alone: checks that need the database do not make the verdict INCONCLUSIVE. */
  historyOnly?: boolean | undefined;
  /** What D3, D4 and D6 join ledger rows to answers on (default auto). */
  join?: JoinChoice | undefined;
  /** `--reservation-ttl` in ms: the hold time of reserves whose answer stated none. */
  reservationTtlMs?: number | undefined;
  /** `--clock-skew` in ms: how far the wall clocks of machines that ran shards may disagree. */
  clockSkewMs?: number | undefined;
}

/** Reads the history and the database, runs every check, returns the verdict. */
export async function verify(options: VerifyOptions): Promise<Verdict> {
  return (await audit(options)).verdict;
}

/** A verdict with what it was reached on, for reports that draw the run (`--html`). */
export interface Audit {
  verdict: Verdict;
  history: LoadedHistory;
  /** The database at the end, when one was read. */
  state: FinalState | undefined;
  /** A flow's reservation rows, when the reference schema was read. */
  reservations?: ReservationSnapshot | undefined;
}

/** verify, keeping the operations and the final state (already in memory: returning them costs nothing). */
export async function audit(options: VerifyOptions): Promise<Audit> {
  const plan = planFinalState(options);
  if (options.historyOnly && plan) {
    throw new ConfigError('--history-only and a store to audit (--db, --stock-db, --final-stock…) contradict each other: give the store, or decide on the history alone');
  }
  // The database is read while worker threads parse a large history: on
  // SQLite that read holds this thread, which has nothing else to do then.
  // A flow history is audited against the reservation rows instead.
  const flow = await firstHistoryFlow(options.histories);
  let reading: Promise<ReadState | ReservationEvidence | undefined> | undefined;
  const readDatabase = () =>
    (reading ??= flow ? readReservations(plan) : plan ? readFinalState(plan) : Promise.resolve(undefined));
  let history: LoadedHistory;
  try {
    history = await loadHistories(options.histories, { onParsing: () => void readDatabase().catch(() => undefined), clockSkewMs: options.clockSkewMs });
  } catch (error) {
    // A broken history is the first thing to fix, whatever the database says.
    void reading?.catch(() => undefined);
    throw error;
  }
  if (history.flow) {
    let evidence: ReservationEvidence;
    if (flow) evidence = (await readDatabase()) as ReservationEvidence;
    else {
      // The peek missed the flow (an unreadable first batch): the read under way is the purchase one.
      void reading?.catch(() => undefined);
      evidence = await readReservations(plan);
    }
    const verdict = judgeFlow(history.steps, {
      initialStock: options.initialStock ?? ('rows' in evidence ? evidence.rows.initialStock : undefined),
      reservations: evidence,
      realtime: history.realtime,
      maxErrors: options.maxErrors,
      historyOnly: options.historyOnly,
      ttlMs: options.reservationTtlMs,
      files: history.files,
      missingShards: history.missingShards,
    });
    // The report draws operations and a purchase ledger; a flow has neither, so its report shows the checks.
    return { verdict, history, state: undefined, reservations: 'rows' in evidence ? evidence.rows : undefined };
  }
  const read = (await readDatabase()) as ReadState | undefined;
  const initialStock = options.initialStock ?? read?.initialStock;
  const verdict = judge(history.ops, {
    initialStock,
    state: read?.state,
    realtime: history.realtime,
    maxErrors: options.maxErrors,
    historyOnly: options.historyOnly,
    join: options.join,
    files: history.files,
    missingShards: history.missingShards,
  });
  return { verdict, history, state: read?.state };
}

/**
 * The reservation rows, from the reference schema only: a foreign schema's
 * holds and events have no agreed shape to ask for.
 */
async function readReservations(plan: ReadPlan | undefined): Promise<ReservationEvidence> {
  if (!plan) return { none: true };
  if ('reference' in plan.stock && (!plan.ledger || 'reference' in plan.ledger)) return { rows: await readReservationSnapshot(plan.stock.reference, plan.sku) };
  return { foreign: 'reference schema only: the reservation rows are read from the tables serve creates (--db URL), not from --stock-sql/--ledger-sql, Redis or --final-stock' };
}

/** Everything beside the steps that the reservation checks need. */
export interface FlowEvidence extends Omit<Evidence, 'state' | 'join'> {
  reservations: ReservationEvidence;
  /** `--reservation-ttl` in ms. */
  ttlMs?: number | undefined;
}

/**
 * Runs R1–R7 and E1 over the steps of a flow. The purchase checks are left
 * out, not shown as N/A: a flow history has no purchase answers, so thirteen
 * rows would each say only that.
 */
export function judgeFlow(steps: readonly Step[], evidence: FlowEvidence): Verdict {
  const cut = (evidence.files ?? []).filter((file) => !file.end);
  // A run missing a shard is incomplete too: rows of that shard's flows were never recorded.
  const incompleteRuns = new Set([...cut.map((file) => file.meta.run_id), ...(evidence.missingShards ?? []).map((shard) => shard.runId)]);
  const incompleteFiles = new Set(cut.map((file) => file.file));
  const facts = { steps, initialStock: evidence.initialStock, realtime: evidence.realtime, ttlMs: evidence.ttlMs, incompleteRuns, incompleteFiles };
  const checks = [...reservationChecks(facts, evidence.reservations, evidence.historyOnly ?? false), errorBudget(steps, evidence.maxErrors, describeStep), ...shardsCheck(evidence.missingShards)];
  const rows = 'rows' in evidence.reservations ? evidence.reservations.rows : undefined;
  const database = rows?.source ?? ('foreign' in evidence.reservations ? evidence.reservations.foreign : undefined);
  return conclude(checks, steps, (step) => `${step.step} ${step.outcome}`, { ...evidence, finalStock: rows?.finalStock, database, join: undefined }, {
    flow: evidence.files?.[0]?.meta.flow ?? null,
    reservation_rows: rows?.reservations.length ?? null,
    reservation_events: rows?.events.length ?? null,
  });
}

/** Everything beside the operations that the checks need. */
export interface Evidence {
  initialStock: number | undefined;
  state: FinalState | undefined;
  realtime: HistoryFacts['realtime'];
  maxErrors: number;
  /** `--history-only`: checks that need the database are waived, not inconclusive. */
  historyOnly?: boolean | undefined;
  join?: JoinChoice | undefined;
  /** How each history file ended; absent when the operations were built in memory. */
  files?: HistoryFile[] | undefined;
  /** Shards of a sharded run that no given history holds. */
  missingShards?: readonly MissingShard[] | undefined;
}

/** Inputs whose absence `--history-only` accepts: the database's. */
const DATABASE_INPUTS = new Set(['--db']);

/** Runs every check over operations already in memory: the core that tests drive directly. */
export function judge(ops: readonly Operation[], evidence: Evidence): Verdict {
  const facts: HistoryFacts = { ops, initialStock: evidence.initialStock, finalStock: evidence.state?.finalStock, realtime: evidence.realtime };
  const historyResults = httpChecks(facts);
  const database = databaseChecks(facts, evidence.state, historyResults, evidence.join ?? 'auto');
  const checks = [...historyResults, ...database.checks, errorBudget(ops, evidence.maxErrors), ...shardsCheck(evidence.missingShards)];
  return conclude(checks, ops, (op) => op.outcome, {
    ...evidence,
    finalStock: evidence.state?.finalStock,
    database: evidence.state?.source,
    join: database.join,
  }, { ledger_rows: evidence.state?.ledger?.length ?? null });
}

/**
 * S1, only when a sharded run lacks a shard: the other checks stay sound
 * (its requests count as unknowns that may have bought), but a verdict
 * that never saw a whole machine's answers cannot pass.
 */
function shardsCheck(missing: readonly MissingShard[] | undefined): CheckResult[] {
  if (!missing || missing.length === 0) return [];
  const named = missing.map((shard) => `shard ${shard.index}/${shard.count} of run ${shard.runId} (${plural(shard.planned, 'buyer')})`);
  const planned = missing.reduce((sum, shard) => sum + shard.planned, 0);
  return [
    unknown('S1', 'shards-complete', '--history', `no history of ${named.join(', ')}: give ${missing.length === 1 ? 'its file' : 'their files'} to --history`, `${plural(planned, 'planned request')} of missing shards counted as unknown`),
  ];
}

/** What the verdict says about its inputs, whatever kind of run it audits. */
interface Conclusion {
  initialStock: number | undefined;
  finalStock: number | undefined;
  /** Where the database state came from, for the report. */
  database: string | undefined;
  join: JoinOutcome | undefined;
  realtime: HistoryFacts['realtime'];
  historyOnly?: boolean | undefined;
  files?: HistoryFile[] | undefined;
}

/** The verdict over checks already run: waivers, the status, the headline and the inputs. */
function conclude<T extends { type: 'ok' | 'fail' | 'info' }>(checks: CheckResult[], ops: readonly T[], outcomeOf: (op: T) => string, evidence: Conclusion, extra: Record<string, unknown>): Verdict {
  if (evidence.historyOnly) {
    for (const check of checks) {
      if (check.status !== 'UNKNOWN' || !DATABASE_INPUTS.has(check.needs ?? '')) continue;
      check.waived = true;
      check.reason = 'not run: the database was not read (--history-only)';
    }
  }
  const outcomes: Record<string, number> = {};
  const types = { ok: 0, fail: 0, info: 0 };
  for (const op of ops) {
    types[op.type] += 1;
    const outcome = outcomeOf(op);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  const status: VerdictStatus = checks.some((check) => check.status === 'FAIL')
    ? 'FAIL'
    : checks.some((check) => check.status === 'UNKNOWN' && !check.waived)
      ? 'INCONCLUSIVE'
      : 'PASS';
  const incomplete = incompleteness(evidence.files ?? []);
  return {
    status,
    checks,
    headline: headline(status, checks, evidence, incomplete),
    inputs: {
      operations: ops.length,
      ...types,
      // Refused ("try again") answers are fails, never sold-outs: counted apart.
      outcomes,
      initial_stock: evidence.initialStock ?? null,
      final_stock: evidence.finalStock ?? null,
      ...extra,
      database: evidence.database ?? (evidence.historyOnly ? 'none: history only (--history-only)' : null),
      join: joinText(evidence.join),
      realtime: evidence.realtime.exact ? 'exact' : evidence.realtime.reason,
      history: historyText(evidence.files ?? [], incomplete),
      histories: (evidence.files ?? []).map((file) => ({
        file: file.file,
        planned: file.meta.buyers,
        recorded: file.recorded,
        end: file.end?.reason ?? null,
        cut_line: file.cutLine ?? null,
        unrecorded: file.unrecorded,
        faults: file.faults.map((fault) => ({ name: fault.name, detail: fault.detail, error: fault.error })),
      })),
    },
  };
}

function joinText(join: JoinOutcome | undefined): string | null {
  if (!join) return null;
  if (!join.key) return `none: ${join.reason}`;
  return { request: 'request id', buyer: 'buyer id', purchase: 'purchase id' }[join.key];
}

/**
 * One line saying which histories were cut short and what that means, or
 * undefined when none lost anything (every one ends with its end record, or
 * recorded every planned request and only its end record is missing).
 */
function incompleteness(files: HistoryFile[]): string | undefined {
  const cut = files.filter((file) => !file.end && (file.unrecorded > 0 || file.cutLine !== undefined));
  if (cut.length === 0) return undefined;
  const parts = cut.map((file) => {
    const where = file.cutLine !== undefined ? ` (its last line, ${file.cutLine}, was cut mid-write and dropped)` : '';
    return `${file.file} has no end record${where}: ${file.unrecorded} of ${plural(file.meta.buyers, 'planned request')} have no answer recorded`;
  });
  return `incomplete history: ${parts.join('; ')}; they count as unknown (a ledger row of theirs is recovered, not unexpected)`;
}

function historyText(files: HistoryFile[], incomplete: string | undefined): string | null {
  if (files.length === 0) return null;
  if (incomplete) return incomplete;
  if (files.some((file) => !file.end)) return 'no end record, but every planned request is recorded';
  // A whole history may still have stopped early: the end record says why,
  // and that the requests it did not record were never sent.
  const early = files.filter((file) => file.end!.reason !== 'done' || file.end!.recorded < file.end!.planned);
  if (early.length === 0) return 'complete (end record present)';
  return `complete, ended early: ${early.map((file) => `${file.file} ${file.end!.reason} after ${file.end!.recorded} of ${plural(file.end!.planned, 'planned request')} (the rest were never sent)`).join('; ')}`;
}

function headline(status: VerdictStatus, checks: CheckResult[], evidence: Conclusion, incomplete: string | undefined): string {
  const failed = checks.filter((check) => check.status === 'FAIL');
  const blocking = checks.filter((check) => check.status === 'UNKNOWN' && !check.waived);
  const waived = checks.filter((check) => check.waived);
  const notApplicable = checks.filter((check) => check.status === 'N/A');
  const passed = checks.filter((check) => check.status === 'PASS');
  const ids = (list: CheckResult[]) => list.map((check) => check.id).join(' ');
  const notes: string[] = [];
  if (notApplicable.length) notes.push(`${notApplicable.length} N/A (${ids(notApplicable)})`);
  if (waived.length) notes.push(`history only: ${ids(waived)} not run (--history-only)`);
  if (incomplete) notes.push(incomplete);
  const tail = notes.length ? `; ${notes.join('; ')}` : '';
  if (status === 'FAIL') {
    const undecided = blocking.length ? `, ${blocking.length} UNKNOWN` : '';
    return `FAIL: ${failed.map((check) => `${check.id} ${check.name}`).join(', ')} (${failed.length} failed, ${passed.length} passed${undecided})${tail}`;
  }
  if (status === 'INCONCLUSIVE') {
    const needs = [...new Set(blocking.map((check) => check.needs).filter((need): need is string => need !== undefined))];
    const noDatabase = evidence.database === undefined && !evidence.historyOnly;
    const database = noDatabase ? ': the database was not read' : '';
    const accept = noDatabase ? ', or --history-only to accept the history checks alone' : '';
    return `INCONCLUSIVE: ${blocking.length} of ${checks.length} checks could not run (${ids(blocking)})${database}; give ${needs.join(', ')} to decide them${accept}; none failed, ${passed.length} passed${tail}`;
  }
  const applicable = checks.length - notApplicable.length - waived.length;
  const scope = evidence.historyOnly ? ' (history only)' : '';
  return `PASS${scope}: ${passed.length} of ${plural(applicable, 'applicable check')} passed, none failed${tail}`;
}
