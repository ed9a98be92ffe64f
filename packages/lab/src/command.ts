/**
 * How an experiment appears on the command line, declared next to its registration: its options
 * (flag, help, what values are allowed, default), the engine it runs on, and how parsed values become
 * the experiment's options. `resnet lab` is generated from these declarations: a new experiment is one
 * file that calls `registerExperiment({..., command})` plus one `export *` line in index.ts.
 *
 * The lab only declares what an option accepts ({@link OptionKind}); the CLI checks the values with
 * its one set of option parsers (packages/cli/src/options.ts), so errors read the same in every command.
 */
import { ResNetError } from '@resnet-ts/core';
import type { ResNet } from '@resnet-ts/core';
import { loadData, takeFirst } from '@resnet-ts/train';
import type { CommonOptions, ExperimentOutput } from './experiment.js';
import type { TrainingExperimentOptions } from './training.js';

/** What values an option accepts; the CLI turns each into its shared parser of the same name. */
export type OptionKind =
  /** An integer in [min, max]; `rule: 'cifar-depth'` also requires 6n+2. */
  | { type: 'integer'; min: number; max: number; rule?: 'cifar-depth' }
  /** A comma-separated list of such integers. */
  | { type: 'integerList'; min: number; max: number; rule?: 'cifar-depth' }
  /** A finite decimal; `above`/`below` exclusive, `min`/`max` inclusive. */
  | { type: 'number'; min?: number; max?: number; above?: number; below?: number }
  /** One word of `values`. */
  | { type: 'choice'; values: readonly string[] }
  /** A comma-separated list of words of `values`. */
  | { type: 'choiceList'; values: readonly string[] }
  /** Free text that is not empty (`what` names it in errors, e.g. 'a file'). */
  | { type: 'text'; what?: string }
  /** A data set: a name the trainer knows (fashion-mnist, ...) or an existing folder (see `identifyDataSource`). */
  | { type: 'data' };

/** One command-line option of an experiment. */
export interface ExperimentOption {
  /** Commander flags, e.g. `--depths <list>`; a flag without a value (`--no-augment`) has no `kind`. */
  flags: string;
  /** The help line. */
  description: string;
  /** What the value may be (absent for a flag without a value). */
  kind?: OptionKind;
  /** The value when the option is not given (shown in the help). */
  default?: unknown;
}

/** The options every experiment's command has (added by the CLI before the declared ones). */
export interface CommonCommandValues {
  out: string;
  backend?: string;
  seed: number;
  note?: string;
}

/** What the CLI lends an experiment's command: reporting settings and its model loaders. */
export interface CommandHost {
  /** Output folder, seed, command line, note and progress log, as every experiment reports them. */
  reporting: CommonOptions;
  /** A model from a zoo name or a JSON spec file, with overrides (e.g. input channels, classes). */
  loadModel(nameOrFile: string, overrides: { inChannels?: number; numClasses?: number }): ResNet;
  /** The weights file the zoo ships for `name` (e.g. `resnet20-fashion-mnist`), if it ships one. */
  shippedWeights(name: string): string | undefined;
}

/** How an experiment runs from the command line (`resnet lab <name>`). */
export interface ExperimentCommand<V = Record<string, unknown>> {
  /** The sub-command's one-line help. */
  summary: string;
  /** The engine used without `--backend` ('auto' or a name), and whether it must train (gradients). */
  engine: { default: string; training: boolean };
  /** The experiment's own options, in help order (after --out, --backend, --seed, --note). */
  options: ExperimentOption[];
  /** Runs the experiment from the parsed values (the engine is already selected). */
  run(values: V & CommonCommandValues, host: CommandHost): Promise<ExperimentOutput<unknown>>;
}

/** A mistake in what the experiment was given (printed by the CLI as one line, without a stack). */
export class ExperimentInputError extends ResNetError {
  constructor(message: string) {
    super(message, 'EXPERIMENT_INPUT');
  }
}

/** Positive counts (images, samples, steps). */
export const COUNT: OptionKind = { type: 'integer', min: 1, max: 1e9 };
/** Batch sizes. */
export const BATCH: OptionKind = { type: 'integer', min: 1, max: 65536 };
/** Learning rates. */
export const LEARNING_RATE: OptionKind = { type: 'number', above: 0, max: 1e9 };
/** Weight decay, from 0 (none) to below 1. */
export const WEIGHT_DECAY: OptionKind = { type: 'number', min: 0, below: 1 };
/** The data option every experiment that reads a data set has. */
export const DATA_OPTION: ExperimentOption = {
  flags: '--data <name|dir>',
  description: 'fashion-mnist | mnist | cifar10 | a folder',
  kind: { type: 'data' },
  default: 'fashion-mnist',
};

/** The recipe options of the experiments that train nets (degradation, shortcuts). */
export const TRAINING_OPTIONS: ExperimentOption[] = [
  DATA_OPTION,
  { flags: '--epochs <n>', description: 'epochs per net', kind: { type: 'integer', min: 1, max: 1e5 }, default: 30 },
  { flags: '--batch <n>', description: 'batch size', kind: BATCH, default: 128 },
  { flags: '--lr <x>', description: 'base learning rate (divided by 10 at 50 % and 75 %)', kind: LEARNING_RATE, default: 0.1 },
  { flags: '--wd <x>', description: 'weight decay, from 0 (none) to below 1', kind: WEIGHT_DECAY, default: 1e-4 },
  { flags: '--limit <n>', description: 'use only the first n training images', kind: COUNT },
  { flags: '--test-limit <n>', description: 'use only the first n test images', kind: COUNT },
  { flags: '--no-augment', description: 'no random crops or flips' },
  { flags: '--no-resume', description: 'start every net from scratch instead of resuming its checkpoint' },
];

/** The values of {@link TRAINING_OPTIONS}. */
export interface TrainingCommandValues extends CommonCommandValues {
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  wd: number;
  limit?: number;
  testLimit?: number;
  augment: boolean;
  resume: boolean;
}

/** Loads the data named by {@link TRAINING_OPTIONS} and turns the values into the shared training recipe. */
export async function trainingRecipe(v: TrainingCommandValues, host: CommandHost): Promise<TrainingExperimentOptions> {
  const pair = await loadData(v.data, { seed: v.seed });
  if (!pair.test) throw new ExperimentInputError(`${v.data} has no test split.`);
  for (const [flag, limit, set] of [['--limit', v.limit, pair.train], ['--test-limit', v.testLimit, pair.test]] as const)
    if (limit !== undefined && limit > set.labels.length)
      throw new ExperimentInputError(
        `${flag} ${limit} is more than the ${set.labels.length} images of ${pair.kind}'s ${set === pair.train ? 'training' : 'test'} set.`,
      );
  return {
    trainSet: v.limit ? takeFirst(pair.train, v.limit) : pair.train,
    testSet: v.testLimit ? takeFirst(pair.test, v.testLimit) : pair.test,
    dataName: pair.kind + (v.limit ? ` (first ${v.limit} train images)` : ''),
    epochs: v.epochs,
    batchSize: v.batch,
    lr: v.lr,
    weightDecay: v.wd,
    augment: v.augment ? { pad: 4, flip: pair.flip } : false,
    resume: v.resume,
    ...host.reporting,
  };
}
