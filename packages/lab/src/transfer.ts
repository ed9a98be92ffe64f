/**
 * Transfer learning, measured: pretrain a CIFAR-style ResNet on some classes of a data set (by
 * default Fashion-MNIST's first five), then fine-tune on the other classes from a few labelled
 * images per class, four ways: pretrained or from scratch, with the backbone frozen (only the new
 * head trains; frozen batch norms keep their statistics) or fully fine-tuned. Several seeds (each
 * draws its own few-shot sample, head and batch order); mean ± std of top-1 on the new classes'
 * whole test set. Resumable: the pretraining checkpoints as it goes and every finished fine-tune
 * run is kept as JSON, so rerunning the same command continues where it stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type ResNet } from '@resnet-ts/core';
import {
  CHECKPOINT_FILE,
  MODEL_FILE,
  Dataset,
  Preprocessing,
  ResumeFlags,
  cifarPadTo,
  evaluate,
  initFromPretrained,
  loadData,
  scaledPaperSchedule,
  subset,
  train,
} from '@resnet-ts/train';
import { BATCH, COUNT, CommandHost, CommonCommandValues, DATA_OPTION, ExperimentInputError, LEARNING_RATE, WEIGHT_DECAY } from './command.js';
import { CommonOptions, ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { ExperimentInterruptedError, untilInterrupted } from './interrupt.js';
import { pct, writeAtomic, writeReport } from './report.js';
import { TRANSFER_CONDITIONS, TransferCondition, TransferResult, TransferRun, accuracyPlot, conditionLabel, reportBody, summarize } from './transfer-report.js';

export * from './transfer-report.js';
import { TrainFn, cifarNet, fmtDuration } from './training.js';

/** Options of {@link runTransfer}. */
export interface TransferOptions extends CommonOptions {
  /** The whole labelled training and test sets (e.g. Fashion-MNIST); the experiment splits them by class. */
  trainSet: Dataset;
  testSet: Dataset;
  /** Names the data in reports. */
  dataName?: string;
  /** Class indices to pretrain on (default the first half) and to transfer to (default the rest). */
  sourceClasses?: number[];
  targetClasses?: number[];
  /** Labelled images per new class for fine-tuning (default 50). */
  perClass?: number;
  /** Seeds of the fine-tuning runs (default 0, 1, 2). */
  seeds?: number[];
  /** Depth 6n+2 of the CIFAR-style ResNet (default 20) and its stage widths (default 16, 32, 64). */
  depth?: number;
  widths?: number[];
  /** Zero-pad the images to this size (default 32x32 for smaller images, as the CIFAR stem expects). */
  padTo?: [number, number];
  /** Pretraining: epochs (default 4), batch (128), base lr (0.1, /10 at 50 % and 75 %), first N source images (all). */
  pretrainEpochs?: number;
  pretrainBatch?: number;
  pretrainLr?: number;
  pretrainLimit?: number;
  /** Source test images evaluated after each pretraining epoch (default 1000). */
  pretrainTestLimit?: number;
  /** Fine-tuning: epochs (default 30), batch (25), base lr (0.01, /10 at 50 % and 75 %), weight decay (5e-4). */
  finetuneEpochs?: number;
  finetuneBatch?: number;
  finetuneLr?: number;
  finetuneWeightDecay?: number;
  /** Test images of the new classes to score (default: all of them). */
  testLimit?: number;
  /** Where the pretraining run and the per-run JSON files go (default `<out>/runs`). */
  workDir?: string;
  /** Continue from what `workDir` holds (default true); false starts over. */
  resume?: boolean;
  /** The trainer (default `@resnet-ts/train`'s). */
  trainFn?: TrainFn;
  progressBar?: boolean;
  /** Stops at a safe point when aborted (the pretraining saves a checkpoint; finished fine-tuning runs are kept), then throws {@link ExperimentInterruptedError}. */
  signal?: AbortSignal;
}


/**
 * The images of `classIds` relabelled 0..k-1 in that order; with `perClass`, that many per class
 * drawn without replacement by `seed` (an error when a class has fewer).
 */
export function classSubset(d: Dataset, classIds: number[], perClass?: number, seed = 0): Dataset {
  const byClass = classIds.map(() => [] as number[]);
  const slot = new Map(classIds.map((c, i) => [c, i]));
  for (let i = 0; i < d.labels.length; i++) {
    const s = slot.get(d.labels[i]);
    if (s !== undefined) byClass[s].push(i);
  }
  const rng = new Rng(seed);
  const picked = byClass.flatMap((idx, s) => {
    if (perClass === undefined) return idx;
    if (idx.length < perClass) throw new ExperimentInputError(`class '${d.classes[classIds[s]]}' has ${idx.length} images; ${perClass} per class were asked for.`);
    const order = rng.permutation(idx.length);
    return Array.from({ length: perClass }, (_, k) => idx[order[k]]);
  });
  picked.sort((a, b) => a - b);
  const sub = subset(d, picked);
  const labels = Int32Array.from(sub.labels, (l) => slot.get(l)!);
  return { ...sub, labels, classes: classIds.map((c) => d.classes[c]) };
}

/** Copies of the backbone's parameters and batch-norm buffers (all but `fc.*`), which a backbone freeze must leave unchanged. */
function backboneSnapshot(model: ResNet): Map<string, tf.Tensor> {
  // num_batches_tracked is a step counter, not a weight or a statistic: left out.
  const named = [...model.namedParameters(), ...model.namedBuffers()].filter(([n]) => !n.startsWith('fc.') && !n.endsWith('num_batches_tracked'));
  return new Map(named.map(([n, v]) => [n, tf.clone(v)]));
}

function maxChange(model: ResNet, before: Map<string, tf.Tensor>): number {
  const now = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  let worst = 0;
  for (const [n, t] of before) worst = Math.max(worst, tf.tidy(() => tf.max(tf.abs(tf.sub(now.get(n)!, t))).dataSync()[0]));
  return worst;
}

interface Resolved {
  out: string;
  work: string;
  source: number[];
  target: number[];
  perClass: number;
  seeds: number[];
  depth: number;
  padTo?: [number, number];
  trainFn: TrainFn;
  log: (m: string) => void;
}

function resolve(o: TransferOptions): Resolved {
  const K = o.trainSet.classes.length;
  const half = Math.floor(K / 2);
  const source = o.sourceClasses ?? Array.from({ length: half }, (_, i) => i);
  const target = o.targetClasses ?? Array.from({ length: K }, (_, i) => i).filter((c) => !source.includes(c));
  for (const [what, list] of [['source', source], ['target', target]] as const) {
    if (list.length < 2) throw new ExperimentInputError(`transfer: the ${what} classes must be at least 2; got ${list.length}.`);
    for (const c of list) if (!Number.isInteger(c) || c < 0 || c >= K) throw new ExperimentInputError(`transfer: class ${c} is not one of the data's ${K} classes (0 to ${K - 1}).`);
  }
  if (source.some((c) => target.includes(c))) throw new ExperimentInputError('transfer: the source and target classes must not overlap.');
  const perClass = o.perClass ?? 50;
  // Before any training: a few-shot sample larger than a class would otherwise fail after the pretraining.
  const counts = new Map<number, number>();
  for (const l of o.trainSet.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  for (const c of target)
    if ((counts.get(c) ?? 0) < perClass)
      throw new ExperimentInputError(`transfer: class '${o.trainSet.classes[c]}' has ${counts.get(c) ?? 0} training images; ${perClass} per class were asked for.`);
  const out = o.out ?? defaultOut('transfer');
  return {
    out,
    work: o.workDir ?? path.join(out, 'runs'),
    source,
    target,
    perClass,
    seeds: o.seeds ?? [0, 1, 2],
    depth: o.depth ?? 20,
    padTo: cifarPadTo('cifar', o.trainSet.shape, o.padTo),
    trainFn: o.trainFn ?? train,
    log: o.log ?? (() => {}),
  };
}

/**
 * The options of `resnet lab transfer` that set what a resume of its pretraining compares, for the
 * trainer's refusals to name (the command has no --epochs, --limit or --model): batch and learning
 * rate are no options there, so named in words. A new run is another --work-dir, or --out without one.
 */
function pretrainFlags(o: TransferOptions): ResumeFlags {
  return {
    data: '--data',
    trainSize: '--pretrain-limit, --source-classes',
    classes: '--source-classes',
    seed: '--seed',
    length: '--pretrain-epochs',
    architecture: '--depth (and --source-classes)',
    restart: '--no-resume',
    out: o.workDir ? '--work-dir' : '--out',
  };
}

/** Pretrains on the source classes into `<work>/pretrain` (resuming a checkpoint there). */
async function pretrain(o: TransferOptions, r: Resolved): Promise<{ file: string; prep: Preprocessing; info: TransferResult['pretrain'] }> {
  const dir = path.join(r.work, 'pretrain');
  let trainSet = classSubset(o.trainSet, r.source);
  if (o.pretrainLimit) trainSet = subset(trainSet, Int32Array.from({ length: Math.min(o.pretrainLimit, trainSet.labels.length) }, (_, i) => i));
  const testAll = classSubset(o.testSet, r.source);
  const testSet = subset(testAll, Int32Array.from({ length: Math.min(o.pretrainTestLimit ?? 1000, testAll.labels.length) }, (_, i) => i));
  const epochs = o.pretrainEpochs ?? 4;
  const batchSize = o.pretrainBatch ?? 128;
  const totalSteps = epochs * Math.ceil(trainSet.labels.length / batchSize);
  const model = cifarNet(r.depth, { residual: true, inChannels: trainSet.shape[2], numClasses: r.source.length, seed: o.seed ?? 0, widths: o.widths });
  const resume = (o.resume ?? true) && fs.existsSync(path.join(dir, CHECKPOINT_FILE));
  r.log(`pretraining ResNet-${r.depth} on ${r.source.length} classes (${trainSet.labels.length} images, ${epochs} epochs) in ${dir}${resume ? ' (resuming)' : ''}`);
  try {
    const res = await r.trainFn({
      model,
      trainSet,
      testSet,
      epochs,
      batchSize,
      schedule: scaledPaperSchedule(totalSteps, o.pretrainLr ?? 0.1),
      momentum: 0.9,
      weightDecay: 1e-4,
      seed: o.seed ?? 0,
      preprocessing: r.padTo ? { padTo: r.padTo } : {},
      augment: { pad: 4, flip: true },
      outDir: dir,
      resume,
      force: !resume,
      flags: pretrainFlags(o),
      progressBar: o.progressBar,
      signal: o.signal,
      // The trainer's way on ("continue with --resume") is `resnet train`'s; the lab resumes by rerunning the command.
      log: (m) => r.log(`  pretrain: ${m.replace(/; continue with --resume$/, '')}`),
    });
    if (res.stopped === 'aborted')
      throw new ExperimentInterruptedError(`interrupted: the pretraining stopped at step ${res.step}/${res.totalSteps}, its checkpoint saved in ${dir}`);
    if (res.stopped !== 'done') throw new ExperimentInputError(`transfer: the pretraining diverged${res.message ? ` (${res.message})` : ''}.`);
    const last = res.history[res.history.length - 1];
    const seconds = res.history.reduce((s, m) => s + m.seconds, 0);
    const info = {
      trainImages: trainSet.labels.length,
      epochs,
      sourceTop1: last?.top1,
      seconds,
      imagesPerSec: seconds > 0 ? (epochs * trainSet.labels.length) / seconds : NaN,
      stopped: res.stopped,
    };
    return { file: path.join(dir, MODEL_FILE), prep: res.preprocessing, info };
  } finally {
    model.dispose();
  }
}

/** The settings a finished run was made with: a stored run is reused only when they all agree. */
function runKey(o: TransferOptions, r: Resolved, c: TransferCondition, seed: number): string {
  return JSON.stringify({
    version: 2,
    ...c,
    seed,
    source: r.source,
    target: r.target,
    perClass: r.perClass,
    depth: r.depth,
    widths: o.widths ?? null,
    epochs: o.finetuneEpochs ?? 30,
    batch: o.finetuneBatch ?? 25,
    lr: o.finetuneLr ?? 0.01,
    wd: o.finetuneWeightDecay ?? 5e-4,
    testLimit: o.testLimit ?? null,
    pretrain: [o.pretrainEpochs ?? 4, o.pretrainBatch ?? 128, o.pretrainLr ?? 0.1, o.pretrainLimit ?? null, o.seed ?? 0],
  });
}

/** One fine-tuning run: a few-shot sample of the target classes, the model started as `c` says, trained, scored. */
async function finetune(o: TransferOptions, r: Resolved, c: TransferCondition, seed: number, base: { file: string; prep: Preprocessing }): Promise<TransferRun> {
  const started = Date.now();
  const trainSet = classSubset(o.trainSet, r.target, r.perClass, 7919 * seed + 1);
  const testAll = classSubset(o.testSet, r.target);
  const testSet = o.testLimit ? subset(testAll, Int32Array.from({ length: Math.min(o.testLimit, testAll.labels.length) }, (_, i) => i)) : testAll;
  // The new head's own seed, kept within the 32-bit seeds models take (seeds near 2^32 wrap around).
  const headSeed = (1000 + seed) % 2 ** 32;
  const model =
    c.init === 'pretrained'
      ? (await initFromPretrained(base.file, { classes: trainSet.classes, seed: headSeed })).model
      : cifarNet(r.depth, { residual: true, inChannels: trainSet.shape[2], numClasses: r.target.length, seed: headSeed, widths: o.widths });
  const before = backboneSnapshot(model);
  const epochs = o.finetuneEpochs ?? 30;
  const batchSize = o.finetuneBatch ?? 25;
  const preprocessing = { mean: base.prep.mean, std: base.prep.std, ...(base.prep.padTo ? { padTo: base.prep.padTo } : {}) };
  try {
    const res = await r.trainFn({
      model,
      trainSet,
      epochs,
      batchSize,
      schedule: scaledPaperSchedule(epochs * Math.ceil(trainSet.labels.length / batchSize), o.finetuneLr ?? 0.01),
      momentum: 0.9,
      weightDecay: o.finetuneWeightDecay ?? 5e-4,
      seed,
      freeze: c.freeze,
      preprocessing,
      augment: { pad: 4, flip: true },
      progressBar: false,
      signal: o.signal,
    });
    // An interrupted fine-tuning run is not kept (it has no checkpoint): it runs again on resume.
    if (res.stopped === 'aborted')
      throw new ExperimentInterruptedError(`interrupted during the fine-tuning run ${conditionLabel(c)}, seed ${seed} (the finished runs are kept)`);
    const scored = evaluate(model, testSet, { preprocessing });
    return {
      ...c,
      seed,
      top1: res.stopped === 'done' ? scored.top1 : NaN,
      testLoss: res.stopped === 'done' ? scored.loss : NaN,
      testImages: scored.n,
      testImagesAll: testAll.labels.length,
      trainImages: trainSet.labels.length,
      stopped: res.stopped,
      backboneMaxChange: maxChange(model, before),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    tf.dispose([...before.values()]);
    model.dispose();
  }
}

/** Every condition x seed, each reused from `<work>/finetune/<name>.json` when it was made with the same settings. */
async function finetuneAll(o: TransferOptions, r: Resolved, base: { file: string; prep: Preprocessing }): Promise<TransferRun[]> {
  const runs: TransferRun[] = [];
  const total = TRANSFER_CONDITIONS.length * r.seeds.length;
  for (const seed of r.seeds) {
    for (const c of TRANSFER_CONDITIONS) {
      const file = path.join(r.work, 'finetune', `${c.init}-${c.freeze}-seed${seed}.json`);
      const key = runKey(o, r, c, seed);
      const stored = (o.resume ?? true) && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { key: string; run: TransferRun }) : undefined;
      let run = stored?.key === key ? stored.run : undefined;
      if (!run) {
        if (o.signal?.aborted)
          throw new ExperimentInterruptedError(`interrupted before the fine-tuning run ${conditionLabel(c)}, seed ${seed} (the finished runs are kept)`);
        run = await finetune(o, r, c, seed, base);
        await writeAtomic(file, JSON.stringify({ key, run }, null, 2) + '\n');
      }
      runs.push(run);
      r.log(`[${runs.length}/${total}] ${conditionLabel(c)}, seed ${seed}: top-1 ${pct(run.top1)} on ${run.testImages} test images (${fmtDuration(run.seconds)}${stored?.key === key ? ', stored' : ''})`);
    }
  }
  return runs;
}

/** Runs the transfer experiment and writes its report (result.json, accuracy.svg, report.md). */
export async function runTransfer(o: TransferOptions): Promise<ExperimentOutput<TransferResult>> {
  const started = Date.now();
  const r = resolve(o);
  const base = await pretrain(o, r);
  const runs = await finetuneAll(o, r, base);
  const summary = summarize(runs);
  const result: TransferResult = {
    data: o.dataName ?? 'data',
    sourceClasses: r.source.map((c) => o.trainSet.classes[c]),
    targetClasses: r.target.map((c) => o.trainSet.classes[c]),
    perClass: r.perClass,
    seeds: r.seeds,
    depth: r.depth,
    recipe: {
      pretrain: { epochs: o.pretrainEpochs ?? 4, batch: o.pretrainBatch ?? 128, lr: o.pretrainLr ?? 0.1, momentum: 0.9, weightDecay: 1e-4 },
      finetune: { epochs: o.finetuneEpochs ?? 30, batch: o.finetuneBatch ?? 25, lr: o.finetuneLr ?? 0.01, momentum: 0.9, weightDecay: o.finetuneWeightDecay ?? 5e-4 },
    },
    pretrain: base.info,
    runs,
    summary,
  };
  const plots = { 'accuracy.svg': accuracyPlot(result) };
  const info = { ...runInfo('transfer', o as CommonOptions, started), trainingSeconds: base.info.seconds + runs.reduce((s, x) => s + x.seconds, 0) };
  const files = await writeReport(r.out, { info, result, plots, title: 'Transfer: pretrained vs scratch, frozen vs full fine-tuning', body: reportBody(result, o.pretrainTestLimit ?? 1000) });
  return { info, result, files };
}

/** The command-line values of `resnet lab transfer`. */
interface TransferCommandValues extends CommonCommandValues {
  data: string;
  sourceClasses?: number[];
  targetClasses?: number[];
  perClass: number;
  seeds: number[];
  depth: number;
  pretrainEpochs: number;
  pretrainLimit?: number;
  finetuneEpochs: number;
  finetuneBatch: number;
  finetuneLr: number;
  finetuneWd: number;
  testLimit?: number;
  workDir?: string;
  resume: boolean;
}

/** `resnet lab transfer`: loads the data set and runs the experiment. */
async function transferFromCommand(v: TransferCommandValues, host: CommandHost, signal?: AbortSignal): Promise<ExperimentOutput<TransferResult>> {
  const pair = await loadData(v.data, { seed: v.seed });
  if (!pair.test) throw new ExperimentInputError(`${v.data} has no test split.`);
  const { data, sourceClasses, targetClasses, perClass, seeds, depth, pretrainEpochs, pretrainLimit, finetuneEpochs, testLimit, workDir, resume } = v;
  return runTransfer({
    ...host.reporting,
    trainSet: pair.train,
    testSet: pair.test,
    dataName: pair.kind === data ? data : `${pair.kind} (${data})`,
    ...{ sourceClasses, targetClasses, perClass, seeds, depth, pretrainEpochs, pretrainLimit, finetuneEpochs, testLimit, workDir, resume },
    finetuneBatch: v.finetuneBatch,
    finetuneLr: v.finetuneLr,
    finetuneWeightDecay: v.finetuneWd,
    signal,
  });
}

const CLASS_LIST = { type: 'integerList', min: 0, max: 1e6 } as const;

registerExperiment<TransferOptions, TransferResult, TransferCommandValues>({
  name: 'transfer',
  description: 'pretrain on some classes, fine-tune on the others from a few images: pretrained vs scratch, frozen vs full (mean ± std over seeds)',
  run: runTransfer,
  command: {
    summary: 'transfer learning: pretrain on half the classes, fine-tune on the rest from a few images (pretrained/scratch x frozen/full, seeds)',
    engine: { default: 'auto', training: true },
    options: [
      DATA_OPTION,
      { flags: '--source-classes <list>', description: 'class indices to pretrain on (default: the first half)', kind: CLASS_LIST },
      { flags: '--target-classes <list>', description: 'class indices to transfer to (default: the others)', kind: CLASS_LIST },
      { flags: '--per-class <n>', description: 'labelled images per new class', kind: COUNT, default: 50 },
      { flags: '--seeds <list>', description: 'seeds of the fine-tuning runs', kind: { type: 'integerList', min: 0, max: 2 ** 32 - 1 }, default: [0, 1, 2] },
      { flags: '--depth <n>', description: 'ResNet depth 6n+2', kind: { type: 'integer', min: 8, max: 1202, rule: 'cifar-depth' }, default: 20 },
      { flags: '--pretrain-epochs <n>', description: 'pretraining epochs (lr 0.1, /10 at 50 % and 75 %)', kind: COUNT, default: 4 },
      { flags: '--pretrain-limit <n>', description: 'pretrain on the first n images of the source classes', kind: COUNT },
      { flags: '--finetune-epochs <n>', description: 'fine-tuning epochs', kind: COUNT, default: 30 },
      { flags: '--finetune-batch <n>', description: 'fine-tuning batch size', kind: BATCH, default: 25 },
      { flags: '--finetune-lr <x>', description: 'fine-tuning base learning rate (/10 at 50 % and 75 %)', kind: LEARNING_RATE, default: 0.01 },
      { flags: '--finetune-wd <x>', description: 'fine-tuning weight decay', kind: WEIGHT_DECAY, default: 5e-4 },
      { flags: '--test-limit <n>', description: 'score on the first n test images of the new classes (default: all)', kind: COUNT },
      { flags: '--work-dir <dir>', description: 'folder of the pretraining run and the finished fine-tuning runs (default <out>/runs)', kind: { type: 'text', what: 'a folder' } },
      { flags: '--no-resume', description: 'start over instead of continuing what --work-dir holds' },
    ],
    run: (v, host) => untilInterrupted(host, (signal) => transferFromCommand(v, host, signal)),
  },
});
