import { Command, InvalidArgumentError, Option } from 'commander';
import { parseStrategy, STRATEGY_NAMES, type StrategyName } from '../../adapters/strategies/index.js';
import { FAULT_DESCRIPTIONS, FAULT_NAMES, parseFaultNames, type FaultName } from '../prove/faults/index.js';
import { ConfigError } from '../errors.js';
import { proveFlow } from '../prove/flow-prove.js';
import { prove } from '../prove/prove.js';
import { reportData, type ReportData } from '../report/html/data.js';
import { checkHtmlReportPath, writeHtmlReport } from '../report/html/report.js';
import { proveJson, renderProve } from '../report/prove-table.js';
import type { CommandResult } from './result.js';
import { duration, wholeNumber } from './options.js';

interface ProveFlags {
  db?: string;
  strategy: StrategyName;
  stock: number;
  buyers?: number;
  processes?: number;
  workers: number;
  timeout: number;
  faults?: FaultName[];
  onlyFaults?: boolean;
  flow?: 'reserve';
  json?: boolean;
  html?: string;
}

/** Turns a parser's one-line error into commander's, which names the flag. */
function asArgument<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** The server databases `--db all` adds to SQLite: those whose URL variable is set. */
function serverDatabasesFromEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.FLASHSALE_PG_URL, env.FLASHSALE_MYSQL_URL].filter((url): url is string => !!url);
}

export function proveCommand(finish: (result: CommandResult) => void): Command {
  return new Command('prove')
    .description('start the reference server and prove it: reset, attack and verify four scenarios per database (five with --faults, three with --flow reserve)')
    .option('--db <url>', 'sqlite:PATH, postgres://…, mysql://…, or "all" (SQLite plus FLASHSALE_PG_URL and FLASHSALE_MYSQL_URL when set); default: a temporary SQLite file')
    .addOption(
      new Option('--strategy <name|path>', `the server's purchase strategy: ${STRATEGY_NAMES.join(', ')}, or a path to your own strategy module (./my-strategy.js)`)
        .argParser(asArgument(parseStrategy))
        .default('lock'),
    )
    .option('--stock <n>', 'units for sale in each scenario', wholeNumber(1, 1_000_000), 100)
    .option('--buyers <n>', 'buyers in the oversubscribed scenarios (default: 10 × stock)', wholeNumber(1, 10_000_000))
    .option('--processes <p>', 'attacking processes (default: CPU count)', wholeNumber(1, 256))
    .option('--workers <n>', 'server processes in the multi-process scenario', wholeNumber(2, 64), 4)
    .addOption(new Option('--timeout <duration>', 'longest wait for one answer').argParser(duration(1)).default(5000, '5s'))
    .addOption(new Option('--faults <list>', `add a scenario that injects these faults mid-stampede: ${FAULT_NAMES.join(', ')} (or all)`).argParser(asArgument(parseFaultNames)))
    .option('--only-faults', 'run only the faults scenario')
    .addOption(
      new Option('--flow <name>', 'prove the reservation flow instead of one-step purchases: holds with a 1 s TTL, confirmed, cancelled or abandoned (checks R1–R7)').choices(['reserve']),
    )
    .option('--json', 'print the whole proof, witnesses included, as JSON on stdout')
    .option('--html <file>', 'also write a self-contained HTML report: a section per scenario (failing ones first) with its checks, timeline and charts')
    .addHelpText('after', `\nFaults (--faults), injected in the order named, while stock remains:\n${FAULT_NAMES.map((name) => `  ${name.padEnd(7)}${FAULT_DESCRIPTIONS[name]}`).join('\n')}\n`)
    .action(async (flags: ProveFlags) => {
      if (flags.flow && (flags.faults || flags.onlyFaults || flags.buyers !== undefined)) {
        throw new ConfigError(`--flow ${flags.flow} has its own scenarios: it takes no ${flags.buyers !== undefined ? '--buyers' : '--faults or --only-faults'}`);
      }
      // A report path that cannot be written fails now, not after minutes of scenarios.
      if (flags.html) await checkHtmlReportPath(flags.html);
      const run = flags.flow ? proveFlow : prove;
      // Each scenario is reduced to what its section draws as it ends: the operations are not kept.
      const sections: ReportData[] = [];
      const report = await run(
        {
          databases: flags.db === 'all' ? serverDatabasesFromEnvironment() : flags.db ? [flags.db] : [],
          includeTemporarySqlite: !flags.db || flags.db === 'all',
          strategy: flags.strategy,
          stock: flags.stock,
          buyers: flags.buyers ?? flags.stock * 10,
          processes: flags.processes,
          workers: flags.workers,
          timeoutMs: flags.timeout,
          faults: flags.faults,
          onlyFaults: flags.onlyFaults,
          onAudit: flags.html
            ? (result, audited) => {
                const anomalies = result.anomalies.filter((anomaly) => !result.verdict.checks.some((check) => anomaly === `${check.id} ${check.name}`));
                const title = `${result.database} / ${result.scenario}${anomalies.length ? ` (prove: ${anomalies.join('; ')})` : ''}`;
                sections.push({ ...reportData({ title, ...audited }), status: result.status });
              }
            : undefined,
        },
        {
          onResult: (result) => {
            // Plain lines (not a spinner): a proof takes seconds per database, and CI logs read them as they come.
            if (!flags.json) process.stderr.write(`flashsale prove: ${result.database} / ${result.scenario}: ${result.status}\n`);
          },
        },
      );
      if (flags.html) await writeHtmlReport(flags.html, `flashsale prove --strategy ${flags.strategy}: ${report.status}`, sections);
      process.stdout.write(flags.json ? proveJson(report) : renderProve(report));
      finish({ exitCode: report.status === 'PASS' ? 0 : 1 });
    });
}
