import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SingleBar } from 'cli-progress';
import type { Module, ResNet } from '@resnet-ts/core';
import { fileError, loadWeightsInto, openSafetensors, parseCheckpointMetadata, writeBytesAtomic } from '@resnet-ts/core/node';
import { Augmentation, Batcher, Preprocessing, augmentRng, channelStats, epochOrder } from './batches.js';
import { checkpointIO, TensorRecord } from './checkpoint.js';
import { RunFolder, loadResumeState, openRunFolder, readRunLog } from './run-folder.js';
import { Dataset } from './data/dataset.js';
import { TrainError } from './errors.js';
import { evaluate } from './metrics.js';
import { checkRunHealth, divergedMessage, lastGoodText, type LastGood } from './health.js';
import { SGD } from './optimizer.js';
import { ScheduleSpec, learningRate, validateSchedule } from './schedule.js';
import { curvesSvg } from './plot.js';

/** Options of {@link train}. */
export interface TrainOptions {
  /** A ResNet (its spec goes into checkpoints) or any Module producing logits. */
  model: ResNet | Module;
  trainSet: Dataset;
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
  seed?: number;
  /** Normalisation; default mean/std of the train set. `padTo` pads e.g. 28x28 to 32x32. */
  preprocessing?: Partial<Preprocessing>;
  /** Default {pad: 4, flip: true}; false for none. Use flip: false for digits. */
  augment?: Augmentation | false;
  /** Folder for checkpoint.safetensors, model.safetensors, log.jsonl and curves.svg. */
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
  evalBatchSize?: number;
  /** Called after every step. */
  onProgress?: (p: StepProgress) => void;
  /** Called after every epoch with its metrics. */
  onEpoch?: (m: EpochMetrics) => void;
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
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
}

/** One line of log.jsonl. */
export interface EpochMetrics {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainAcc: number;
  testLoss?: number;
  top1?: number;
  top5?: number;
  imagesPerSec: number;
  seconds: number;
  /** True when training ended mid-epoch (iterations not a multiple of the epoch). */
  partial?: boolean;
}

/** What {@link train} returns. */
export interface TrainResult {
  stopped: 'done' | 'aborted' | 'nan';
  step: number;
  totalSteps: number;
  history: EpochMetrics[];
  checkpoint?: string;
  preprocessing: Preprocessing;
  /** Why the run stopped when `stopped` is `'nan'` (one line naming the step and the last good checkpoint): the caller reports it. */
  message?: string;
}

/** Training state stored in checkpoint metadata under `training`. */
export interface TrainingState {
  step: number;
  epoch: number;
  totalSteps: number;
  stepsPerEpoch: number;
  batchSize: number;
  seed: number;
  schedule: ScheduleSpec;
  optimizer: { type: 'SGD'; momentum: number; weightDecay: number; nesterov: boolean; decay: string };
  augment: Augmentation | false;
  /** Shuffling is derived from (seed, epoch); the augmentation generator's state is saved. */
  rng: { shuffle: { seed: number; epoch: number }; augment: number[] };
  /** Running sums of the current epoch (so a resumed epoch logs the same numbers). */
  accum: { lossSum: number; correct: number; seen: number; seconds: number };
  trainSize: number;
}

/** File name, inside the output folder, of the resumable training checkpoint (weights plus training state). */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** File name, inside the output folder, of the final model weights, written when training finishes. */
export const MODEL_FILE = 'model.safetensors';

function toRecord(t: tf.Tensor): TensorRecord {
  const data = t.dataSync();
  return t.dtype === 'int32'
    ? { dtype: 'int32', shape: t.shape, data: Int32Array.from(data) }
    : { dtype: 'float32', shape: t.shape, data: Float32Array.from(data) };
}

/** Metadata common to checkpoints and weight files (core's `resnet-ts/1` keys). */
export function weightsMetadata(
  model: Module,
  classes: string[],
  prep: Preprocessing,
  imageSize: [number, number],
): Record<string, string> {
  const spec = (model as unknown as Partial<ResNet>).spec;
  const inputSize = prep.padTo ?? imageSize;
  return {
    format: 'resnet-ts/1',
    ...(spec ? { spec: JSON.stringify(spec) } : {}),
    classes: JSON.stringify(classes),
    preprocessing: JSON.stringify({ mean: prep.mean, std: prep.std, inputSize, imageSize, padTo: prep.padTo }),
  };
}

/** Writes the model's weights (torchvision names and layouts) with metadata, atomically. */
export async function saveWeights(
  file: string,
  model: Module,
  metadata: Record<string, string>,
  extra?: Map<string, tf.Tensor>,
): Promise<void> {
  const tensors = new Map<string, TensorRecord>();
  const sd = model.stateDict({ layout: 'torch' });
  for (const [k, t] of sd) tensors.set(k, toRecord(t));
  tf.dispose([...sd.values()]);
  if (extra) for (const [k, t] of extra) tensors.set(k, toRecord(t));
  await checkpointIO.save(file, tensors, metadata);
}

/**
 * Loads weights (torch layout; keys under the file's `extra_prefixes`, such as optimizer.*, ignored)
 * into `model` strictly, through core's one loader; returns the metadata.
 */
export function loadWeights(file: string, model: Module): { metadata: Record<string, string> } {
  return { metadata: loadWeightsInto(model as ResNet, file, { strict: true }).info.metadata };
}

function defaultProgressBar(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.JEST_WORKER_ID === undefined;
}

/**
 * Trains with SGD (momentum, weight decay as PyTorch), the given schedule and the paper's
 * augmentation. Every step runs forward (train-mode BN), softmax cross-entropy and
 * `tf.variableGrads` inside `tf.tidy`, then the SGD update in its own `tf.tidy`. Epochs are
 * evaluated on the test set in eval mode and logged to outDir/log.jsonl; checkpoints are written
 * atomically; `resume` continues exactly where a previous run stopped.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  checkTrainOptions(options);
  const folder = options.outDir ? openRunFolder(options.outDir, { resume: options.resume, force: options.force, log: options.log }) : undefined;
  try {
    return await trainInFolder(options, folder);
  } finally {
    folder?.release();
  }
}

/** Refuses options that cannot make a run, before any file is touched. */
function checkTrainOptions(options: TrainOptions): void {
  const { trainSet, batchSize = 128, iterations, epochs = 1 } = options;
  const bad = (m: string) => new TrainError(m, 'OPTIONS');
  if (trainSet.labels.length === 0) throw bad('The training set is empty.');
  if (trainSet.classes.length < 2)
    throw bad(`The training set has ${trainSet.classes.length} class (${trainSet.classes.join(', ')}): a classifier needs at least 2 classes.`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad(`batchSize must be a positive integer; got ${batchSize}.`);
  if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1))
    throw bad(`iterations must be a positive integer; got ${iterations}.`);
  if (!(Number.isFinite(epochs) && epochs > 0)) throw bad(`epochs must be a positive number; got ${epochs}.`);
  if (iterations === undefined && Math.round(epochs * Math.ceil(trainSet.labels.length / batchSize)) < 1)
    throw bad(`epochs ${epochs} is less than one step of ${batchSize} images.`);
}

async function trainInFolder(options: TrainOptions, folder: RunFolder | undefined): Promise<TrainResult> {
  const { model, trainSet, testSet } = options;
  const log = options.log ?? (() => {});
  const batchSize = options.batchSize ?? 128;
  const seed = options.seed ?? 0;
  const N = trainSet.labels.length;
  const stepsPerEpoch = Math.ceil(N / batchSize);
  const totalSteps = options.iterations ?? Math.round((options.epochs ?? 1) * stepsPerEpoch);
  const schedule: ScheduleSpec = options.schedule ?? { type: 'constant', lr: options.lr ?? 0.1 };
  validateSchedule(schedule);
  const augment: Augmentation | false = options.augment === undefined ? { pad: 4, flip: true } : options.augment;
  const stats =
    options.preprocessing?.mean && options.preprocessing?.std
      ? { mean: options.preprocessing.mean, std: options.preprocessing.std }
      : channelStats(trainSet);
  const prep: Preprocessing = { ...stats, ...(options.preprocessing?.padTo ? { padTo: options.preprocessing.padTo } : {}) };
  const batcher = new Batcher(trainSet, batchSize, prep);
  const K = trainSet.classes.length;
  const outDir = folder?.dir;
  const ckptFile = outDir ? path.join(outDir, CHECKPOINT_FILE) : undefined;
  const logFile = outDir ? path.join(outDir, 'log.jsonl') : undefined;

  const named = model.namedParameters();
  const params = named.map(([, v]) => v);
  const opt = new SGD(named, {
    lr: learningRate(schedule, 0),
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 1e-4,
    nesterov: options.nesterov ?? false,
    decay: options.decay ?? 'all',
  });

  let step = 0;
  let accum = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
  let resumedAug: number[] | undefined;
  let history: EpochMetrics[] = [];
  /** The last checkpoint written (each is checked finite first), named when a run diverges. */
  let lastGood: LastGood = {};

  if (folder?.resuming && ckptFile) {
    const { state, momenta } = loadResumeState<TrainingState>(ckptFile, model, { batchSize, trainSize: N, seed, stepsPerEpoch, totalSteps });
    const unhealthy = checkRunHealth(model, momenta, ckptFile);
    if (unhealthy.found.length) {
      tf.dispose([...momenta.values()]);
      throw new TrainError(`${unhealthy.describe()}: that run had diverged, it cannot be resumed. Start again (--force) with a lower learning rate.`, 'CHECKPOINT');
    }
    opt.loadStateDict(momenta);
    tf.dispose([...momenta.values()]);
    step = state.step;
    // A checkpoint taken at the end of an epoch holds the finished epoch's generator and sums: the
    // next epoch starts fresh, exactly as in an uninterrupted run.
    if (state.epoch === Math.floor(step / stepsPerEpoch)) {
      accum = state.accum;
      resumedAug = state.rng.augment;
    }
    if (logFile) history = readRunLog<EpochMetrics>(logFile, Math.floor(step / stepsPerEpoch), log);
    log(`resumed from ${ckptFile} at step ${step} (epoch ${Math.floor(step / stepsPerEpoch) + 1})`);
    lastGood = { file: ckptFile, step };
  } else if (logFile && fs.existsSync(logFile)) {
    fs.rmSync(logFile);
  }
  if (logFile) await writeBytesAtomic(logFile, Buffer.from(history.map((m) => JSON.stringify(m) + '\n').join('')));

  let epoch = Math.floor(step / stepsPerEpoch);
  let order = epochOrder(N, seed, epoch);
  const aug = augmentRng(seed, epoch);
  if (resumedAug) aug.setState(resumedAug);

  const state = (): TrainingState => ({
    step,
    epoch,
    totalSteps,
    stepsPerEpoch,
    batchSize,
    seed,
    schedule,
    optimizer: { type: 'SGD', momentum: opt.momentum, weightDecay: opt.weightDecay, nesterov: opt.nesterov, decay: opt.decay },
    augment,
    rng: { shuffle: { seed, epoch }, augment: aug.getState() },
    accum: { ...accum },
    trainSize: N,
  });
  const meta = weightsMetadata(model, trainSet.classes, prep, [trainSet.shape[0], trainSet.shape[1]]);
  const saveCheckpoint = async () => {
    if (!ckptFile) return;
    const momenta = opt.stateDict();
    const extra = new Map([...momenta].map(([k, t]) => [`optimizer.momentum.${k}`, t]));
    try {
      await saveWeights(
        ckptFile,
        model,
        { ...meta, training: JSON.stringify(state()), extra_prefixes: JSON.stringify(['optimizer']), seed: String(seed) },
        extra,
      );
      lastGood = { file: ckptFile, step };
    } finally {
      tf.dispose([...momenta.values()]);
    }
  };

  /** The diverged-run message when any weight, running statistic or momentum is NaN or Inf, else undefined. */
  const healthMessage = (lr: number): string | undefined => {
    const momenta = opt.stateDict();
    try {
      const tally = checkRunHealth(model, momenta);
      return tally.found.length ? divergedMessage(tally, { step, epoch, lr }, lastGood) : undefined;
    } finally {
      tf.dispose([...momenta.values()]);
    }
  };

  const bar =
    (options.progressBar ?? defaultProgressBar())
      ? new SingleBar({
          format: 'step {value}/{total} |{bar}| loss {loss} | {ips} img/s | ETA {eta_formatted}',
          hideCursor: true,
          etaBuffer: 50,
        })
      : undefined;
  bar?.start(totalSteps, step, { loss: '-', ips: '-' });
  const [H, W, C] = [batcher.outH, batcher.outW, batcher.channels];
  let stopped: TrainResult['stopped'] = 'done';
  let message: string | undefined;
  let epochStart = Date.now() - accum.seconds * 1000;
  let lastLr = learningRate(schedule, step);
  const idx = new Int32Array(batchSize);

  const finishEpoch = (partial: boolean) => {
    const seconds = (Date.now() - epochStart) / 1000;
    const m: EpochMetrics = {
      epoch,
      step,
      lr: lastLr,
      trainLoss: accum.lossSum / Math.max(accum.seen, 1),
      trainAcc: accum.correct / Math.max(accum.seen, 1),
      imagesPerSec: accum.seen / Math.max(seconds, 1e-9),
      seconds,
      ...(partial ? { partial: true } : {}),
    };
    if (testSet) {
      const r = evaluate(model, testSet, { batchSize: options.evalBatchSize ?? 256, preprocessing: prep });
      // Eval mode caches batch-norm-folded weights; the next SGD step makes them stale, so free them
      // now rather than carry a second copy of the weights through the next epoch.
      model.clearAllCaches();
      Object.assign(m, { testLoss: r.loss, top1: r.top1, top5: r.top5 });
    }
    history.push(m);
    if (logFile) {
      try {
        fs.appendFileSync(logFile, JSON.stringify(m) + '\n');
      } catch (e) {
        throw fileError(e, logFile, 'append to');
      }
    }
    options.onEpoch?.(m);
    if (bar) process.stderr.write('\r\x1b[2K');
    log(
      `epoch ${epoch + 1}: train loss ${m.trainLoss.toFixed(4)} acc ${(100 * m.trainAcc).toFixed(2)} %` +
        (m.top1 !== undefined
          ? `, test loss ${m.testLoss!.toFixed(4)} top-1 ${(100 * m.top1).toFixed(2)} % top-5 ${(100 * m.top5!).toFixed(2)} %`
          : '') +
        `, ${m.imagesPerSec.toFixed(1)} img/s`,
    );
  };

  try {
    while (step < totalSteps) {
      // Let signal handlers (Ctrl-C) and timers run between steps: a step itself may be synchronous.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      const e = Math.floor(step / stepsPerEpoch);
      if (e !== epoch) {
        epoch = e;
        order = epochOrder(N, seed, epoch);
        const fresh = augmentRng(seed, epoch);
        aug.setState(fresh.getState());
        accum = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
        epochStart = Date.now();
      }
      const b = step % stepsPerEpoch;
      const n = Math.min(batchSize, N - b * batchSize);
      for (let i = 0; i < n; i++) idx[i] = order[b * batchSize + i];
      const t0 = Date.now();
      const batch = batcher.fill(idx.subarray(0, n), augment, aug);
      const lr = learningRate(schedule, step);
      lastLr = lr;
      let correctT: tf.Tensor | undefined;
      const out = tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [n, H, W, C]);
        const labels = tf.tensor1d(batch.labels, 'int32');
        const y = tf.oneHot(labels, K);
        return tf.variableGrads(() => {
          const logits = model.forward(x, { training: true });
          correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')));
          return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
        }, params);
      });
      const loss = (await out.value.data())[0];
      const correct = correctT ? (await correctT.data())[0] : 0;
      if (!Number.isFinite(loss)) {
        tf.dispose([out.value, ...Object.values(out.grads)]);
        correctT?.dispose();
        stopped = 'nan';
        message =
          `Loss became ${loss} at step ${step + 1} (epoch ${epoch + 1}, lr ${lr}); training stopped without saving.` +
          ` ${lastGoodText(lastGood)} Try a lower learning rate or a warm-up.`;
        break;
      }
      opt.step(out.grads, lr);
      tf.dispose([out.value, ...Object.values(out.grads)]);
      correctT?.dispose();
      const dt = (Date.now() - t0) / 1000;
      step++;
      accum.lossSum += loss * n;
      accum.correct += correct;
      accum.seen += n;
      accum.seconds = (Date.now() - epochStart) / 1000;
      const ips = n / Math.max(dt, 1e-9);
      bar?.update(step, { loss: loss.toFixed(4), ips: ips.toFixed(1) });
      options.onProgress?.({ step, totalSteps, epoch, loss, lr, imagesPerSec: ips });
      const endOfEpoch = step % stepsPerEpoch === 0;
      const checkpointNow = endOfEpoch || step === totalSteps || (options.checkpointEvery && step % options.checkpointEvery === 0);
      // A finite loss is not enough: never evaluate, checkpoint or finish from non-finite weights.
      message = checkpointNow ? healthMessage(lr) : undefined;
      if (message) {
        stopped = 'nan';
        break;
      }
      if (endOfEpoch || step === totalSteps) finishEpoch(!endOfEpoch);
      if (checkpointNow) await saveCheckpoint();
    }
    // Ctrl-C during the last evaluation or save: the checkpoint is complete, but the run was interrupted.
    if (stopped === 'done' && options.signal?.aborted) stopped = 'aborted';
    if (stopped === 'aborted') message = healthMessage(lastLr);
    if (message && stopped === 'aborted') stopped = 'nan';
    if (stopped === 'aborted') {
      await saveCheckpoint();
      log(`interrupted at step ${step}: checkpoint saved${ckptFile ? ` to ${ckptFile}` : ''}; continue with --resume`);
    }
  } finally {
    bar?.stop();
    opt.dispose();
  }
  if (stopped === 'done' && outDir) {
    await saveWeights(path.join(outDir, MODEL_FILE), model, {
      ...meta,
      training: JSON.stringify({ step, epochs: step / stepsPerEpoch, schedule, seed, batchSize }),
    });
    await writeBytesAtomic(
      path.join(outDir, 'curves.svg'),
      Buffer.from(
        curvesSvg(
          history.map((m) => ({ ...m, epoch: m.epoch + 1 })),
          `Training curves (${history.length} epochs)`,
        ),
      ),
    );
  }
  return { stopped, step, totalSteps, history, checkpoint: ckptFile, preprocessing: prep, message };
}

/** What a weight or checkpoint file says about its model (absent fields are undefined). */
export interface WeightsInfo {
  spec?: import('@resnet-ts/core').ResNetSpec;
  classes?: string[];
  preprocessing?: Preprocessing & { inputSize?: [number, number]; imageSize?: [number, number] };
  training?: unknown;
  metadata: Record<string, string>;
}

/** Reads the metadata of a safetensors weight/checkpoint file written by {@link train}. */
export function readWeightsInfo(file: string): WeightsInfo {
  const f = openSafetensors(file);
  try {
    const info = parseCheckpointMetadata(f.metadata, file);
    return {
      spec: info.spec,
      classes: info.classes,
      preprocessing: info.preprocessing as WeightsInfo['preprocessing'],
      training: info.training,
      metadata: info.metadata,
    };
  } finally {
    f.close();
  }
}
