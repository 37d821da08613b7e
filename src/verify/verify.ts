import { databaseChecks, errorBudget, type FinalState } from './db-audit.js';
import { planFinalState, readFinalState, type ReadState, type StoreOptions } from './final-state.js';
import { httpChecks, type HistoryFacts } from './http-checks.js';
import { loadHistories, type LoadedHistory } from './load-history.js';
import type { Operation } from './operation.js';
import type { CheckResult, Verdict } from './verdict.js';

/** What `flashsale verify` is asked to audit; the store flags are final-state.ts's. */
export interface VerifyOptions extends StoreOptions {
  histories: string[];
  /** S; overrides what the database says. */
  initialStock?: number | undefined;
  /** Unknown (info) operations tolerated by E1. */
  maxErrors: number;
}

/** Reads the history and the database, runs every check, returns the verdict. */
export async function verify(options: VerifyOptions): Promise<Verdict> {
  const plan = planFinalState(options);
  // The database is read while worker threads parse a large history: on
  // SQLite that read holds this thread, which has nothing else to do then.
  let reading: Promise<ReadState | undefined> | undefined;
  const readDatabase = () =>
    (reading ??= plan ? readFinalState(plan) : Promise.resolve(undefined));
  let history: LoadedHistory;
  try {
    history = await loadHistories(options.histories, { onParsing: () => void readDatabase().catch(() => undefined) });
  } catch (error) {
    // A broken history is the first thing to fix, whatever the database says.
    void reading?.catch(() => undefined);
    throw error;
  }
  const read = await readDatabase();
  const initialStock = options.initialStock ?? read?.initialStock;
  return judge(history.ops, { initialStock, state: read?.state, realtime: history.realtime, maxErrors: options.maxErrors });
}

/** Everything beside the operations that the checks need. */
export interface Evidence {
  initialStock: number | undefined;
  state: FinalState | undefined;
  realtime: HistoryFacts['realtime'];
  maxErrors: number;
}

/** Runs every check over operations already in memory: the core that tests drive directly. */
export function judge(ops: readonly Operation[], evidence: Evidence): Verdict {
  const facts: HistoryFacts = { ops, initialStock: evidence.initialStock, finalStock: evidence.state?.finalStock, realtime: evidence.realtime };
  const historyResults = httpChecks(facts);
  const checks = [...historyResults, ...databaseChecks(facts, evidence.state, historyResults), errorBudget(ops, evidence.maxErrors)];
  const types = { ok: 0, fail: 0, info: 0 };
  for (const op of ops) types[op.type] += 1;
  return {
    status: checks.some((check) => check.status === 'FAIL') ? 'FAIL' : 'PASS',
    checks,
    headline: headline(checks, evidence.state !== undefined),
    inputs: {
      operations: ops.length,
      ...types,
      initial_stock: evidence.initialStock ?? null,
      final_stock: evidence.state?.finalStock ?? null,
      ledger_rows: evidence.state?.ledger?.length ?? null,
      database: evidence.state?.source ?? null,
      realtime: evidence.realtime.exact ? 'exact' : evidence.realtime.reason,
    },
  };
}

function headline(checks: CheckResult[], databaseRead: boolean): string {
  const failed = checks.filter((check) => check.status === 'FAIL');
  const unknown = checks.filter((check) => check.status === 'UNKNOWN');
  const passed = checks.length - failed.length - unknown.length;
  const undecided = unknown.length
    ? `; ${unknown.length} UNKNOWN (${unknown.map((check) => check.id).join(' ')})${databaseRead ? '' : ': history only, the database was not read (no --db)'}`
    : '';
  if (failed.length) {
    return `FAIL: ${failed.map((check) => `${check.id} ${check.name}`).join(', ')} (${failed.length} failed, ${passed} passed${undecided})`;
  }
  return `PASS: ${passed} of ${checks.length} checks passed, none failed${undecided}`;
}
