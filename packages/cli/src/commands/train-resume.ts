/**
 * `resnet train --resume`: the options the command line leaves out take the run's own values, stored
 * with its checkpoint (metadata `train_options`), so `resnet train --out runs/x --resume` continues
 * the run as it was started, whatever this command's defaults. An option given on the command line
 * is used as given: one that changes a stored setting is refused by the trainer's resume check,
 * naming both values (`--lr 0.5 differs from the run's 0.05`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { openSafetensors } from '@resnet-ts/core/node';
import { CHECKPOINT_FILE } from '@resnet-ts/train';
import { UserError } from '../util.js';
import type { TrainCliOptions } from './train.js';

/** The metadata key of the options a run was started with (JSON of {@link RunOptions}). */
export const TRAIN_OPTIONS_KEY = 'train_options';

/**
 * The options that make a run what it is, with the type of their values: stored with the run, and
 * taken back on `--resume` when left out. Not stored: where it runs (--out, --backend, --timeout) and
 * how it reports (--json), nor --resume and --force.
 */
const RUN_OPTIONS = {
  model: 'string',
  init: 'string',
  classes: 'number',
  data: 'string',
  imageSize: 'number',
  channels: 'number',
  val: 'number',
  freeze: 'string',
  headLr: 'number',
  epochs: 'number',
  iterations: 'number',
  batch: 'number',
  lr: 'number',
  schedule: 'string',
  warmup: 'number',
  momentum: 'number',
  wd: 'number',
  nesterov: 'boolean',
  limit: 'number',
  testLimit: 'number',
  seed: 'number',
  checkpointEvery: 'number',
  augment: 'boolean',
  pad: 'boolean',
  mean: 'numbers',
  std: 'numbers',
} as const satisfies Partial<Record<keyof TrainCliOptions, string>>;

type RunOptionName = keyof typeof RUN_OPTIONS;
/** The run-defining options of a run, as stored. */
export type RunOptions = Partial<Pick<TrainCliOptions, RunOptionName>>;

/** Options that say one thing together: one given on the command line, none of the others is taken from the run. */
const TOGETHER: readonly RunOptionName[][] = [
  ['epochs', 'iterations'],
  ['model', 'init'],
  ['mean', 'std'],
];
/** Options that may name a file or folder (stored absolute, as a resume may run from another folder). */
const PATHS: readonly RunOptionName[] = ['data', 'init', 'model'];

/** The metadata that stores `opts`' run-defining options with the run (the trainer's `metadata` option). */
export function runOptionsMetadata(opts: TrainCliOptions): Record<string, string> {
  const stored: Record<string, unknown> = {};
  for (const key of Object.keys(RUN_OPTIONS) as RunOptionName[]) {
    const v = opts[key];
    // With --init the architecture is the source's: --model's default is not the run's model.
    if (v === undefined || (key === 'model' && opts.init)) continue;
    stored[key] = PATHS.includes(key) && typeof v === 'string' && fs.existsSync(v) ? path.resolve(v) : v;
  }
  return { [TRAIN_OPTIONS_KEY]: JSON.stringify(stored) };
}

/** Whether `v` has the type {@link RUN_OPTIONS} gives it. */
function hasType(v: unknown, type: string): boolean {
  if (type === 'numbers') return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  return type === 'number' ? typeof v === 'number' && Number.isFinite(v) : typeof v === type;
}

/** The options stored with the run whose checkpoint is `file`, or undefined for a run that stores none (an older version's). */
function readRunOptions(file: string): RunOptions | undefined {
  const f = openSafetensors(file);
  let text: string | undefined;
  try {
    text = f.metadata[TRAIN_OPTIONS_KEY];
  } finally {
    f.close();
  }
  if (text === undefined) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    stored = undefined;
  }
  if (!stored || typeof stored !== 'object' || Array.isArray(stored))
    throw new UserError(`${file}: metadata "${TRAIN_OPTIONS_KEY}" must be a JSON object of the options the run was started with.`);
  for (const [key, v] of Object.entries(stored)) {
    const type = RUN_OPTIONS[key as RunOptionName];
    if (!type) throw new UserError(`${file}: metadata "${TRAIN_OPTIONS_KEY}" names '${key}', which is no option of resnet train.`);
    if (!hasType(v, type))
      throw new UserError(
        `${file}: metadata "${TRAIN_OPTIONS_KEY}.${key}" must be ${type === 'numbers' ? 'a list of numbers' : `a ${type}`}; got ${JSON.stringify(v)}.`,
      );
  }
  return stored as RunOptions;
}

/**
 * `opts` with every run-defining option that the command line left out (its source in `cmd` is not
 * 'cli') taken from the run in `opts.out`; `opts` itself for a run that stores no options (made by an
 * older version: then, as before, left-out options are this command's defaults).
 */
export function withRunOptions(opts: TrainCliOptions, cmd: Command): TrainCliOptions {
  const file = path.join(opts.out, CHECKPOINT_FILE);
  const stored = readRunOptions(file);
  if (!stored) return opts;
  const given = (key: RunOptionName) => cmd.getOptionValueSource(key) === 'cli';
  const merged: Record<string, unknown> = { ...opts };
  for (const key of Object.keys(RUN_OPTIONS) as RunOptionName[]) {
    if ((TOGETHER.find((g) => g.includes(key)) ?? [key]).some(given)) continue;
    const v = stored[key];
    if (PATHS.includes(key) && typeof v === 'string' && path.isAbsolute(v) && !fs.existsSync(v))
      throw new UserError(`The run's --${key} '${v}' (stored in ${file}) no longer exists: give --${key} with where it is now.`);
    merged[key] = v;
  }
  return merged as unknown as TrainCliOptions;
}
