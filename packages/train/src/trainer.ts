import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { SingleBar } from 'cli-progress';
import { fileError, writeBytesAtomic } from '@resnet-ts/core/node';
import { Augmentation, Batcher, Preprocessing, augmentRng, channelStats, defaultAugmentation, epochOrder } from './batches.js';
import { RunFolder, loadResumeState, openRunFolder, readRunLog } from './run-folder.js';
import { dataSourceKey, restartWay } from './resume-check.js';
import { Dataset, datasetFingerprint } from './data/dataset.js';
import { CHECKPOINT_FILE, MODEL_FILE, BEST_FILE, EpochMetrics, FinalTest, TrainOptions, TrainResult, TrainingState } from './train-types.js';
import { TrainError } from './errors.js';
import { evaluate } from './metrics.js';
import {
  checkRunHealth,
  divergedMessage,
  explodedLossMessage,
  largestMagnitude,
  lastGoodText,
  nonFiniteInputs,
  outputsDiverged,
  outputsDivergedMessage,
  type LastGood,
  type OutputsCheck,
} from './health.js';
import { SGD } from './optimizer.js';
import { ScheduleSpec, learningRate, runLength, warmupNote } from './schedule.js';
import { checkTrainOptions, headRates } from './train-options.js';
import { curvesSvg } from '@resnet-ts/plot';
import { applyFreeze } from './finetune.js';
import { saveWeights, weightsMetadata } from './model-files.js';
import { sgdStep } from './train-step.js';
import { BestTracker, DIVERGED_TRAIN_LOSS_TIMES, EpochNotes, epochLine, lossExploded } from './epoch-report.js';
import { defaultProgressBar, progressBar } from './progress.js';

/** Images of the eval-mode probe of `healthMessage`: a few, to stay cheap. */
const PROBE_IMAGES = 64;

export { weightsMetadata, saveWeights, loadWeights, readWeightsInfo, type WeightsInfo } from './model-files.js';

export * from './train-types.js';

/**
 * Trains with SGD (momentum, weight decay as PyTorch), the given schedule and augmentation. Every
 * step runs forward (train-mode BN, frozen batch norms excepted), softmax cross-entropy and the
 * gradients of the trainable parameters inside `tf.tidy`, then the SGD update. Epochs are evaluated
 * (validation set, else test set) in eval mode and logged to outDir/log.jsonl; checkpoints are
 * written atomically; `resume` continues exactly where a previous run stopped.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  checkTrainOptions(options);
  const folder = options.outDir ? openRunFolder(options.outDir, { resume: options.resume, force: options.force, log: options.log }) : undefined;
  try {
    return await new TrainingRun(options, folder).run();
  } finally {
    folder?.release();
  }
}

/** One training run: its state, and the steps of the loop as methods. */
class TrainingRun {
  private readonly log: (message: string) => void;
  private readonly N: number;
  private readonly batchSize: number;
  private readonly seed: number;
  private readonly stepsPerEpoch: number;
  private readonly totalSteps: number;
  private readonly schedule: ScheduleSpec;
  /** The schedule of the rate the optimizer steps with: the run's, or the head's when only the head trains (see `headRates`). */
  private readonly stepSchedule: ScheduleSpec;
  private readonly augment: Augmentation | false;
  private readonly prep: Preprocessing;
  private readonly batcher: Batcher;
  private readonly K: number;
  private readonly ckptFile?: string;
  private readonly logFile?: string;
  private readonly params: tf.Variable[];
  private readonly opt: SGD;
  private readonly meta: Record<string, string>;
  private readonly evalSet?: Dataset;
  /** Where the training images come from, as stored in checkpoints and compared on resume. */
  private readonly dataSource?: string;
  /** What the training set holds, stored with each checkpoint so that a resume on other images is refused (runs with a folder). */
  private readonly dataFingerprint?: string;
  private step = 0;
  private epoch = 0;
  private accum = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
  private history: EpochMetrics[] = [];
  /** The last checkpoint written (each is checked finite first), named when a run diverges. */
  private lastGood: LastGood = {};
  private best = new BestTracker();
  private readonly notes: EpochNotes;
  private order: Int32Array;
  private readonly aug = augmentRng(0, 0);
  private bar?: SingleBar;
  private lastLr: number;
  private epochStart = Date.now();

  constructor(
    private readonly options: TrainOptions,
    private readonly folder: RunFolder | undefined,
  ) {
    const { trainSet } = options;
    this.log = options.log ?? (() => {});
    this.batchSize = options.batchSize ?? 128;
    this.seed = options.seed ?? 0;
    this.N = trainSet.labels.length;
    ({ stepsPerEpoch: this.stepsPerEpoch, totalSteps: this.totalSteps } = runLength(this.N, options));
    this.schedule = options.schedule ?? { type: 'constant', lr: options.lr ?? 0.1 };
    const warm = warmupNote(this.schedule, this.totalSteps);
    if (warm) this.log(warm);
    this.augment = options.augment === undefined ? defaultAugmentation([trainSet.shape[0], trainSet.shape[1]], true) : options.augment;
    const given = options.preprocessing;
    const stats = given?.mean && given?.std ? { mean: given.mean, std: given.std } : channelStats(trainSet);
    this.prep = { ...stats, ...(given?.padTo ? { padTo: given.padTo } : {}) };
    this.batcher = new Batcher(trainSet, this.batchSize, this.prep);
    this.K = trainSet.classes.length;
    this.notes = new EpochNotes(this.K, this.log);
    this.evalSet = options.valSet ?? options.testSet;
    this.dataSource = dataSourceKey(trainSet.source);
    if (folder) {
      this.dataFingerprint = datasetFingerprint(trainSet); // checkpoints store it; a run without a folder has none
      this.ckptFile = path.join(folder.dir, CHECKPOINT_FILE);
      this.logFile = path.join(folder.dir, 'log.jsonl');
    }
    const frozen = applyFreeze(options.model, options.freeze ?? 'none');
    if (frozen.frozen.length)
      this.log(`frozen (${options.freeze}): ${frozen.frozen.length} parameter tensors, ${frozen.frozenBatchNorms} batch norms in eval mode; training ${frozen.trainable.length}`);
    this.params = frozen.trainable.map(([, v]) => v);
    const head = headRates(frozen.trainable, this.schedule, options.headLr);
    this.stepSchedule = head.stepSchedule;
    this.opt = new SGD(frozen.trainable, {
      lr: learningRate(this.stepSchedule, 0),
      momentum: options.momentum ?? 0.9,
      weightDecay: options.weightDecay ?? 1e-4,
      nesterov: options.nesterov ?? false,
      decay: options.decay ?? 'all',
      lrScale: head.lrScale,
    });
    this.meta = { ...options.metadata, ...weightsMetadata(options.model, trainSet.classes, this.prep, [trainSet.shape[0], trainSet.shape[1]], trainSet.decoding, trainSet.shape[2]) };
    this.order = epochOrder(this.N, this.seed, 0);
    this.aug.setState(augmentRng(this.seed, 0).getState());
    this.lastLr = learningRate(this.schedule, 0);
  }

  /** Runs the loop to the end, an abort or a divergence, then writes the final files. */
  async run(): Promise<TrainResult> {
    try {
      await this.start();
      const { stopped, message } = await this.loop();
      return await this.finish(stopped, message);
    } finally {
      this.bar?.stop();
      this.opt.dispose();
    }
  }

  /** Resumes from the checkpoint (or clears a stale log), writes log.jsonl's kept lines, starts the bar. */
  private async start(): Promise<void> {
    let resumedAug: number[] | undefined;
    if (this.folder?.resuming && this.ckptFile) resumedAug = this.resume(this.ckptFile);
    else if (this.logFile && fs.existsSync(this.logFile)) fs.rmSync(this.logFile);
    this.options.onStart?.();
    if (this.logFile) await writeBytesAtomic(this.logFile, Buffer.from(this.history.map((m) => JSON.stringify(m) + '\n').join('')));
    this.epoch = Math.floor(this.step / this.stepsPerEpoch);
    this.order = epochOrder(this.N, this.seed, this.epoch);
    this.aug.setState(resumedAug ?? augmentRng(this.seed, this.epoch).getState());
    this.epochStart = Date.now() - this.accum.seconds * 1000;
    this.lastLr = learningRate(this.schedule, this.step);
    if (this.options.progressBar ?? defaultProgressBar()) {
      this.bar = progressBar('step {value}/{total} |{bar}| loss {loss} | {ips} img/s | ETA {eta_formatted}');
      this.bar.start(this.totalSteps, this.step, { loss: '-', ips: '-' });
    }
  }

  /** Loads the checkpoint's weights, momenta and state; returns the augmentation generator's state when mid-epoch. */
  private resume(ckptFile: string): number[] | undefined {
    const { batchSize, N: trainSize, seed, stepsPerEpoch, totalSteps, opt, options, schedule, augment } = this;
    // Every setting the checkpoint stores must be this run's (see resume-check.ts).
    const { state, momenta } = loadResumeState<TrainingState>(ckptFile, options.model, {
      batchSize,
      trainSize,
      seed,
      stepsPerEpoch,
      totalSteps,
      freeze: options.freeze,
      schedule,
      augment,
      optimizer: { momentum: opt.momentum, weightDecay: opt.weightDecay, nesterov: opt.nesterov, decay: opt.decay, lrScale: opt.lrScale, headLr: options.headLr },
      data: this.dataSource,
      dataFingerprint: this.dataFingerprint,
      decoder: options.trainSet.decoder,
      classes: options.trainSet.classes,
      imageSize: [options.trainSet.shape[0], options.trainSet.shape[1]],
      preprocessing: this.prep,
    }, options.flags);
    const unhealthy = checkRunHealth(options.model, momenta, ckptFile);
    if (unhealthy.found.length) {
      tf.dispose([...momenta.values()]);
      throw new TrainError(`${unhealthy.describe()}: that run had diverged, it cannot be resumed. Start again (${options.flags ? restartWay(options.flags) : '--force'}) with a lower learning rate.`, 'CHECKPOINT');
    }
    this.opt.loadStateDict(momenta);
    tf.dispose([...momenta.values()]);
    this.step = state.step;
    const done = Math.floor(this.step / stepsPerEpoch);
    if (this.logFile) this.history = readRunLog<EpochMetrics>(this.logFile, done, this.log);
    this.best = new BestTracker(this.history);
    this.log(`resumed from ${ckptFile} at step ${this.step} (epoch ${done + 1})`);
    this.lastGood = { file: ckptFile, step: this.step };
    // A checkpoint taken at the end of an epoch holds the finished epoch's generator and sums: the
    // next epoch starts fresh, exactly as in an uninterrupted run.
    if (state.epoch !== done) return undefined;
    this.accum = state.accum;
    return state.rng.augment;
  }

  private state(): TrainingState {
    const { opt } = this;
    return {
      step: this.step,
      epoch: this.epoch,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
      batchSize: this.batchSize,
      seed: this.seed,
      schedule: this.schedule,
      optimizer: {
        type: 'SGD',
        momentum: opt.momentum,
        weightDecay: opt.weightDecay,
        nesterov: opt.nesterov,
        decay: opt.decay,
        lrScale: { ...opt.lrScale },
        ...(this.options.headLr !== undefined ? { headLr: this.options.headLr } : {}),
      },
      freeze: this.options.freeze,
      augment: this.augment,
      rng: { shuffle: { seed: this.seed, epoch: this.epoch }, augment: this.aug.getState() },
      accum: { ...this.accum },
      trainSize: this.N,
      imageSize: [this.options.trainSet.shape[0], this.options.trainSet.shape[1]],
      ...(this.dataSource !== undefined ? { data: this.dataSource } : {}),
      ...(this.dataFingerprint !== undefined ? { dataFingerprint: this.dataFingerprint } : {}),
      ...(this.options.trainSet.decoder !== undefined ? { decoder: this.options.trainSet.decoder } : {}),
    };
  }

  private async saveCheckpoint(): Promise<void> {
    if (!this.ckptFile) return;
    const momenta = this.opt.stateDict();
    const extra = new Map([...momenta].map(([k, t]) => [`optimizer.momentum.${k}`, t]));
    try {
      const training = JSON.stringify(this.state());
      await saveWeights(this.ckptFile, this.options.model, { ...this.meta, training, extra_prefixes: JSON.stringify(['optimizer']), seed: String(this.seed) }, extra);
      this.lastGood = { file: this.ckptFile, step: this.step };
    } finally {
      tf.dispose([...momenta.values()]);
    }
  }

  /**
   * The diverged-run message when any weight, running statistic or momentum is NaN or Inf, or (with
   * `probe`) when the outputs in eval mode are, on the first {@link PROBE_IMAGES} images of the
   * evaluation set, else of the training set; else undefined.
   */
  private healthMessage(lr: number, probe: boolean): string | undefined {
    const momenta = this.opt.stateDict();
    try {
      const tally = checkRunHealth(this.options.model, momenta);
      if (tally.found.length) return divergedMessage(tally, { step: this.step, epoch: this.epoch, lr }, this.lastGood);
    } finally {
      tf.dispose([...momenta.values()]);
    }
    if (!probe) return undefined;
    const set = this.evalSet ?? this.options.trainSet;
    const r = this.evaluateOn(set, PROBE_IMAGES);
    return this.outputsMessage({ set: this.setName(set), n: r.test.n, nonFinite: r.nonFinite, loss: r.test.loss }, lr, this.lastGood);
  }

  /** The diverged-run message when an evaluation's outputs are NaN or Inf (see {@link outputsDiverged}), else undefined. */
  private outputsMessage(check: OutputsCheck, lr: number, last: LastGood | string): string | undefined {
    if (!outputsDiverged(check)) return undefined;
    return outputsDivergedMessage(check, { step: this.step, epoch: this.epoch, lr }, largestMagnitude(this.options.model), last);
  }

  /**
   * The diverged-run message of a run that ends with its loss exploded (finite outputs) in eval mode
   * (on the evaluation set, else a probe of training images) and far off in training
   * (`DIVERGED_TRAIN_LOSS_TIMES`): its weights are no result. The training loss alone is not enough: a
   * head at a high rate can spike it while the model in eval mode is right.
   */
  private explodedAtEnd(m: EpochMetrics): string | undefined {
    if (!lossExploded(m.trainLoss, this.K, DIVERGED_TRAIN_LOSS_TIMES)) return undefined;
    const [set, loss] = this.evalSet && m.testLoss !== undefined
      ? [this.setName(this.evalSet), m.testLoss]
      : ['training', this.evaluateOn(this.options.trainSet, PROBE_IMAGES).test.loss];
    if (!lossExploded(loss, this.K)) return undefined;
    return explodedLossMessage({ train: m.trainLoss, eval: loss, set }, this.K, { step: this.step, epoch: this.epoch, lr: this.lastLr }, this.lastGood);
  }

  private setName(set: Dataset): string {
    return set === this.options.valSet ? 'validation' : set === this.options.testSet ? 'test' : 'training';
  }

  /**
   * Evaluates, logs and reports the epoch just finished; keeps best.safetensors. Returns the
   * diverged-run message instead when the evaluation's outputs are NaN or Inf (nothing logged or saved).
   */
  private async finishEpoch(partial: boolean): Promise<string | undefined> {
    const seconds = (Date.now() - this.epochStart) / 1000;
    const { accum } = this;
    const m: EpochMetrics = {
      epoch: this.epoch + 1,
      step: this.step,
      lr: this.lastLr,
      trainLoss: accum.lossSum / Math.max(accum.seen, 1),
      trainAcc: accum.correct / Math.max(accum.seen, 1),
      imagesPerSec: accum.seen / Math.max(seconds, 1e-9),
      seconds,
      ...(partial ? { partial: true } : {}),
    };
    if (this.evalSet) {
      const { test: r, nonFinite } = this.evaluateOn(this.evalSet);
      const diverged = this.outputsMessage({ set: this.setName(this.evalSet), n: r.n, nonFinite, loss: r.loss }, this.lastLr, this.lastGood);
      if (diverged) return diverged;
      Object.assign(m, { evalSet: this.options.valSet ? 'val' : 'test', testLoss: r.loss, top1: r.top1, ...(r.top5 !== undefined ? { top5: r.top5 } : {}) });
    }
    const exploded = this.step === this.totalSteps ? this.explodedAtEnd(m) : undefined;
    if (exploded) return exploded;
    if (this.options.valSet && this.best.offer(m)) {
      m.best = true;
      if (this.folder) await saveWeights(path.join(this.folder.dir, BEST_FILE), this.options.model, { ...this.meta, training: JSON.stringify({ epoch: m.epoch, step: this.step, top1: m.top1, loss: m.testLoss }) });
    }
    this.history.push(m);
    if (this.logFile) {
      try {
        fs.appendFileSync(this.logFile, JSON.stringify(m) + '\n');
      } catch (e) {
        throw fileError(e, this.logFile, 'append to');
      }
    }
    this.options.onEpoch?.(m);
    if (this.bar) process.stderr.write('\r\x1b[2K');
    this.log(epochLine(m, Math.ceil(this.totalSteps / this.stepsPerEpoch)) + (m.best ? ' (best so far)' : ''));
    this.notes.after(m);
    return undefined;
  }

  /**
   * Loss, top-1 and (with more than 5 classes) top-5 in eval mode with the training preprocessing,
   * and the number of images with NaN or Inf logits; the first `limit` images only when given.
   */
  private evaluateOn(set: Dataset, limit?: number): { test: FinalTest; nonFinite: number } {
    const r = evaluate(this.options.model, set, { batchSize: this.options.evalBatchSize ?? 256, preprocessing: this.prep, limit });
    // Eval mode caches batch-norm-folded weights; the next SGD step makes them stale, so free them
    // now rather than carry a second copy of the weights through the next epoch.
    this.options.model.clearAllCaches();
    return { test: { n: r.n, loss: r.loss, top1: r.top1, ...(this.K > 5 ? { top5: r.top5 } : {}) }, nonFinite: r.nonFinite };
  }

  /** Moves to epoch `e` when the step crossed into it: new order, augmentation generator and sums. */
  private enterEpoch(e: number): void {
    if (e === this.epoch) return;
    this.epoch = e;
    this.order = epochOrder(this.N, this.seed, e);
    this.aug.setState(augmentRng(this.seed, e).getState());
    this.accum = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    this.epochStart = Date.now();
  }

  /** The steps until the end, an abort or a divergence. */
  private async loop(): Promise<{ stopped: TrainResult['stopped']; message?: string }> {
    const { options, batchSize, stepsPerEpoch, totalSteps } = this;
    const idx = new Int32Array(batchSize);
    const shape = [this.batcher.outH, this.batcher.outW, this.batcher.channels] as const;
    while (this.step < totalSteps) {
      // Let signal handlers (Ctrl-C) and timers run between steps: a step itself may be synchronous.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) return this.aborted();
      this.enterEpoch(Math.floor(this.step / stepsPerEpoch));
      const b = this.step % stepsPerEpoch;
      const n = Math.min(batchSize, this.N - b * batchSize);
      for (let i = 0; i < n; i++) idx[i] = this.order[b * batchSize + i];
      const t0 = Date.now();
      const batch = this.batcher.fill(idx.subarray(0, n), this.augment, this.aug);
      const lr = learningRate(this.schedule, this.step);
      this.lastLr = lr;
      const stepLr = this.stepSchedule === this.schedule ? lr : learningRate(this.stepSchedule, this.step);
      const r = await sgdStep(options.model, { x: batch.x, labels: batch.labels, shape: [n, ...shape] }, this.params, this.opt, stepLr);
      if (!r.applied) return { stopped: 'nan', message: this.lossMessage(r.loss, lr, idx.subarray(0, n)) };
      const ips = n / Math.max((Date.now() - t0) / 1000, 1e-9);
      this.step++;
      this.accum.lossSum += r.loss * n;
      this.accum.correct += r.correct;
      this.accum.seen += n;
      this.accum.seconds = (Date.now() - this.epochStart) / 1000;
      this.bar?.update(this.step, { loss: r.loss.toFixed(4), ips: ips.toFixed(1) });
      options.onProgress?.({ step: this.step, totalSteps, epoch: this.epoch + 1, loss: r.loss, lr, imagesPerSec: ips });
      const endOfEpoch = this.step % stepsPerEpoch === 0;
      const every = options.checkpointEvery;
      const checkpointNow = endOfEpoch || this.step === totalSteps || (every && this.step % every === 0);
      // A finite loss is not enough: never evaluate, checkpoint or finish from non-finite weights, nor
      // from finite weights whose outputs are NaN or Inf. An epoch's evaluation checks the outputs
      // before its checkpoint; every other checkpoint (--checkpoint-every, and each epoch's without an
      // evaluation set) is preceded by a probe of the outputs on a few images.
      const epochDone = endOfEpoch || this.step === totalSteps;
      const message = checkpointNow ? this.healthMessage(lr, !(epochDone && this.evalSet)) : undefined;
      if (message) return { stopped: 'nan', message };
      const diverged = epochDone ? await this.finishEpoch(!endOfEpoch) : undefined;
      if (diverged) return { stopped: 'nan', message: diverged };
      if (checkpointNow) await this.saveCheckpoint();
    }
    // Ctrl-C during the last evaluation or save: the checkpoint is complete, but the run was interrupted.
    return options.signal?.aborted ? this.aborted() : { stopped: 'done' };
  }

  /** The message of a step whose loss is NaN or Inf: the data's fault when its inputs are (also logged), else the run's. */
  private lossMessage(loss: number, lr: number, batch: Int32Array): string {
    const at = `Loss became ${loss} at step ${this.step + 1} (epoch ${this.epoch + 1}, lr ${lr})`;
    const cause = nonFiniteInputs(this.options.trainSet, this.prep, batch);
    if (!cause) return `${at}; training stopped without saving. ${lastGoodText(this.lastGood)} Try a lower learning rate or a warm-up.`;
    this.log(`note: the loss is ${loss} because of the data: ${cause}`);
    return `${at} because of the data: ${cause}; training stopped without saving.`;
  }

  /** An interrupted run: saves a checkpoint unless the weights went bad. */
  private async aborted(): Promise<{ stopped: TrainResult['stopped']; message?: string }> {
    const message = this.healthMessage(this.lastLr, true);
    if (message) return { stopped: 'nan', message };
    await this.saveCheckpoint();
    this.log(`interrupted at step ${this.step}: checkpoint saved${this.ckptFile ? ` to ${this.ckptFile}` : ''}; continue with --resume`);
    return { stopped: 'aborted' };
  }

  /**
   * After a finished run: the test set (when the epochs used a validation set), model.safetensors and
   * curves.svg; a run whose test-set outputs are NaN or Inf stops as diverged without model.safetensors.
   */
  private async finish(stopped: TrainResult['stopped'], message: string | undefined): Promise<TrainResult> {
    const { options, folder } = this;
    let test: FinalTest | undefined;
    if (stopped === 'done' && options.valSet && options.testSet) {
      const r = this.evaluateOn(options.testSet);
      const saved =
        this.ckptFile &&
        `model.safetensors was not written; the checkpoint ${this.ckptFile} (step ${this.step}) holds these same weights (their validation outputs were finite).`;
      message = this.outputsMessage({ set: 'test', n: r.test.n, nonFinite: r.nonFinite, loss: r.test.loss }, this.lastLr, saved || this.lastGood);
      if (message) stopped = 'nan';
      else {
        test = r.test;
        this.log(`test set (last weights): loss ${test.loss.toFixed(4)} top-1 ${(100 * test.top1).toFixed(2)} %${test.top5 !== undefined ? ` top-5 ${(100 * test.top5).toFixed(2)} %` : ''} on ${test.n} images`);
      }
    }
    if (stopped === 'done' && folder) {
      const training = JSON.stringify({ step: this.step, epochs: this.step / this.stepsPerEpoch, schedule: this.schedule, seed: this.seed, batchSize: this.batchSize, freeze: options.freeze });
      await saveWeights(path.join(folder.dir, MODEL_FILE), options.model, { ...this.meta, training });
      const svg = curvesSvg(this.history, `Training curves (${this.history.length} epochs)`);
      await writeBytesAtomic(path.join(folder.dir, 'curves.svg'), Buffer.from(svg));
    }
    const best = folder && this.best.epoch > 0 ? { epoch: this.best.epoch, top1: this.best.top1, file: path.join(folder.dir, BEST_FILE) } : undefined;
    return { stopped, step: this.step, totalSteps: this.totalSteps, history: this.history, checkpoint: this.ckptFile, best, test, preprocessing: this.prep, message };
  }
}
