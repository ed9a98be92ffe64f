/** The options, progress, per-epoch metrics, results and saved state of a training run (see `train`). */
import type { Module, ResNet } from '@resnet-ts/core';
import type { Augmentation, Preprocessing } from './batches.js';
import type { Dataset } from './data/dataset.js';
import type { FreezeSpec } from './finetune.js';
import type { ResumeFlags, StoredOptimizer } from './resume-check.js';
import type { ScheduleSpec } from './schedule.js';

/** Options of `train`. */
export interface TrainOptions {
  /** A ResNet (its spec goes into checkpoints) or any Module producing logits. */
  model: ResNet | Module;
  trainSet: Dataset;
  /**
   * Validation set: evaluated after every epoch, and the epoch with the best top-1 on it is kept as
   * best.safetensors. Without one, the epochs are evaluated on `testSet` and no best is chosen (a
   * model is never selected on its test set).
   */
  valSet?: Dataset;
  /** Test set: evaluated after every epoch when there is no `valSet`, else once at the end (last weights). */
  testSet?: Dataset;
  /** Length of training: epochs (default 1) or iterations (steps; wins over epochs). */
  epochs?: number;
  iterations?: number;
  batchSize?: number;
  /** Constant learning rate when no schedule is given (default 0.1). */
  lr?: number;
  schedule?: ScheduleSpec;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Weight decay on 'all' parameters (default, as the paper) or 'no-bn-bias'. */
  decay?: 'all' | 'no-bn-bias';
  /**
   * Frozen part (see `applyFreeze`): `none` (default), `stem`, `up-to:layerK` or `backbone`. Frozen
   * parameters get no gradient and no update; their batch norms keep their running statistics.
   */
  freeze?: FreezeSpec;
  /** Learning rate of the classifier head (`fc.*`) at the schedule's base; it follows the schedule. Default: the same as the rest. */
  headLr?: number;
  seed?: number;
  /** Normalisation; default mean/std of the train set. `padTo` pads e.g. 28x28 to 32x32. */
  preprocessing?: Partial<Preprocessing>;
  /**
   * Default by image size (`defaultAugmentation`): random-resized-crop + flip from 64x64 up, the
   * paper's pad-4-and-crop + flip below; false for none. Use flip: false for digits.
   */
  augment?: Augmentation | false;
  /** Folder for checkpoint.safetensors, model.safetensors, best.safetensors, log.jsonl and curves.svg. */
  outDir?: string;
  /** Save a checkpoint every N steps (plus at every epoch end and at the end). 0: not by steps. */
  checkpointEvery?: number;
  /**
   * Continue from outDir/checkpoint.safetensors (an error when there is none). Without `resume` or
   * `force`, an outDir that already holds a run is refused (see run-folder.ts).
   */
  resume?: boolean;
  /** Replace a run already in outDir (its files are deleted first). */
  force?: boolean;
  /**
   * The caller's options for the settings a resume compares, named when it refuses a checkpoint made
   * with other ones (e.g. the lab's `{ length: '--epochs', restart: '--no-resume', out: '--out' }`).
   * Default `resnet train`'s (`TRAIN_COMMAND_FLAGS`); given, it is the whole set: a setting it
   * leaves out is named in words, not by `resnet train`'s option.
   */
  flags?: ResumeFlags;
  /**
   * More string metadata for every file the run writes (checkpoint, model, best), e.g. the options a
   * command started the run with, for it to read back on resume; the trainer's own keys win.
   */
  metadata?: Record<string, string>;
  evalBatchSize?: number;
  /** Called after every step. */
  onProgress?: (p: StepProgress) => void;
  /** Called after every epoch with its metrics. */
  onEpoch?: (m: EpochMetrics) => void;
  /**
   * Called once before the first step, when nothing can refuse the run any more: its options checked,
   * its folder opened and a resumed checkpoint loaded and found to match. A caller announces the run
   * here, so that a refused run prints only its error.
   */
  onStart?: () => void;
  /** Abort: the trainer saves a checkpoint after the current step and returns `stopped: 'aborted'`. */
  signal?: AbortSignal;
  /** Show a progress bar on stderr (default: when stderr is a TTY and not under jest). */
  progressBar?: boolean;
  /** Messages (default: none). */
  log?: (message: string) => void;
}

/** After each step. */
export interface StepProgress {
  step: number;
  totalSteps: number;
  /** 1-based, as in log.jsonl and the console. */
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
}

/** One line of log.jsonl. */
export interface EpochMetrics {
  /** 1-based: the first epoch is 1, in log.jsonl and on the console alike. */
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainAcc: number;
  /** Which set `testLoss`, `top1` and `top5` were measured on: the validation set when there is one. */
  evalSet?: 'val' | 'test';
  testLoss?: number;
  top1?: number;
  /** Only when there are more than 5 classes (otherwise it is always 100 %). */
  top5?: number;
  /** True for the epoch whose weights are in best.safetensors at the time it was logged. */
  best?: boolean;
  imagesPerSec: number;
  seconds: number;
  /** True when training ended mid-epoch (iterations not a multiple of the epoch). */
  partial?: boolean;
}

/** The test set's numbers at the end of a run with a validation set (last weights). */
export interface FinalTest {
  n: number;
  loss: number;
  top1: number;
  top5?: number;
}

/** What `train` returns. */
export interface TrainResult {
  stopped: 'done' | 'aborted' | 'nan';
  step: number;
  totalSteps: number;
  history: EpochMetrics[];
  checkpoint?: string;
  /** The best epoch on the validation set and its file (when there is a validation set and an outDir). */
  best?: { epoch: number; top1: number; file: string };
  /** The test set with the last weights, when a validation set was used for the epochs. */
  test?: FinalTest;
  preprocessing: Preprocessing;
  /** Why the run stopped when `stopped` is `'nan'` (one line naming the step and the last good checkpoint): the caller reports it. */
  message?: string;
}

/** Training state stored in checkpoint metadata under `training`. */
export interface TrainingState {
  step: number;
  /** 0-based index of the epoch in progress (log.jsonl numbers epochs from 1). */
  epoch: number;
  totalSteps: number;
  stepsPerEpoch: number;
  batchSize: number;
  seed: number;
  schedule: ScheduleSpec;
  /** The optimizer settings; `headLr` as given (a run that trains only the head, at lr 0, holds the rest with lrScale 0). */
  optimizer: { type: 'SGD' } & StoredOptimizer;
  freeze?: FreezeSpec;
  augment: Augmentation | false;
  /** Shuffling is derived from (seed, epoch); the augmentation generator's state is saved. */
  rng: { shuffle: { seed: number; epoch: number }; augment: number[] };
  /** Running sums of the current epoch (so a resumed epoch logs the same numbers). */
  accum: { lossSum: number; correct: number; seen: number; seconds: number };
  trainSize: number;
  /** The training images' [height, width] (older checkpoints: absent). */
  imageSize?: [number, number];
  /** Where the training images came from (`Dataset.source`, files and folders as absolute paths), when known. */
  data?: string;
  /** What the training set holds (`datasetFingerprint`; older checkpoints: absent). */
  dataFingerprint?: string;
  /** The image decoder that made the training set's pixels (`Dataset.decoder`; image folders only). */
  decoder?: string;
}

/** File name, inside the output folder, of the resumable training checkpoint (weights plus training state). */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** File name, inside the output folder, of the final model weights, written when training finishes. */
export const MODEL_FILE = 'model.safetensors';
/** File name, inside the output folder, of the weights of the best epoch on the validation set. */
export const BEST_FILE = 'best.safetensors';
