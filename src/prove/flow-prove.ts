// `flashsale prove --flow reserve` (issue 12): for each database, start the
// reference server with a short hold time, and for each flow scenario reset
// the item, drive reserve → think → confirm/cancel/abandon flows at it, and
// verify the run with the reservation checks (R1–R7). Beyond the verdict, a
// scenario that must exercise expiry fails when it did not: a pass that never
// saw a hold expire and come back proves nothing about expiry.
import { join } from 'node:path';
import { openAdapter } from '../../adapters/open.js';
import type { ReservationSnapshot } from '../../adapters/reservation-reader.js';
import { prepareStore, resetStock } from '../../adapters/store.js';
import { maskPassword, parseDatabaseUrl } from '../../adapters/url.js';
import { startServer } from '../../reference-server/launcher.js';
import { runAttack } from '../attack/coordinator.js';
import type { AttackSummary } from '../attack/summary.js';
import { ConfigError } from '../errors.js';
import { audit } from '../verify/verify.js';
import { flowScenarios, type FlowScenario } from './flow-scenarios.js';
import { concludeProof, failedChecks, proofTargets, PROVE_SKU_PREFIX, REFERENCE_ANSWERS, type ProofTarget, type ProveHooks, type ProveOptions, type ProveReport, type ScenarioResult } from './prove.js';

/** The options `prove --flow reserve` takes: those of prove without the purchase-only ones. */
export type FlowProveOptions = Omit<ProveOptions, 'faults' | 'onlyFaults' | 'buyers'>;

/** Items of the flow scenarios: apart from the purchase scenarios' items. */
const FLOW_SKU_PREFIX = `${PROVE_SKU_PREFIX}flow-`;

export async function proveFlow(options: FlowProveOptions, hooks: ProveHooks = {}): Promise<ProveReport> {
  if (options.stock < 2) throw new ConfigError('--stock must be at least 2 to prove a reservation flow');
  const { workDir, targets } = await proofTargets(options, 'flashsale-prove-flow-');
  const results: ScenarioResult[] = [];
  for (const target of targets) {
    for (const [index, scenario] of flowScenarios(options).entries()) {
      const history = join(workDir, `${parseDatabaseUrl(target.url).dialect}-flow-${index + 1}.jsonl`);
      const result = await runFlowScenario(target, `${FLOW_SKU_PREFIX}${index + 1}`, scenario, history, options);
      results.push(result);
      hooks.onResult?.(result);
    }
  }
  return concludeProof(results, options, workDir);
}

async function runFlowScenario(
  target: ProofTarget,
  sku: string,
  scenario: FlowScenario,
  history: string,
  options: FlowProveOptions,
): Promise<ScenarioResult> {
  const adapter = await openAdapter({ url: target.url });
  try {
    // A reset also removes the item's reservations and events of an earlier run.
    await prepareStore(adapter, { sku, itemName: 'flashsale prove --flow', stock: options.stock });
    await resetStock(adapter, sku, options.stock);
  } finally {
    await adapter.close();
  }
  const server = await startServer({
    url: target.url,
    host: '127.0.0.1',
    port: 0,
    sku,
    itemName: 'flashsale prove --flow',
    stock: options.stock,
    workers: scenario.workers,
    separateProcess: true,
    strategy: options.strategy,
    reservationTtlMs: scenario.ttlMs,
  });
  let summary: AttackSummary;
  const attackStarted = performance.now();
  try {
    summary = await runAttack({
      target: server.url,
      buyers: scenario.buyers,
      concurrency: scenario.concurrency,
      processes: options.processes,
      timeoutMs: options.timeoutMs,
      quantity: 1,
      ...REFERENCE_ANSWERS,
      purchaseIdField: '',
      historyPath: history,
      flow: { name: 'reserve-confirm', confirm: scenario.confirm, cancel: scenario.cancel, think: scenario.think },
    });
  } finally {
    // Stopped before verify reads: no sweeper may write an expiry between the audit's reads.
    await server.stop();
  }
  const attackS = (performance.now() - attackStarted) / 1000;
  const verifyStarted = performance.now();
  const audited = await audit({ histories: [history], db: target.url, sku, maxErrors: 0 });
  const { verdict } = audited;
  const verifyS = (performance.now() - verifyStarted) / 1000;
  const steps = summary.flow!.steps;
  const confirmed = steps.confirm.outcomes.confirmed;
  const anomalies = failedChecks(verdict);
  if (scenario.expectedConfirmed !== undefined && confirmed !== scenario.expectedConfirmed) {
    anomalies.push(`expected ${scenario.expectedConfirmed} confirmed, got ${confirmed}`);
  }
  // The audit has read the reservation rows already: they are not read twice.
  if (scenario.mustExpire) {
    if (audited.reservations) anomalies.push(...expiryUnseen(audited.reservations, steps.confirm.outcomes.expired, options.stock));
    else anomalies.push('the reservation rows were not read: expiry cannot be shown');
  }
  const result: ScenarioResult = {
    database: target.name ?? maskPassword(target.url),
    databaseUrl: server.databaseLabel,
    sku,
    scenario: scenario.name,
    buyers: scenario.buyers,
    concurrency: scenario.concurrency ?? null,
    sold: confirmed,
    soldOut: steps.reserve.outcomes.sold_out,
    errors: summary.types.info,
    allowedErrors: 0,
    faults: [],
    attackS,
    verifyS,
    durationS: attackS + verifyS,
    status: anomalies.length === 0 ? 'PASS' : 'FAIL',
    anomalies,
    history,
    verdict,
  };
  options.onAudit?.(result, audited);
  return result;
}

/**
 * What the scenario failed to exercise: no hold expired, no unit of an
 * expired hold was held again afterwards, no late confirm was refused.
 */
function expiryUnseen(snapshot: ReservationSnapshot, lateConfirms: number, stock: number): string[] {
  const missing: string[] = [];
  const firstExpiry = snapshot.events.find((event) => event.kind === 'expire');
  const holds = snapshot.events.filter((event) => event.kind === 'hold');
  if (!firstExpiry) missing.push('no hold expired: the run did not exercise expiry');
  else if (!holds.some((hold) => hold.id > firstExpiry.id)) missing.push('no hold was made after the first expiry: expired units were never held again');
  // More holds than units: some unit was held twice, which only a return makes possible.
  if (holds.length <= stock) missing.push(`only ${holds.length} holds for ${stock} units: no unit was held again`);
  if (lateConfirms === 0) missing.push('no confirm came after its hold\'s time: the late-confirm refusal was not exercised');
  return missing;
}
