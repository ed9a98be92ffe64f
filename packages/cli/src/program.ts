import { Command } from 'commander';
import { commands } from './commands/index.js';
import { ResNetError } from '@resnet-ts/core';

/** Builds the `resnet` command with every sub-command registered. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('resnet')
    .description('Build, train, dissect and run residual networks (resnet-ts).')
    .version(require('../package.json').version as string)
    .showHelpAfterError();
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI; a known error prints its message (no stack) and exits 1. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof ResNetError || (e as { isUserError?: boolean }).isUserError) {
      process.stderr.write(`resnet: ${(e as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}
