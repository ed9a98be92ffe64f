/**
 * The options `train` refuses before anything runs or any file is touched, and how its `headLr`
 * becomes rates of the optimizer. Each refusal is one {@link TrainError} (or `DataError` for a data
 * set) line: what was given, what is allowed, what to do.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, ResNetError, smallestBatchNormInput, type BatchNormInput } from '@resnet-ts/core';
import { DataError, TrainError } from './errors.js';
import { validateDataset } from './data/dataset.js';
import { checkAugmentation, checkNumber, checkSGDOptions } from './option-checks.js';
import { ScheduleSpec, baseLearningRate, runLength, validateSchedule } from './schedule.js';
import type { TrainOptions } from './train-types.js';
import { applyFreeze } from './finetune.js';

/** The parameters `headLr` applies to: the classifier head. */
export const isHead = (name: string): boolean => name.startsWith('fc.');

/** Refuses options that cannot make a run, before any file is touched. */
export function checkTrainOptions(options: TrainOptions): void {
  const { trainSet, batchSize = 128, iterations, epochs = 1, headLr } = options;
  const bad = (m: string) => new TrainError(m, 'OPTIONS');
  if (trainSet.labels.length === 0) throw bad('The training set is empty.');
  if (trainSet.classes.length < 2)
    throw bad(
      `The training set has ${trainSet.classes.length} class (${trainSet.classes.join(', ')}): a classifier needs at least 2 classes.`,
    );
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad(`batchSize must be a positive integer; got ${batchSize}.`);
  if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1))
    throw bad(`iterations must be a positive integer; got ${iterations}.`);
  if (!(Number.isFinite(epochs) && epochs > 0)) throw bad(`epochs must be a positive number; got ${epochs}.`);
  runLength(trainSet.labels.length, { batchSize, epochs, iterations });
  if (headLr !== undefined && !(Number.isFinite(headLr) && headLr > 0)) throw bad(`headLr must be a positive number; got ${headLr}.`);
  for (const [what, set] of [
    ['validation', options.valSet],
    ['test', options.testSet],
  ] as const) {
    if (set && set.classes.join('\n') !== trainSet.classes.join('\n'))
      throw bad(
        `The ${what} set's classes (${set.classes.join(', ')}) are not the training set's (${trainSet.classes.join(', ')}): labels would mean different classes.`,
      );
  }
  checkRunSettings(options);
  checkOneImageBatches(options);
}

/**
 * Refuses a run with a training batch of exactly one image (batchSize 1, or a last batch of 1 in
 * every epoch: size % batchSize === 1, when the run reaches it) when a batch norm layer that computes
 * batch statistics sees 1x1 maps at this input size: one value per channel, which train-mode batch
 * norm cannot normalise. Judged with the run's freeze (frozen batch norms use running statistics).
 */
function checkOneImageBatches(options: TrainOptions): void {
  const N = options.trainSet.labels.length;
  const batchSize = options.batchSize ?? 128;
  const { stepsPerEpoch, totalSteps } = runLength(N, options);
  const lastBatch = N - (stepsPerEpoch - 1) * batchSize;
  // Steps 0..totalSteps-1: the last batch of an epoch is step stepsPerEpoch - 1 (mod stepsPerEpoch), reached only by a run that long.
  if (batchSize !== 1 && (lastBatch !== 1 || totalSteps < stepsPerEpoch)) return;
  const [h, w, c] = options.trainSet.shape;
  const [H, W] = options.preprocessing?.padTo ?? [h, w];
  let bn: BatchNormInput | null;
  try {
    bn = withRunFreeze(options, () => smallestBatchNormInput(options.model, [H, W, c]));
  } catch (e) {
    if (e instanceof ResNetError) throw e;
    return; // a model that cannot describe its shapes: core's batch norm still refuses such a batch when it runs
  }
  if (!bn || bn.minBatchSize <= 1) return;
  const batches = batchSize === 1 || N === 1 ? 'batches of 1 image' : `a last batch of 1 image in every epoch (${N} = ${N - 1} + 1)`;
  const sees = `batch norm ${bn.layer} sees ${bn.shape[0]}x${bn.shape[1]} maps at ${H}x${W} input: one value per channel, from which training statistics cannot be computed`;
  const fix = N < 2 ? 'give at least 2 training images' : `give batchSize ${otherBatchSizes(N, batchSize).join(' or ')} (no batch of 1)`;
  throw new TrainError(
    `batchSize ${batchSize} on ${N} training image${N > 1 ? 's' : ''} makes ${batches}, and ${sees}: ${fix}.`,
    'OPTIONS',
  );
}

/**
 * `read(model)` with the run's freeze applied to the batch norms, then their previous state put back:
 * a refused call leaves the caller's model as it was (the trainer applies the freeze itself when it runs).
 */
function withRunFreeze<T>(options: TrainOptions, read: () => T): T {
  const batchNorms = options.model.namedModules().filter((e): e is [string, BatchNorm2d] => e[1] instanceof BatchNorm2d);
  const before = batchNorms.map(([, m]) => m.frozenStatistics);
  try {
    applyFreeze(options.model, options.freeze ?? 'none');
    return read();
  } finally {
    batchNorms.forEach(([, m], i) => (m.frozenStatistics = before[i]));
  }
}

/** The batch sizes nearest `batchSize` (one below, one above, when there are) that leave no batch of 1 image on `N` images. */
function otherBatchSizes(N: number, batchSize: number): number[] {
  const ok = (b: number) => b >= 2 && (N % b !== 1 || b >= N);
  const out: number[] = [];
  for (let b = batchSize - 1; b >= 2; b--)
    if (ok(b)) {
      out.push(b);
      break;
    }
  for (let b = batchSize + 1; ; b++)
    if (ok(b)) {
      out.push(b);
      break;
    }
  return out;
}

/** The data sets, the schedule, the optimizer's options, the augmentation and the evaluation batch size. */
function checkRunSettings(options: TrainOptions): void {
  for (const [what, set] of [
    ['training', options.trainSet],
    ['validation', options.valSet],
    ['test', options.testSet],
  ] as const) {
    if (set) validateDataset(set, `The ${what} set${set.source ? ` (${set.source})` : ''}`, (m) => new DataError(m));
  }
  checkNumber('lr', options.lr, { min: 0 }, 'give e.g. 0.1 (a negative rate climbs the loss)');
  const schedule = options.schedule ?? { type: 'constant', lr: options.lr ?? 0.1 };
  validateSchedule(schedule);
  checkSGDOptions({
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay,
    nesterov: options.nesterov,
    decay: options.decay,
  });
  checkAugmentation(options.augment);
  checkNumber('evalBatchSize', options.evalBatchSize, { min: 1, integer: true }, 'give the images per evaluation batch, e.g. 256');
  checkNumber(
    'seed',
    options.seed,
    { min: 0, max: 2 ** 32 - 1, integer: true },
    'give e.g. 0 (shuffling, augmentation and a new head follow it)',
  );
  checkNumber('checkpointEvery', options.checkpointEvery, { min: 0, integer: true }, 'give a number of steps, or 0 for epoch ends only');
  if (options.headLr !== undefined) {
    if (!options.model.namedParameters().some(([n]) => isHead(n)))
      throw new TrainError(
        `headLr is ${options.headLr}, but the model has no head (no fc.* parameters): leave out headLr, or give a ResNet.`,
        'OPTIONS',
      );
    headSchedule(schedule, options.headLr);
  }
}

/**
 * The schedule of the head at `headLr` when the schedule's base rate is 0 (the rest held, the head
 * trained): the same schedule from `headLr`. A warm-up from a rate above 0 would train the rest
 * during it, which one rate and fixed factors cannot express: refused.
 */
function headSchedule(spec: ScheduleSpec, headLr: number): ScheduleSpec {
  switch (spec.type) {
    case 'warmup':
      if (spec.startLr !== 0 && baseLearningRate(spec) === 0)
        throw new TrainError(
          `headLr ${headLr} with a warm-up from startLr ${spec.startLr} to a schedule of lr 0: the head's rate cannot follow it; give startLr 0, or an lr above 0.`,
          'OPTIONS',
        );
      return { ...spec, startLr: 0, then: headSchedule(spec.then, headLr) };
    case 'cosine':
      return { ...spec, lr: headLr, minLr: 0 };
    default:
      return { ...spec, lr: headLr };
  }
}

/** How the optimizer runs `headLr`: factors on its parameters' rate, and the schedule that gives each step's rate. */
export interface HeadRates {
  lrScale?: Record<string, number>;
  /** The schedule of the rate the optimizer is stepped with (the run's, unless the base rate is 0). */
  stepSchedule: ScheduleSpec;
}

/**
 * The head (`fc.*`) at `headLr` at the schedule's base rate, following the schedule: a factor
 * headLr/base on the head's rate; with a base rate of 0 (train only the head) the steps run the
 * schedule from `headLr` instead and every other parameter has factor 0 (no division by 0).
 */
export function headRates(trainable: [string, tf.Variable][], schedule: ScheduleSpec, headLr: number | undefined): HeadRates {
  if (headLr === undefined) return { stepSchedule: schedule };
  const base = baseLearningRate(schedule);
  if (base > 0) {
    const scale = headLr / base;
    return { lrScale: Object.fromEntries(trainable.filter(([n]) => isHead(n)).map(([n]) => [n, scale])), stepSchedule: schedule };
  }
  return {
    lrScale: Object.fromEntries(trainable.filter(([n]) => !isHead(n)).map(([n]) => [n, 0])),
    stepSchedule: headSchedule(schedule, headLr),
  };
}
