import { Command, CommanderError } from 'commander';
import { commandsFor } from './commands/index.js';
import { ResNetError, setNonFinitePolicy } from '@resnet-ts/core';

/**
 * Builds the `resnet` command with the sub-command `name` registered (every one when `name` is
 * undefined or not a command, so that help and "unknown command" see them all). Commander's own usage errors
 * (unknown option, missing value) are thrown, not printed, so that {@link main} prints them as one
 * `resnet:` line like every other error (sub-commands inherit these settings).
 */
export function buildProgram(name?: string): Command {
  const program = new Command();
  program
    .name('resnet')
    .description('Build, train, dissect and run residual networks (resnet-ts).')
    .version(require('../package.json').version as string)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    // Every command that loads weights goes through core's loader, which reads this policy.
    .option('--strict-finite', 'refuse weights that hold NaN or Inf (by default a one-line warning)')
    .hook('preAction', () => {
      if (program.opts().strictFinite) setNonFinitePolicy('error');
    });
  for (const register of commandsFor(name)) register(program);
  return program;
}

/** The sub-command an argv names: its first word after the program that is not an option (the global options take no value). */
function subcommandOf(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

/** Runs the CLI; a known error prints its message as one line (no stack) and exits non-zero. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram(subcommandOf(argv)).parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0 and their output already written.
      if (e.exitCode !== 0) {
        const sub = subcommandOf(argv);
        const message = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
        process.stderr.write(`resnet: ${message} (see 'resnet ${sub ? `${sub} ` : ''}--help')\n`);
      }
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof ResNetError || (e as { isUserError?: boolean }).isUserError) {
      process.stderr.write(`resnet: ${(e as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}
