import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { maskUrlsIn } from '../../adapters/url.js';
import { EXIT_USAGE, FlashsaleError } from '../errors.js';
import { attackCommand } from './attack.js';
import type { CommandResult } from './result.js';
import { proveCommand } from './prove.js';
import { resetCommand } from './reset.js';
import { serveCommand } from './serve.js';
import { verifyCommand } from './verify.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The whole command line, as commander wiring only: every action calls one library function. */
export function buildProgram(finish: (result: CommandResult) => void): Command {
  const program = new Command('flashsale')
    .description('Prove that a limited-stock purchase endpoint never oversells, never undersells, and tells every buyer the truth.')
    .version(packageJson.version, '-v, --version')
    .exitOverride();
  for (const command of [serveCommand(finish), attackCommand(finish), verifyCommand(finish), proveCommand(finish), resetCommand(finish)]) {
    program.addCommand(command.exitOverride());
  }
  return program;
}

/**
 * Runs one command line and returns the exit code: the single place where
 * typed errors become 2 and results their own code (0 pass, 1 anomaly,
 * 3 inconclusive: see errors.ts). A known error is one line on stderr; only
 * a bug prints a stack trace.
 */
export async function main(argv: string[]): Promise<number> {
  let result: CommandResult = { exitCode: 0 };
  const program = buildProgram((finished) => {
    result = finished;
  });
  try {
    await program.parseAsync(argv);
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof FlashsaleError) {
      // Masked again here: a driver's message may quote the URL it was given.
      process.stderr.write(`flashsale: ${maskUrlsIn(error.message)}\n`);
      return error.exitCode;
    }
    process.stderr.write(`flashsale: internal error: ${maskUrlsIn((error as Error)?.stack ?? String(error))}\n`);
    return EXIT_USAGE;
  }
}
