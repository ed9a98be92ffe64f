import type { Command, Option } from 'commander';
import { UserError } from './util.js';

/**
 * Makes `command` and its sub-commands refuse an option given twice with two values (`--lr 0.1 ...
 * --lr 0.01`): commander keeps the last, so the first would be dropped without a word, and which one
 * was meant is a guess. The same value twice, flags without a value and lists in one value (`--seeds
 * 0,1,2`) pass; an optional value given once and left out once (`--resume a --resume`) is two values.
 * Counts what this command line gives (commander's `option:<name>` events), so build a program per
 * parse, as `main` does.
 */
export function refuseRepeatedOptions(command: Command): void {
  for (const option of command.options as Option[]) {
    if (!(option.required || option.optional) || option.variadic) continue;
    // An optional value left out counts as one too: `--resume runs/a --resume` would resume another run.
    let first: string | undefined;
    command.on(`option:${option.name()}`, (value: unknown) => {
      const given = typeof value === 'string' ? value : '(no value)';
      if (first !== undefined && first !== given)
        throw new UserError(`${option.long ?? option.flags} was given twice (${first} and ${given}); give it once.`);
      first = given;
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub);
}
