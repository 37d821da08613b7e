import { Command, InvalidArgumentError } from 'commander';
import type { LedgerMember } from '../../adapters/reader.js';
import { writeFile } from 'node:fs/promises';
import { ConfigError, EXIT_ANOMALY, EXIT_INCONCLUSIVE } from '../errors.js';
import { reportData } from '../report/html/data.js';
import { writeHtmlReport } from '../report/html/report.js';
import { verdictJunit } from '../report/junit.js';
import { renderVerdict, verdictJson } from '../report/verdict-table.js';
import type { JoinChoice } from '../verify/db-audit.js';
import type { StoreOptions } from '../verify/final-state.js';
import { audit, verify, type VerifyOptions } from '../verify/verify.js';
import type { CommandResult } from './result.js';
import { duration, wholeNumber } from './options.js';

interface VerifyFlags extends StoreFlags {
  history: string[];
  initialStock?: number;
  maxErrors: number;
  json?: boolean;
  junit?: string;
  html?: string;
  strict?: boolean;
  historyOnly?: boolean;
  join: JoinChoice;
  reservationTtl?: number;
  clockSkew?: number;
}

const JOINS: readonly JoinChoice[] = ['auto', 'request', 'buyer', 'purchase'];

export function verifyCommand(finish: (result: CommandResult) => void): Command {
  return new Command('verify')
    .description('audit a run: the history of HTTP answers against the final database state')
    .option('--history <file...>', 'history file(s) written by attack; several shards of one run merge', ['flashsale-history.jsonl'])
    .option('--db <url>', 'store to audit, for both stock and ledger: sqlite:PATH, postgres://…, mysql://…, redis://… (without it, only the history checks decide)')
    .option('--sku <sku>', 'item of the reference schema', 'A')
    .option('--initial-stock <n>', 'stock before the run (default: the reference schema\'s initial_stock)', wholeNumber(0))
    .option('--stock-db <url>', 'store the final stock is read from (default: --db)')
    .option('--stock <command>', "Redis: a read command returning the final stock, e.g. 'GET stock:1' or 'HGET item:1 stock'")
    .option('--stock-sql <sql>', 'SQL: returns the final stock (exactly one row of one number), run read-only')
    .option('--final-stock <n>', 'the final stock by value, read from any other system', wholeNumber(Number.MIN_SAFE_INTEGER))
    .option('--ledger-db <url>', 'store the ledger is read from (default: --db)')
    .option('--ledger <command>', "Redis: a read command returning the ledger, e.g. 'SMEMBERS orders:1', 'LRANGE orders 0 -1', 'XRANGE orders - +'")
    .option('--ledger-sql <sql>', 'SQL: returns ledger rows with quantity, and request_id, buyer_id, stock_after, id if you have them; run read-only')
    .option('--ledger-member <kind>', 'what a bare Redis ledger member or hash field is: request_id, buyer_id or id', ledgerMember, 'request_id')
    .option('--max-errors <n>', 'unknown outcomes (timeouts, 5xx, resets) tolerated by E1', wholeNumber(0), 0)
    .option('--json', 'print the whole verdict as JSON on stdout')
    .option('--junit <file>', 'also write the verdict as JUnit XML, one test case per check')
    .option('--html <file>', 'also write a self-contained HTML report: the checks with their witnesses, a timeline of the operations, throughput, latency, stock and faults over time')
    .option('--history-only', 'decide on the history alone: checks that need the database are not run, and that is not inconclusive (exit 0 when the rest pass)')
    .option('--join <key>', `what ledger rows are matched to answers on: ${JOINS.join(', ')} (auto: request id if the ledger has it, else buyer id when unique, else purchase id)`, joinChoice, 'auto')
    .option('--reservation-ttl <duration>', "flow histories: the server's hold time (500ms, 1s, 5m) for reserves whose answer stated no ttl_seconds; without it R2 and R3 cannot tell when such holds ended", duration(1))
    .option('--clock-skew <duration>', 'shards from several machines: the most their wall clocks may disagree (e.g. 10ms); real-time checks then order answers of different machines only beyond it (default: only answers of one machine are ordered)', duration(0))
    .option('--strict', 'an INCONCLUSIVE verdict exits 1 instead of 3 (for pipelines that know only pass and fail)')
    .action(async (flags: VerifyFlags) => {
      const options: VerifyOptions = {
        histories: flags.history,
        ...storeOptions(flags),
        initialStock: flags.initialStock,
        maxErrors: flags.maxErrors,
        historyOnly: flags.historyOnly,
        join: flags.join,
        reservationTtlMs: flags.reservationTtl,
        clockSkewMs: flags.clockSkew,
      };
      // Only a report keeps the operations past the verdict.
      const audited = flags.html ? await audit(options) : undefined;
      const verdict = audited?.verdict ?? (await verify(options));
      if (flags.html && audited) {
        const title = `flashsale verify: ${flags.history.join(', ')}`;
        await writeHtmlReport(flags.html, title, [reportData({ title, ...audited })]);
      }
      if (flags.junit) {
        try {
          await writeFile(flags.junit, verdictJunit(verdict));
        } catch (error) {
          throw new ConfigError(`cannot write the JUnit report ${flags.junit}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
      }
      process.stdout.write(flags.json ? verdictJson(verdict) : renderVerdict(verdict));
      const inconclusive = verdict.status === 'INCONCLUSIVE' ? (flags.strict ? EXIT_ANOMALY : EXIT_INCONCLUSIVE) : 0;
      finish({ exitCode: verdict.status === 'FAIL' ? EXIT_ANOMALY : inconclusive });
    });
}

/** The store flags, as commander names them. */
type StoreFlags = StoreOptions;

function storeOptions(flags: StoreFlags): StoreOptions {
  const { db, sku, stockDb, stock, stockSql, finalStock, ledgerDb, ledger, ledgerSql, ledgerMember } = flags;
  return { db, sku, stockDb, stock, stockSql, finalStock, ledgerDb, ledger, ledgerSql, ledgerMember };
}

function ledgerMember(value: string): LedgerMember {
  if (value === 'request_id' || value === 'buyer_id' || value === 'id') return value;
  throw new InvalidArgumentError(`expected request_id, buyer_id or id, got ${JSON.stringify(value)}.`);
}

function joinChoice(value: string): JoinChoice {
  if (!(JOINS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${JOINS.join(', ')}, got ${JSON.stringify(value)}.`);
  return value as JoinChoice;
}
