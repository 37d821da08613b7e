import { Command, InvalidArgumentError, Option } from 'commander';
import type { Histogram as LatencyHistogram } from 'hdr-histogram-js';
import { startAttack } from '../attack/coordinator.js';
import { commandFault, type FaultInjection } from '../attack/fault.js';
import { DEFAULT_CANCEL_SHARE, DEFAULT_CONFIRM_SHARE, DEFAULT_THINK_MS, FLOW_NAMES, type FlowOptions } from '../attack/flow.js';
import { DEFAULT_TARGET, type ShardOf } from '../attack/plan.js';
import { progressReporter } from '../attack/progress.js';
import { allPassed, evaluateThresholds, parseThreshold, type Threshold } from '../attack/thresholds.js';
import { attackSummaryJson, renderAttackSummary } from '../report/attack-summary.js';
import { renderThresholds } from '../report/thresholds-table.js';
import { ConfigError, EXIT_THRESHOLD_CROSSED, EXIT_USAGE } from '../errors.js';
import type { CommandResult } from './result.js';
import { duration, wholeNumber } from './options.js';

/** Exit code of a run cut short by Ctrl-C (128 + SIGINT), so a script never takes it for a whole run. */
const EXIT_INTERRUPTED = 130;
/**
 * Exit code of a run whose target was lost mid-run (it refused connections
 * for longer than --timeout): an unreachable target, as DESIGN.md's code 2
 * says, even though the history is whole and verify can still judge it.
 */
const EXIT_TARGET_LOST = EXIT_USAGE;
// Which code wins when several apply: interrupted (130), then target lost (2),
// then a crossed --threshold (99), then 0. A cut-short run's figures are
// partial, so its thresholds are shown but do not decide the code.

/** Where a --fault without its own --fault-at runs. */
const DEFAULT_FAULT_AT = 0.5;

interface AttackFlags {
  target: string;
  buyers?: number;
  concurrency?: number;
  processes?: number;
  rate?: number;
  duration?: number;
  timeout: number;
  quantity: number;
  body?: string;
  header: string[];
  method: string;
  okStatus: number[];
  soldOutStatus: number[];
  okBody?: string;
  soldOutBody?: string;
  refusedStatus?: number[];
  refusedBody?: string;
  fault: string[];
  faultAt: number[];
  remainingField: string;
  purchaseIdField: string;
  history: string;
  json?: boolean;
  seed?: number;
  flow?: string;
  confirm?: number;
  cancel?: number;
  think?: { min: number; max: number };
  reservePath?: string;
  confirmPath?: string;
  cancelPath?: string;
  reserveBody?: string;
  confirmBody?: string;
  cancelBody?: string;
  reservationIdField?: string;
  ttlField?: string;
  settleOkStatus?: number[];
  expiredStatus?: number[];
  threshold: Threshold[];
  shard?: ShardOf;
  runId?: string;
  startAt?: number;
}

/** The flags that only mean something with --flow, as commander names them. */
const FLOW_FLAGS = ['confirm', 'cancel', 'think', 'reservePath', 'confirmPath', 'cancelPath', 'reserveBody', 'confirmBody', 'cancelBody', 'reservationIdField', 'ttlField', 'settleOkStatus', 'expiredStatus'] as const;

export function attackCommand(finish: (result: CommandResult) => void): Command {
  return new Command('attack')
    .description('fire a stampede of buyers at a purchase endpoint from several processes, and record every answer in a history file')
    .option('--target <url>', 'the purchase endpoint', DEFAULT_TARGET)
    .option('--buyers <n>', 'buyers, one request each (default 1000)', wholeNumber(1, 1_000_000_000))
    .option('--concurrency <c>', 'requests in flight at most, across all processes (default: every buyer at once, up to 1000)', wholeNumber(1, 100_000))
    .option('--processes <p>', 'attacking child processes (default: CPU count)', wholeNumber(1, 256))
    .option('--rate <r>', 'open model: arrivals per second, Poisson; latency counts from each arrival\'s intended time', wholeNumber(1, 10_000_000))
    .option('--duration <duration>', 'open model: how long arrivals keep coming, e.g. 30s (sets buyers = rate x duration)', duration(1))
    .addOption(new Option('--timeout <duration>', 'longest wait for an answer (headers, then between body chunks)').argParser(duration(1)).default(5000, '5s'))
    .option('--quantity <q>', 'units each buyer asks for ({{quantity}} in the body)', wholeNumber(1, 1_000_000), 1)
    .option('--body <template>', 'request body, with {{buyer}}, {{request_id}}, {{i}}, {{quantity}} (default: {"buyer_id":"{{buyer}}","quantity":{{quantity}}})')
    .addOption(new Option('--header <name:value>', 'extra request header, repeatable; templates allowed in the value').argParser(collect).default([], 'none'))
    .option('--method <method>', 'HTTP method', 'POST')
    .addOption(new Option('--ok-status <list>', 'statuses that mean bought').argParser(statusList).default([200, 201], '200,201'))
    .addOption(new Option('--sold-out-status <list>', 'statuses that mean sold out (a 409 meaning "conflict, retry": give --refused-status 409)').argParser(statusList).default([410, 409], '410,409, less any status given to --refused-status'))
    .option('--ok-body <regex>', 'with an ok status, count as bought only when the body matches')
    .option('--sold-out-body <regex>', 'a body that matches means sold out (for servers that answer 200 to everything)')
    .addOption(new Option('--refused-status <list>', 'statuses that mean "not now, try again": surely not bought, no claim about stock; a 5xx counts only with a Retry-After header ("" for none) (default: 429,503, less any status given to --ok-status or --sold-out-status)').argParser(refusedList))
    .option('--refused-body <regex>', 'a body that matches (status below 500) means refused, e.g. "try again"')
    .addOption(new Option('--fault <command>', 'shell command run once during the run (to restart your server or database), recorded in the history; repeatable').argParser(collect).default([], 'none'))
    .addOption(new Option('--fault-at <share>', 'when the matching --fault runs: once this share of the buyers has been answered, e.g. 40%').argParser(collectShare).default([], '50%'))
    .option('--remaining-field <path>', 'dotted path to the remaining stock in a JSON answer; "" if there is none', 'remaining_stock')
    .option('--purchase-id-field <path>', 'dotted path to the purchase id in a JSON answer; "" if there is none', 'purchase_id')
    .option('--history <file>', 'history file to write (JSON Lines)', 'flashsale-history.jsonl')
    .option('--json', 'print the summary as one JSON object on stdout, nothing else there')
    .option('--seed <n>', 'seed of the open model\'s arrival schedule and of --flow\'s choices (default: random; the summary shows it)', wholeNumber(0, 2 ** 31 - 1))
    .option('--flow <name>', `each buyer runs a multi-step flow instead of one purchase: ${FLOW_NAMES.join(', ')} (reserve, think, then confirm, cancel or abandon); closed model only`)
    .option('--confirm <share>', `with --flow: share of held flows that confirm, e.g. 0.7 or 70% (default ${DEFAULT_CONFIRM_SHARE})`, share)
    .option('--cancel <share>', `with --flow: share of held flows that cancel (default ${DEFAULT_CANCEL_SHARE}); the rest abandon their hold`, share)
    .option('--think <duration>', `with --flow: wait between a hold and its confirm or cancel, e.g. 100ms, or a range 50ms..200ms drawn per flow from --seed (default ${DEFAULT_THINK_MS}ms)`, thinkRange)
    .option('--reserve-path <path>', 'with --flow: the reserve request\'s path, resolved against --target like a link (default /reserve)')
    .option('--confirm-path <path>', 'with --flow: the confirm request\'s path (default /confirm)')
    .option('--cancel-path <path>', 'with --flow: the cancel request\'s path (default /cancel)')
    .option('--reserve-body <template>', 'with --flow: reserve body, placeholders as --body (default: {"buyer_id":"{{buyer}}","quantity":{{quantity}}})')
    .option('--confirm-body <template>', 'with --flow: confirm body; {{reserve.FIELD}} is any dotted field of the reserve\'s JSON answer (default: {"reservation_id":"{{reserve.reservation_id}}","buyer_id":"{{buyer}}"})')
    .option('--cancel-body <template>', 'with --flow: cancel body, as --confirm-body (same default)')
    .option('--reservation-id-field <path>', 'with --flow: dotted path to the reservation id in the reserve\'s JSON answer (default reservation_id)')
    .option('--ttl-field <path>', 'with --flow: dotted path to the hold time in seconds in the reserve\'s answer, recorded for verify; "" if none (default ttl_seconds)')
    .option('--settle-ok-status <list>', 'with --flow: confirm and cancel statuses that mean done (default 200); --ok-status and --sold-out-status describe the reserve', statusList)
    .option('--expired-status <list>', 'with --flow: confirm and cancel statuses that mean the hold had expired (default 410); other 4xx are rejected', statusList)
    .addOption(new Option('--threshold <expr>', 'pass/fail gate on the run, k6 style, repeatable: p95<200ms, rate>=500, refused<1% (README "Thresholds"); exit 99 when one is crossed').argParser(collectThreshold).default([], 'none'))
    .option('--shard <i/n>', 'run only slice i of n of the buyers (1-based; buyers i-1, i-1+n, …), for one run spread over n machines; --buyers, --concurrency and --rate are the whole run\'s; needs --run-id', shardOf)
    .option('--run-id <id>', 'the run id that prefixes every request id (default: random); every shard of one run must give the same one')
    .option('--start-at <time>', 'release the start barrier at this wall-clock instant, ISO 8601 with a zone (2026-12-07T10:00:00Z): every shard at once; connections open 10s before', wallClockInstant)
    .action(async (flags: AttackFlags, command: Command) => {
      // A status given to --refused-status on purpose leaves the default sold-out list, as the
      // refused defaults give way to --sold-out-status: a server whose 409 means "conflict,
      // retry" is described by --refused-status 409 alone, not refused as a contradiction.
      const soldOutStatus = command.getOptionValueSource('soldOutStatus') === 'default' && flags.refusedStatus
        ? flags.soldOutStatus.filter((status) => !flags.refusedStatus!.includes(status))
        : flags.soldOutStatus;
      const faults = commandFaults(flags.fault, flags.faultAt);
      const flow = flowOptions(flags);
      const progress = progressReporter({ json: !!flags.json });
      let latency: LatencyHistogram | undefined;
      const attack = startAttack(
        {
          target: flags.target,
          buyers: flags.buyers,
          concurrency: flags.concurrency,
          processes: flags.processes,
          rate: flags.rate,
          durationMs: flags.duration,
          timeoutMs: flags.timeout,
          quantity: flags.quantity,
          body: flags.body,
          headers: flags.header,
          method: flags.method,
          okStatus: flags.okStatus,
          soldOutStatus,
          okBody: flags.okBody,
          soldOutBody: flags.soldOutBody,
          refusedStatus: flags.refusedStatus,
          refusedBody: flags.refusedBody,
          faults,
          remainingField: flags.remainingField,
          purchaseIdField: flags.purchaseIdField,
          historyPath: flags.history,
          seed: flags.seed,
          flow,
          shard: flags.shard,
          runId: flags.runId,
          startAtMs: flags.startAt,
        },
        { onProgress: (update) => progress.update(update), onLatency: (histogram) => (latency = histogram) },
      );
      // First Ctrl-C: stop and summarise what was done; a second one kills the children.
      const onSignal = () => attack.stop();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await attack.done;
        progress.stop();
        // Judged once the history is closed with its end line: a crossed threshold never cuts it short.
        const thresholds = evaluateThresholds(flags.threshold, { summary, latency });
        if (thresholds.length > 0) summary.thresholds = thresholds;
        process.stdout.write(flags.json ? attackSummaryJson(summary) : renderAttackSummary(summary) + renderThresholds(thresholds));
        if (summary.end_reason === 'interrupted') finish({ exitCode: EXIT_INTERRUPTED });
        else if (summary.end_reason === 'target_lost') {
          const unsent = summary.completed - summary.sent;
          process.stderr.write(
            `flashsale: the target was lost mid-run: it refused connections for longer than the timeout; ` +
              `${summary.sent} requests tried${unsent > 0 ? `, ${unsent} buyers recorded as not sent` : ''}; the history ${summary.history} is whole, verify can judge it\n`,
          );
          finish({ exitCode: EXIT_TARGET_LOST });
        } else finish({ exitCode: allPassed(thresholds) ? 0 : EXIT_THRESHOLD_CROSSED });
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** The --flow flags as the attack takes them; a flow flag without --flow is a mistake, said in one line. */
function flowOptions(flags: AttackFlags): FlowOptions | undefined {
  if (flags.flow === undefined) {
    const stray = FLOW_FLAGS.find((name) => flags[name] !== undefined);
    if (stray) throw new ConfigError(`--${stray.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)} needs --flow ${FLOW_NAMES[0]}`);
    return undefined;
  }
  return {
    name: flags.flow,
    confirm: flags.confirm,
    cancel: flags.cancel,
    think: flags.think,
    paths: { reserve: flags.reservePath, confirm: flags.confirmPath, cancel: flags.cancelPath },
    bodies: { reserve: flags.reserveBody, confirm: flags.confirmBody, cancel: flags.cancelBody },
    reservationIdField: flags.reservationIdField,
    ttlField: flags.ttlField,
    settleOkStatus: flags.settleOkStatus,
    expiredStatus: flags.expiredStatus,
  };
}

/** `--shard i/n`: two whole numbers, 1 <= i <= n (the buyer count is checked with the plan). */
export function shardOf(value: string): ShardOf {
  const match = /^\s*(\d{1,9})\s*\/\s*(\d{1,9})\s*$/.exec(value);
  const shard = match ? { index: Number(match[1]), count: Number(match[2]) } : undefined;
  if (!shard || shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw new InvalidArgumentError(`expected i/n with 1 <= i <= n, such as 2/3, got ${JSON.stringify(value)}.`);
  }
  return shard;
}

/**
 * `--start-at`: an ISO 8601 date and time with its zone (Z or ±hh:mm), as ms
 * since the epoch. A time without a zone is refused: machines in different
 * zones would read it as different instants.
 */
export function wallClockInstant(value: string): number {
  const text = value.trim();
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`expected an ISO 8601 instant with its zone, such as 2026-12-07T10:00:00Z, got ${JSON.stringify(value)}.`);
  return ms;
}

/** A share such as `0.7` or `70%`, from 0 to 1. */
function share(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(value.trim());
  const number = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(number >= 0 && number <= 1)) throw new InvalidArgumentError(`expected a share from 0 to 1 such as 0.7 or 70%, got ${JSON.stringify(value)}.`);
  return number;
}

/** `100ms`, or a range `50ms..200ms`, as milliseconds. */
function thinkRange(value: string): { min: number; max: number } {
  const parts = value.split('..');
  if (parts.length > 2) throw new InvalidArgumentError(`expected a duration such as 100ms or a range such as 50ms..200ms, got ${JSON.stringify(value)}.`);
  const [min, max] = parts.map((part) => duration(0)(part));
  return { min: min!, max: max ?? min! };
}

/** Parsed at once, so a bad threshold stops the run before any request is sent. */
function collectThreshold(value: string, previous: Threshold[]): Threshold[] {
  try {
    return [...previous, parseThreshold(value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A share of the buyers such as `40%` (strictly between 0% and 100%), as a fraction. */
function collectShare(value: string, previous: number[]): number[] {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
  const share = match ? Number(match[1]) / 100 : NaN;
  if (!(share > 0 && share < 1)) throw new InvalidArgumentError(`expected a share of the buyers such as 40% (above 0%, below 100%), got ${JSON.stringify(value)}.`);
  return [...previous, share];
}

/** The n-th --fault-at goes with the n-th --fault; one without its own runs at 50%. */
function commandFaults(commands: string[], shares: number[]): FaultInjection[] {
  if (shares.length > commands.length) throw new ConfigError(`${shares.length} --fault-at for ${commands.length} --fault: each --fault-at goes with one --fault, in order`);
  return commands.map((command, k) => commandFault(command, shares[k] ?? DEFAULT_FAULT_AT));
}

/** --refused-status: like statusList, but "" turns the refused rule off. */
function refusedList(value: string): number[] {
  return value.trim() === '' ? [] : statusList(value);
}

/** A comma-separated list of HTTP statuses, e.g. `200,201`. */
function statusList(value: string): number[] {
  const statuses = value.split(',').map((part) => part.trim());
  if (statuses.some((status) => !/^[1-5]\d\d$/.test(status))) {
    throw new InvalidArgumentError(`expected HTTP statuses such as 200,201, got ${JSON.stringify(value)}.`);
  }
  return statuses.map(Number);
}
