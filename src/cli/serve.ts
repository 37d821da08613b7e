import { Command, InvalidArgumentError, Option } from 'commander';
import { STRATEGY_NAMES, type StrategyName } from '../../adapters/strategies/index.js';
import { DEFAULT_MAX_QUEUE } from '../../reference-server/admission.js';
import { DEFAULT_BATCH_OPTIONS } from '../../adapters/strategies/batch.js';
import { nextShutdownSignal } from '../../reference-server/lifecycle.js';
import { startServer, type RunningServer, type ServeOptions } from '../../reference-server/launcher.js';
import { MAX_STOCK } from '../../reference-server/validation.js';
import { DEFAULT_RESERVATION_TTL_MS } from '../../reference-server/reservation-routes.js';
import { parseRateLimit } from '../../reference-server/rate-limit.js';
import type { CommandResult } from './result.js';
import { databaseOption, duration, wholeNumber } from './options.js';

interface ServeFlags {
  db: string;
  host: string;
  port: number;
  stock: number;
  sku: string;
  itemName: string;
  workers: number;
  strategy: StrategyName;
  pool: number;
  lockTimeout: number;
  adminToken?: string;
  sqliteSynchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
  maxQueue: number;
  batchSize: number;
  batchWait: number;
  reservationTtl: number;
  rateLimit?: number;
}

const UNSAFE_WARNING = `
  !!!  --strategy unsafe  !!!
  This server reads the stock, yields, and writes it back WITHOUT A LOCK.
  Under concurrency it WILL lose updates and oversell. It exists only so that
  flashsale's checks can be seen to catch those anomalies. Never sell with it.
`;

export function serveCommand(finish: (result: CommandResult) => void): Command {
  return new Command('serve')
    .description('run the reference server on SQLite, PostgreSQL or MySQL: purchases (POST /buy) and reservations (POST /reserve, /confirm, /cancel)')
    .addOption(databaseOption())
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free one', wholeNumber(0, 65535), 3000)
    .option('--stock <n>', 'units to create the item with when it does not exist yet', wholeNumber(0, MAX_STOCK), 100)
    .option('--sku <sku>', 'the item sold when a request names none', 'A')
    .option('--item-name <name>', 'display name given to a newly created item', 'Flash sale item')
    .option('--workers <n>', 'server processes sharing the port (node:cluster)', wholeNumber(1, 64), 1)
    .addOption(new Option('--strategy <name>', 'how a purchase is made safe').choices(STRATEGY_NAMES).default('lock'))
    .option('--pool <n>', 'database connections per worker (PostgreSQL, MySQL)', wholeNumber(1, 1000), 10)
    .addOption(new Option('--lock-timeout <duration>', 'longest wait for the row lock before answering 503').argParser(duration(1)).default(5000, '5s'))
    .option(
      '--max-queue <n>',
      'purchases per process that may wait for a database connection (each at most --lock-timeout); beyond, 503 overloaded at once',
      wholeNumber(0, 1_000_000),
      DEFAULT_MAX_QUEUE,
    )
    // --help says where the token comes from, never what it is.
    .addOption(
      new Option('--admin-token <token>', 'lets POST /reset through from non-loopback clients (env FLASHSALE_ADMIN_TOKEN)')
        .default(process.env.FLASHSALE_ADMIN_TOKEN, process.env.FLASHSALE_ADMIN_TOKEN ? '$FLASHSALE_ADMIN_TOKEN (set)' : undefined),
    )
    .option('--batch-size <n>', 'batch strategy: most purchases sold in one transaction', wholeNumber(1, 10000), DEFAULT_BATCH_OPTIONS.maxSize)
    .addOption(
      new Option('--batch-wait <duration>', 'batch strategy: longest a lone buyer waits for others; 0 = only those already waiting')
        .argParser(duration(0))
        .default(DEFAULT_BATCH_OPTIONS.maxWaitMs, '0ms'),
    )
    .addOption(
      new Option('--reservation-ttl <duration>', 'how long a POST /reserve hold lasts before its units go back on sale')
        .argParser(duration(1))
        .default(DEFAULT_RESERVATION_TTL_MS, '300s'),
    )
    .addOption(new Option('--rate-limit <n/min>', 'POST /reserve requests per buyer per minute, counted in the database; beyond, 429').argParser(rateLimit))
    .addOption(
      new Option('--sqlite-synchronous <level>', 'SQLite durability: NORMAL may lose the last commits on power loss, FULL does not')
        .choices(['OFF', 'NORMAL', 'FULL', 'EXTRA'])
        .default('NORMAL'),
    )
    .action(async (flags: ServeFlags) => {
      const options: ServeOptions = {
        url: flags.db,
        host: flags.host,
        port: flags.port,
        stock: flags.stock,
        sku: flags.sku,
        itemName: flags.itemName,
        workers: flags.workers,
        strategy: flags.strategy,
        poolSize: flags.pool,
        lockTimeoutMs: flags.lockTimeout,
        adminToken: flags.adminToken,
        sqliteSynchronous: flags.sqliteSynchronous,
        maxQueue: flags.maxQueue,
        batchSize: flags.batchSize,
        batchWaitMs: flags.batchWait,
        reservationTtlMs: flags.reservationTtl,
        rateLimitPerMinute: flags.rateLimit,
      };
      if (options.strategy === 'unsafe') process.stderr.write(UNSAFE_WARNING + '\n');
      // Listening for signals before the banner: whoever reads the banner may
      // signal at once, and with no listener yet the signal would kill the
      // process outright instead of stopping it gracefully.
      const signalled = nextShutdownSignal();
      const running = await startServer(options);
      process.stdout.write(banner(running, options));
      const ended = await Promise.race([
        signalled.then((signal) => ({ signal, failure: undefined })),
        running.stopped.then((failure) => ({ signal: undefined, failure })),
      ]);
      if (ended.signal) process.stderr.write(`flashsale serve: ${ended.signal}: finishing in-flight purchases, then closing\n`);
      await running.stop();
      // Only a signal someone sent is a normal end; stopping on its own is a
      // failure, and a non-zero exit is what lets a supervisor notice.
      const failure = ended.signal ? undefined : (ended.failure ?? 'the server stopped on its own');
      process.stderr.write(failure ? `flashsale serve: stopped: ${failure}\n` : 'flashsale serve: stopped\n');
      finish({ exitCode: failure ? 1 : 0 });
    });
}

function rateLimit(value: string): number {
  const perMinute = parseRateLimit(value);
  if (perMinute === undefined) throw new InvalidArgumentError(`expected N/min with N a whole number from 1, such as 10/min, got ${JSON.stringify(value)}.`);
  return perMinute;
}

function banner(running: RunningServer, options: ServeOptions): string {
  const item = running.inventory;
  const origin = running.seeded ? 'created now' : 'existing item; `flashsale reset` restores it';
  return [
    `flashsale serve: listening on ${running.url}`,
    `  database  ${running.databaseLabel} (${running.databaseVersion})`,
    `  strategy  ${options.strategy}`,
    `  item      ${item.sku}: ${item.current_stock} of ${item.initial_stock} in stock (${origin})`,
    `  workers   ${options.workers}`,
    `  reserve   ttl ${options.reservationTtlMs! / 1000} s, rate limit ${options.rateLimitPerMinute ? `${options.rateLimitPerMinute}/min per buyer` : 'off'}`,
    `  try       curl -X POST ${running.url}/buy`,
    '',
  ].join('\n');
}
