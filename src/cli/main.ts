import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { maskUrlsIn } from '../../adapters/url.js';
import { EXIT_USAGE, FlashsaleError } from '../errors.js';
import type { CommandResult } from './result.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

type CommandFactory = (finish: (result: CommandResult) => void) => Command;

/**
 * Each command's module, loaded only when that command runs: together they
 * pull in every driver, reporter and spinner, and their import time is paid
 * before `prove` can start a single process. Help and unknown words load all.
 */
const COMMANDS: Record<string, () => Promise<CommandFactory>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  attack: async () => (await import('./attack.js')).attackCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  prove: async () => (await import('./prove.js')).proveCommand,
  reset: async () => (await import('./reset.js')).resetCommand,
};

/** The command the command line names: its first word that is not an option. */
function commandNamed(argv: string[]): string | undefined {
  const word = argv.slice(2).find((arg) => !arg.startsWith('-'));
  return word !== undefined && Object.hasOwn(COMMANDS, word) ? word : undefined;
}

/**
 * The whole command line, as commander wiring only: every action calls one
 * library function. With `only`, just that command is loaded and wired.
 */
export async function buildProgram(finish: (result: CommandResult) => void, only?: string): Promise<Command> {
  const program = new Command('flashsale')
    .description('Prove that a limited-stock purchase endpoint never oversells, never undersells, and tells every buyer the truth.')
    .version(packageJson.version, '-v, --version')
    .exitOverride();
  const names = only !== undefined ? [only] : Object.keys(COMMANDS);
  const factories = await Promise.all(names.map((name) => COMMANDS[name]!()));
  for (const command of factories) program.addCommand(command(finish).exitOverride());
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
  try {
    const program = await buildProgram((finished) => {
      result = finished;
    }, commandNamed(argv));
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
