import type { Command } from 'commander';
import { registerModels } from './models.js';
import { registerSummary } from './summary.js';

/**
 * Every sub-command, one file each. To add one: write `commands/<name>.ts` exporting
 * `register<Name>(program)`, and add it to this list.
 */
export const commands: ((program: Command) => void)[] = [
  registerModels,
  registerSummary,
];
