import { Command, CommanderError } from 'commander';
import { commandsFor } from './commands/index.js';
import { ResNetError, closestNames, setNonFinitePolicy } from '@resnet-ts/core';
import { errorLine } from './util.js';
import { refuseRepeatedOptions } from './repeated-options.js';

/**
 * Builds the `resnet` command with the sub-command `name` registered (every one when `name` is
 * undefined or not a command, so that help and "unknown command" see them all). Commander's own usage errors
 * (unknown option, missing value) are thrown, not printed, so that {@link main} prints them as one
 * `resnet:` line like every other error (sub-commands inherit these settings). An option given twice
 * with two values is refused (see repeated-options.ts).
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
  refuseRepeatedOptions(program);
  return program;
}

/** The sub-command an argv names: its first word after the program that is not an option (the global options take no value). */
function subcommandOf(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

/** Words users reach for that name no command of ours, and the command they mean. */
const COMMAND_ALIASES: Record<string, string> = {
  evaluate: 'eval',
  test: 'eval',
  export: 'export-onnx',
  onnx: 'export-onnx',
  import: 'convert',
  infer: 'predict',
  classify: 'predict',
  fit: 'train',
};

/**
 * The line for an unknown (sub-)command: the command it was looked up in, the one meant when the
 * word is a known alias (evaluate: eval) or a typo of a command's name (predcit: predict), and that
 * command's help, never the help of the word that does not exist.
 */
function unknownCommandLine(program: Command, argv: string[], message: string): string {
  const word = /unknown command '(.*)'/.exec(message)?.[1] ?? '';
  let parent = program;
  for (const a of argv.slice(2)) {
    if (a === word) break;
    parent = parent.commands.find((c) => c.name() === a) ?? parent;
  }
  const names = parent.commands.map((c) => c.name());
  const alias = parent === program ? COMMAND_ALIASES[word.toLowerCase()] : undefined;
  const meant = alias ? [alias] : closestNames(word, names);
  const where = [...parentNames(parent), '--help'].join(' ');
  return `unknown command '${word}'${meant.length ? `. Did you mean ${meant.map((n) => `'${n}'`).join(' or ')}?` : ''} (see '${where}')`;
}

/** `resnet`, `resnet lab`, ...: the names from the program down to `cmd`. */
function parentNames(cmd: Command): string[] {
  return cmd.parent ? [...parentNames(cmd.parent), cmd.name()] : [cmd.name()];
}

/**
 * For `resnet summary --model resnet50`: the model is `summary`'s argument, not an option as in the
 * other commands; the hint shows the command as it should be typed. Empty for any other option.
 */
function argumentHint(program: Command, argv: string[], message: string): string {
  const [, flag, inline] = /unknown option '(--[\w-]+)(?:=(.*))?'/.exec(message) ?? [];
  const command = program.commands.find((c) => c.name() === subcommandOf(argv));
  const takesModel = command?.registeredArguments.some((a) => a.name() === 'model');
  if (!command || !takesModel || (flag !== '--model' && flag !== '--weights')) return '';
  const value = inline ?? argv[argv.indexOf(flag) + 1];
  return `: ${command.name()} takes the model as its argument (resnet ${command.name()} ${value && !value.startsWith('-') ? value : '<model>'})`;
}

/** The one line of a usage error commander found (unknown command or option, missing value...). */
function usageLine(e: CommanderError, program: Command, argv: string[]): string {
  if (e.code === 'commander.unknownCommand') return unknownCommandLine(program, argv, e.message);
  const sub = subcommandOf(argv);
  const message = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  const hint = e.code === 'commander.unknownOption' ? argumentHint(program, argv, message) : '';
  return `${message}${hint} (see 'resnet ${sub ? `${sub} ` : ''}--help')`;
}

/** Runs the CLI; a known error prints its message as one line (no stack) and exits non-zero. */
export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram(subcommandOf(argv));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0 and their output already written.
      if (e.exitCode !== 0) process.stderr.write(`resnet: ${usageLine(e, program, argv)}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof ResNetError || (e as { isUserError?: boolean }).isUserError) {
      process.stderr.write(`resnet: ${errorLine(e as Error)}\n`);
      // An error may carry its own status (an experiment stopped by Ctrl-C: 130).
      const status = (e as { exitCode?: unknown }).exitCode;
      process.exitCode = typeof status === 'number' && Number.isInteger(status) && status > 0 ? status : 1;
      return;
    }
    throw e;
  }
}
