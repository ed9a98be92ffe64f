/**
 * Shared machinery of the training experiments (degradation, shortcut options): builds CIFAR-style
 * nets of any depth 6n+2, estimates the duration before starting, trains each net with the same
 * recipe and seed through @resnet-ts/train (resumable: every net has its own checkpoint folder), and
 * collects the curves.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ResNet, ResNetSpec } from '@resnet-ts/core';
import { lossAndGradients } from '@resnet-ts/core';
import { openSafetensors } from '@resnet-ts/core/node';
import { resnet } from '@resnet-ts/zoo';
import {
  Augmentation,
  CHECKPOINT_FILE,
  Dataset,
  EpochMetrics,
  ResumeFlags,
  TrainOptions,
  TrainResult,
  cifarPadTo,
  scaledPaperSchedule,
  train,
} from '@resnet-ts/train';
import { CommonOptions } from './experiment.js';
import { ExperimentInputError } from './command.js';
import { writeAtomic } from './report.js';
import { ExperimentInterruptedError } from './interrupt.js';

/** Beside each net's checkpoint: the test set its evaluations were made on (the trainer's checkpoint does not store it). */
export const TEST_SET_FILE = 'lab-test-set.json';

/**
 * Refuses, before any training, to resume a net whose evaluations were made on another number of
 * test images (`--test-limit`): a finished net is not evaluated again, so its old test errors would be
 * reported under the new setting. Records the test set of every net that starts afresh.
 */
export function checkTestSets(dirs: string[], testImages: number, resume: boolean): void {
  for (const dir of dirs) {
    const file = path.join(dir, TEST_SET_FILE);
    if (!resume || !fs.existsSync(path.join(dir, CHECKPOINT_FILE)) || !fs.existsSync(file)) continue;
    const stored = (JSON.parse(fs.readFileSync(file, 'utf8')) as { testImages?: unknown }).testImages;
    if (stored !== testImages)
      throw new ExperimentInputError(
        `Cannot resume from ${dir}: the test set of ${testImages} images (--test-limit) differs from the run's ${String(stored)}. Give the run's --test-limit, --no-resume, or another --out.`,
      );
  }
}

async function recordTestSet(dir: string, testImages: number): Promise<void> {
  await writeAtomic(path.join(dir, TEST_SET_FILE), JSON.stringify({ testImages }) + '\n');
}

/**
 * The options of `resnet lab degradation|shortcuts` (`TRAINING_OPTIONS`) that set what a
 * resume compares, for the trainer's refusals to name (it has no --val, --iterations or --model). The
 * network of a folder is its depth and shortcut (its name) and the data's channels and classes.
 */
const TRAINING_RESUME_FLAGS: ResumeFlags = {
  data: '--data',
  trainSize: '--limit',
  batch: '--batch',
  seed: '--seed',
  lr: '--lr',
  length: '--epochs',
  wd: '--wd',
  augment: '--no-augment',
  architecture: '--data',
  restart: '--no-resume',
  out: '--out',
};

/** The trainer the experiments call (injectable, e.g. for tests or another engine). */
export type TrainFn = (options: TrainOptions) => Promise<TrainResult>;

/** Seconds of one training step of `model` at `batch` images of [h, w, c] (see {@link timeTrainStep}). */
export type StepTimer = (model: ResNet, batch: number, hwc: [number, number, number]) => number;

/** The SGD recipe and CIFAR-net options every experiment that trains shares. */
export interface SgdRecipeOptions extends CommonOptions {
  trainSet: Dataset;
  /** Names the data in reports (e.g. `fashion-mnist`). */
  dataName?: string;
  batchSize?: number;
  lr?: number;
  /** SGD momentum (default 0.9) and weight decay (default 1e-4). */
  momentum?: number;
  weightDecay?: number;
  /** Default {pad: 4, flip: true}; false for none. */
  augment?: Augmentation | false;
  /** Zero-pad images to this size (default 32x32 for images smaller than that). */
  padTo?: [number, number];
  /** Channels of the three stages (default 16, 32, 64 as in the paper); the stem has widths[0]. Smaller for quick checks. */
  widths?: number[];
  /** The trainer (default `@resnet-ts/train`'s `train`). */
  trainFn?: TrainFn;
  /** Times a step for the duration estimate (default {@link timeTrainStep}; injectable, e.g. for tests). */
  timeStep?: StepTimer;
  /** Show the trainer's progress bar (default: the training experiments when stderr is a TTY; gradflow never, its progress goes to `log`). */
  progressBar?: boolean;
}

/** The recipe shared by every net of a training experiment (paper §4.2 defaults, scaled to `epochs`). */
export interface TrainingExperimentOptions extends SgdRecipeOptions {
  testSet: Dataset;
  epochs?: number;
  /** Continue interrupted runs from their checkpoints (default true). */
  resume?: boolean;
  /**
   * Stops the run at a safe point when aborted: the net training stops after its current step and saves
   * a checkpoint, then {@link ExperimentInterruptedError} is thrown (no report); the same call again resumes.
   */
  signal?: AbortSignal;
}

/** A CIFAR-style net of depth 6n+2 (3 stages of n basic blocks, 16/32/64 channels). */
export function cifarNet(
  depth: number,
  o: {
    residual: boolean;
    shortcut?: string;
    inChannels: number;
    numClasses: number;
    seed: number;
    widths?: number[];
    spec?: Partial<ResNetSpec>;
  },
): ResNet {
  const n = (depth - 2) / 6;
  if (!Number.isInteger(n) || n < 1) throw new Error(`depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); got ${depth}.`);
  return resnet({
    block: 'basic',
    layers: [n, n, n],
    stem: 'cifar',
    residual: o.residual,
    shortcut: o.shortcut ?? 'A',
    inChannels: o.inChannels,
    numClasses: o.numClasses,
    seed: o.seed,
    ...(o.widths ? { widths: o.widths, stemWidth: o.widths[0] } : {}),
    ...o.spec,
  });
}

/** Seconds per training step of `model` at `batch` images of [h, w, c], timed on the current backend (a throwaway step: no parameter changes). */
export function timeTrainStep(model: ResNet, batch: number, hwc: [number, number, number], reps = 1): number {
  const x = tf.randomNormal([batch, ...hwc]);
  const y = tf.tidy(() => tf.oneHot(tf.zeros([batch], 'int32') as tf.Tensor1D, model.spec.numClasses));
  const saved = model.namedBuffers().map(([, v]) => tf.clone(v));
  const step = () => {
    const { loss, grads } = lossAndGradients(model, x, y);
    loss.dataSync();
    tf.dispose([loss, ...Object.values(grads)]);
  };
  step(); // warm-up (kernel setup)
  const t0 = Date.now();
  for (let i = 0; i < reps; i++) step();
  const dt = (Date.now() - t0) / 1000 / reps;
  model.namedBuffers().forEach(([, v], i) => v.assign(saved[i])); // undo BN running statistics
  tf.dispose([x, y, ...saved]);
  return dt;
}

/** One net to train. */
export interface NetJob {
  /** Folder name and label (e.g. `plain20`). */
  name: string;
  /** Builds the net to train (fresh weights from the job's seed). */
  build: () => ResNet;
}

/** Hooks into {@link trainJobs} for experiments that measure the model while it trains (e.g. gradient flow). */
export interface TrainHooks {
  /** Before training (or resuming) each net, with the model as it starts. */
  onStart?: (name: string, model: ResNet) => void | Promise<void>;
  /** After every epoch, with the model in its current state. */
  onEpoch?: (name: string, model: ResNet, metrics: EpochMetrics) => void;
}

/** What one trained net yields. */
export interface NetRun {
  name: string;
  params: number;
  macs: number;
  history: EpochMetrics[];
  stopped: TrainResult['stopped'];
  /** Final train error (1 − running train accuracy of the last epoch) and test error (1 − top-1). */
  trainError: number;
  testError: number;
  dir: string;
}

/** Seconds as `3.21 s`, `42 s`, `12 min` or `1.5 h`, for duration estimates. */
export function fmtDuration(s: number): string {
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** What the duration estimate of {@link trainJobs} is made of. */
export interface TrainingEstimate {
  /** Seconds of one training step of each net at the run's batch size, as timed. */
  stepSeconds: readonly number[];
  batchSize: number;
  stepsPerEpoch: number;
  epochs: number;
  /** Test images evaluated after every epoch. */
  testImages: number;
  /** Steps each net has already trained (its checkpoint's, when it resumes; default none): only the rest is estimated. */
  doneSteps?: readonly number[];
}

/**
 * The expected seconds of {@link trainJobs}: per net, its timed step times its steps, plus the test
 * evaluation after every epoch (a forward pass: about a third of a training step per image). The
 * step is timed at the run's own batch size: one timed at a small batch and scaled up overstated the
 * duration several times over (5 to 10 here), fixed costs weighing far more per image in a small batch.
 */
export function estimateTrainingSeconds(e: TrainingEstimate): number {
  const total = e.epochs * e.stepsPerEpoch;
  const perNet = (t: number, done: number) => {
    const d = Math.min(total, Math.max(0, done));
    // A checkpoint in the middle of an epoch still has that epoch's evaluation to come.
    return t * (total - d) + (t / e.batchSize / 3) * e.testImages * (e.epochs - Math.floor(d / e.stepsPerEpoch));
  };
  return e.stepSeconds.reduce((sum, t, i) => sum + perNet(t, e.doneSteps?.[i] ?? 0), 0);
}

/**
 * The step each run folder's net resumes from: its checkpoint's (read from the file's header), or 0
 * where it starts afresh (no checkpoint, `resume` false). A checkpoint that cannot be read counts as 0:
 * the trainer says what is wrong with it when it gets there.
 */
export function resumedSteps(dirs: string[], resume: boolean): number[] {
  return dirs.map((dir) => {
    const file = path.join(dir, CHECKPOINT_FILE);
    if (!resume || !fs.existsSync(file)) return 0;
    try {
      const f = openSafetensors(file);
      try {
        const step = (JSON.parse(f.metadata.training ?? '{}') as { step?: unknown }).step;
        return typeof step === 'number' && Number.isInteger(step) && step > 0 ? step : 0;
      } finally {
        f.close();
      }
    } catch {
      return 0;
    }
  });
}

/**
 * Times one step of each net that has steps left at the run's batch size and logs the expected
 * duration of {@link trainJobs}: of the work left when nets resume (`doneSteps`), with how much was
 * done before; nothing is timed when every net is finished.
 */
function logEstimate(
  jobs: NetJob[],
  o: TrainingExperimentOptions,
  r: { inHW: [number, number]; channels: number; stepsPerEpoch: number; epochs: number; batchSize: number; doneSteps: number[] },
): void {
  const log = o.log ?? (() => {});
  const { inHW, channels, stepsPerEpoch, epochs, batchSize, doneSteps } = r;
  const total = epochs * stepsPerEpoch;
  const left = jobs.map((_, i) => Math.max(0, total - doneSteps[i]));
  const leftSteps = left.reduce((a, b) => a + b, 0);
  const doneSum = jobs.length * total - leftSteps;
  if (leftSteps === 0) {
    log(
      `nothing left to train: the checkpoints of all ${jobs.length} nets are at their last step (${total}); checking them against this run, then writing the report`,
    );
    return;
  }
  const time = o.timeStep ?? timeTrainStep;
  // A set smaller than the batch makes every step one batch of the whole set.
  const batch = Math.min(batchSize, o.trainSet.labels.length);
  const stepSeconds = jobs.map((job, i) => {
    if (left[i] === 0) return 0; // finished: nothing to time
    const m = job.build();
    try {
      return time(m, batch, [inHW[0], inHW[1], channels]);
    } finally {
      m.dispose();
    }
  });
  jobs.forEach((job, i) => {
    if (left[i] > 0) log(`  ${job.name}: ~${fmtDuration(stepSeconds[i])} per step of ${batch}`);
  });
  const estimate = estimateTrainingSeconds({
    stepSeconds,
    batchSize: batch,
    stepsPerEpoch,
    epochs,
    testImages: o.testSet.labels.length,
    doneSteps,
  });
  const shape = `${jobs.length} nets x ${epochs} epochs x ${stepsPerEpoch} steps`;
  const what =
    doneSum === 0
      ? `for ${shape}`
      : `for what is left: ${leftSteps} of ${jobs.length * total} steps (${shape}; ${doneSum} done in an earlier run, resumed from checkpoints)`;
  log(
    `expected duration: about ${fmtDuration(estimate)} on ${tf.getBackend()} ${what} (interrupt any time; rerun the same command to resume)`,
  );
}

/** Stops the experiment (see `signal`) before `next` when it has been interrupted. */
function stopIfAborted(signal: AbortSignal | undefined, next: string, runs: NetRun[]): void {
  if (signal?.aborted)
    throw new ExperimentInterruptedError(
      `interrupted before ${next} (${runs.length ? `finished: ${runs.map((r) => r.name).join(', ')}` : 'nothing trained yet'})`,
    );
}

/** A run's status as reports and logs show it: `diverged` for the trainer's `nan` (NaN weights, or a loss that exploded), `interrupted`. */
export function stoppedText(stopped: TrainResult['stopped']): string {
  return stopped === 'nan' ? 'diverged' : stopped === 'aborted' ? 'interrupted' : stopped;
}

/** What a trained net yields; an interrupted one stops the experiment (its checkpoint is saved), a diverged one is said. */
function netRun(
  name: string,
  summary: { totalParams: number; totalMacs: number },
  res: TrainResult,
  dir: string,
  log: (m: string) => void,
): NetRun {
  if (res.stopped === 'aborted')
    throw new ExperimentInterruptedError(
      `interrupted: ${name} stopped at step ${res.step}/${res.totalSteps}, its checkpoint saved in ${dir}`,
    );
  // Rerunning would diverge again (the same seed from the same last good checkpoint): say what might train it.
  if (res.stopped !== 'done')
    log(`  ${name} diverged${res.message ? ` (${res.message})` : ''}; its numbers are left out (a lower --lr or a warm-up may train it)`);
  const last = res.history[res.history.length - 1];
  return {
    name,
    params: summary.totalParams,
    macs: summary.totalMacs,
    history: res.history,
    stopped: res.stopped,
    trainError: last ? 1 - last.trainAcc : NaN,
    testError: last?.top1 !== undefined ? 1 - last.top1 : NaN,
    dir,
  };
}

/**
 * Prints the expected duration, then trains every job in turn with the same recipe and seed into
 * `<out>/runs/<name>` (resumable), logging progress.
 */
export async function trainJobs(jobs: NetJob[], o: TrainingExperimentOptions, out: string, hooks: TrainHooks = {}): Promise<NetRun[]> {
  const log = o.log ?? (() => {});
  const epochs = o.epochs ?? 30;
  const batchSize = o.batchSize ?? 128;
  const lr = o.lr ?? 0.1;
  const seed = o.seed ?? 0;
  const N = o.trainSet.labels.length;
  const [h, w, c] = o.trainSet.shape;
  const padTo = cifarPadTo('cifar', o.trainSet.shape, o.padTo);
  const stepsPerEpoch = Math.ceil(N / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const inHW: [number, number] = padTo ?? [h, w];
  const testImages = o.testSet.labels.length;
  const dirs = jobs.map((job) => path.join(out, 'runs', job.name));
  checkTestSets(dirs, testImages, o.resume ?? true);
  const doneSteps = resumedSteps(dirs, o.resume ?? true);
  const runs: NetRun[] = [];
  stopIfAborted(o.signal, 'the duration estimate', runs);
  logEstimate(jobs, o, { inHW, channels: c, stepsPerEpoch, epochs, batchSize, doneSteps });
  const trainFn = o.trainFn ?? train;
  for (const [j, job] of jobs.entries()) {
    stopIfAborted(o.signal, `${job.name} started`, runs);
    const model = job.build();
    const dir = dirs[j];
    const summary = model.summary(inHW);
    log(
      `[${j + 1}/${jobs.length}] ${job.name}: ${summary.totalParams} params, ${(summary.totalMacs / 1e6).toFixed(2)} M multiply-adds; checkpoints in ${dir}`,
    );
    let lastLog = 0;
    const resume = (o.resume ?? true) && fs.existsSync(path.join(dir, CHECKPOINT_FILE));
    try {
      if (!resume) await recordTestSet(dir, testImages); // an older run without the file stays unchecked
      await hooks.onStart?.(job.name, model);
      const res = await trainFn({
        model,
        trainSet: o.trainSet,
        testSet: o.testSet,
        epochs,
        batchSize,
        schedule: scaledPaperSchedule(totalSteps, lr),
        momentum: o.momentum ?? 0.9,
        weightDecay: o.weightDecay ?? 1e-4,
        seed,
        preprocessing: padTo ? { padTo } : {},
        augment: o.augment === undefined ? { pad: 4, flip: true } : o.augment,
        outDir: dir,
        // Resume a net whose checkpoint is there; otherwise (or with --no-resume) start it afresh.
        resume,
        force: true,
        flags: TRAINING_RESUME_FLAGS,
        progressBar: o.progressBar,
        signal: o.signal,
        // The trainer's way on ("continue with --resume") is `resnet train`'s; the lab resumes by rerunning the command (said once, by the caller).
        log: (m) => log(`  ${job.name}: ${m.replace(/; continue with --resume$/, '')}`),
        onProgress: (p) => {
          if (Date.now() - lastLog > 30000) {
            lastLog = Date.now();
            log(`  ${job.name}: step ${p.step}/${p.totalSteps}, loss ${p.loss.toFixed(4)}, ${p.imagesPerSec.toFixed(0)} img/s`);
          }
        },
        // the trainer itself logs each epoch's metrics
        onEpoch: (m) => hooks.onEpoch?.(job.name, model, m),
      });
      runs.push(netRun(job.name, summary, res, dir, log));
    } finally {
      model.dispose();
    }
  }
  return runs;
}

/** Seconds of training and per-epoch evaluation logged by every job, summed (resumed invocations included). */
export function totalTrainingSeconds(runs: { history: EpochMetrics[] }[]): number {
  return runs.reduce((sum, r) => sum + r.history.reduce((s, m) => s + m.seconds, 0), 0);
}
