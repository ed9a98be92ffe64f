/**
 * Experiment 6 (issue #9): gradient flow. He et al. (2015, §1 and §4.1) argue that the degradation
 * of deep plain nets is not caused by vanishing gradients, because batch normalisation keeps the
 * backward signal at a healthy norm, while the residual form gives the gradient a direct path. This
 * experiment measures it: for plain-N and ResNet-N at several depths, at initialisation and after a
 * few SGD steps, the norm of the gradient of the loss with respect to every conv/linear layer's
 * weights (in depth order) and with respect to every block's input; with batch norm, without it, and
 * with `zeroInitResidual`.
 *
 * The block inputs are captured without re-implementing the model: the forward pass runs the
 * model's own modules (stem, each block's `forward`, pool, classifier) and passes each block's input
 * through an identity tap (`tf.customGrad`) whose backward pass records the norm of the gradient
 * arriving there. One backward pass yields the weight gradients and every block-input norm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients, type ResNet } from '@resnet-ts/core';
import { Batcher, Dataset, Preprocessing, channelStats, loadData, takeFirst, train } from '@resnet-ts/train';
import { BATCH, COUNT, CommandHost, DATA_OPTION, ExperimentInputError, LEARNING_RATE, WEIGHT_DECAY } from './command.js';
import { ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { PALETTE, Series, lineChart } from '@resnet-ts/plot';
import { fmtNum, mdTable, writeReport } from './report.js';
import { SgdRecipeOptions, cifarNet, cifarPadTo, fmtDuration, timeTrainStep } from './training.js';

/**
 * The variants measured, each for plain and residual nets:
 * - `bn`: batch norm after every conv, ordinary initialisation (the baseline, as in the paper);
 * - `no-bn`: no batch norm (convs get biases): the regime BN hides;
 * - `zero-init`: batch norm, and the last BN gamma of every residual branch starts at zero
 *   (`zeroInitResidual`: each residual block starts as the identity);
 * - `no-bn-zero-init`: no batch norm, and the last conv of every residual branch starts at zero.
 * Zero-init applies to residual nets only: in a plain net it would zero every block's output and
 * with it every gradient below the last block, so the plain net of a zero-init setting is the plain
 * net of the same BN setting (measured once and shared).
 */
export type GradFlowSetting = 'bn' | 'no-bn' | 'zero-init' | 'no-bn-zero-init';

/** What each {@link GradFlowSetting} switches. */
export const GRADFLOW_SETTINGS: Record<GradFlowSetting, { batchNorm: boolean; zeroInitResidual: boolean; label: string }> = {
  bn: { batchNorm: true, zeroInitResidual: false, label: 'with BN' },
  'no-bn': { batchNorm: false, zeroInitResidual: false, label: 'without BN' },
  'zero-init': { batchNorm: true, zeroInitResidual: true, label: 'with BN and zeroInitResidual' },
  'no-bn-zero-init': { batchNorm: false, zeroInitResidual: true, label: 'without BN, with zeroInitResidual' },
};

/** Whether `s` names a {@link GradFlowSetting}. */
export function isGradFlowSetting(s: string): s is GradFlowSetting {
  return Object.prototype.hasOwnProperty.call(GRADFLOW_SETTINGS, s);
}

/**
 * The conv and linear weights of `model` in depth order (stem conv, each block's convs, classifier),
 * with their dotted names; shortcut projections (`downsample`, options B/C) are left out so that the
 * i-th entry is the i-th layer of the net's depth. BN parameters and biases are not layers.
 */
export function layerWeights(model: ResNet): [string, tf.Variable][] {
  return model.namedParameters().filter(([name, v]) => name.endsWith('.weight') && v.rank >= 2 && !name.includes('downsample'));
}

/**
 * The Euclidean (Frobenius) norm of `t`, robust to float32 over- and underflow (scaled by the
 * largest magnitude first): finite gradients of 1e25 or 1e-25 get their true norm instead of inf or 0.
 * Infinite entries give Infinity, NaN entries NaN. Returns a scalar tensor.
 */
export function robustNorm(t: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const m = tf.max(tf.abs(t));
    const safe = tf.where(tf.greater(m, 0), m, tf.onesLike(m));
    const n = tf.mul(m, tf.sqrt(tf.sum(tf.square(tf.div(t, safe)))));
    return tf.where(tf.isInf(m), m, n) as tf.Scalar;
  });
}

/** An identity in the forward pass whose backward pass hands the incoming gradient to `record` (which must not dispose it). */
function gradientTap(record: (dy: tf.Tensor) => void): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(((x: tf.Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor) => {
      record(dy);
      return dy;
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
}

/**
 * Logits of `model` computed by its own modules (stem, every block's `forward`, pool, classifier:
 * the same sequence as `ResNet.forward`), with `tap(i, h)` applied to the input of block i.
 */
export function tappedForward(
  model: ResNet,
  x: tf.Tensor,
  training: boolean,
  tap: (i: number, h: tf.Tensor) => tf.Tensor = (_, h) => h,
): tf.Tensor2D {
  const ctx = { training };
  let y = x;
  for (const m of model.stem) y = m.forward(y, ctx);
  model.blocks().forEach((b, i) => {
    y = b.forward(tap(i, y), ctx);
  });
  return model.fc.forward(model.pool.forward(y)) as tf.Tensor2D;
}

/** Gradient norms of one batch (see {@link gradientNorms}). */
export interface GradNorms {
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** ‖∂L/∂W‖ per conv/linear layer, in depth order ({@link layerWeights}). */
  layers: number[];
  /** ‖∂L/∂h_i‖ for the input h_i of every block i (stem output first). */
  blockInputs: number[];
}

/**
 * One forward and backward pass on a batch: the loss L is the batch's mean softmax cross-entropy
 * (what SGD minimises), the norms are Frobenius norms of the whole gradient tensors (for a block
 * input: over the batch). `training` (default true) runs batch norm on batch statistics, as in a
 * training step; the BN running statistics are restored afterwards, so measuring changes nothing.
 * Leaves no tensors behind.
 */
export function gradientNorms(model: ResNet, x: tf.Tensor, labels: tf.Tensor1D, training = true): GradNorms {
  const weights = layerWeights(model);
  const saved = model.namedBuffers().map(([, v]) => tf.clone(v));
  const nBlocks = model.blocks().length;
  const tapped: (tf.Scalar | undefined)[] = new Array(nBlocks).fill(undefined);
  const taps = Array.from({ length: nBlocks }, (_, i) =>
    gradientTap((dy) => {
      tapped[i]?.dispose();
      tapped[i] = tf.keep(robustNorm(dy));
    }),
  );
  try {
    const { loss: value, grads } = lossAndGradients(model, x, labels, {
      training,
      params: weights.map(([, v]) => v),
      forward: (input, ctx) => tappedForward(model, input, ctx.training, (i, h) => taps[i](h)),
    });
    const norms = tf.tidy(() => tf.stack(weights.map(([, v]) => robustNorm(grads[v.name]))));
    const layers = Array.from(norms.dataSync());
    const loss = value.dataSync()[0];
    tf.dispose([value, norms, ...Object.values(grads)]);
    const blockInputs = tapped.map((t) => (t ? t.dataSync()[0] : 0)); // no tap call: no gradient reached that block
    return { loss, layers, blockInputs };
  } finally {
    tf.dispose(tapped.filter((t): t is tf.Scalar => t !== undefined));
    model.namedBuffers().forEach(([, v], i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/** A batch held as tensors (the caller disposes them). */
export interface GradFlowBatch {
  x: tf.Tensor4D;
  labels: tf.Tensor1D;
}

/** The element-wise mean of {@link gradientNorms} over `batches`. */
export function meanGradientNorms(model: ResNet, batches: GradFlowBatch[], training = true): GradNorms {
  if (batches.length === 0) throw new Error('meanGradientNorms needs at least one batch.');
  const all = batches.map((b) => gradientNorms(model, b.x, b.labels, training));
  const mean = (pick: (g: GradNorms) => number[]) => pick(all[0]).map((_, i) => all.reduce((s, g) => s + pick(g)[i], 0) / all.length);
  return {
    loss: all.reduce((s, g) => s + g.loss, 0) / all.length,
    layers: mean((g) => g.layers),
    blockInputs: mean((g) => g.blockInputs),
  };
}

/**
 * The first `count` batches of `batchSize` images of `data`, prepared as the trainer prepares them
 * (normalisation, padding; no augmentation): the fixed batches every net is measured on.
 */
export function fixedBatches(data: Dataset, prep: Preprocessing, batchSize: number, count: number): GradFlowBatch[] {
  const N = data.labels.length;
  const out: GradFlowBatch[] = [];
  const batcher = new Batcher(data, batchSize, prep);
  for (let b = 0; b < count && b * batchSize < N; b++) {
    const n = Math.min(batchSize, N - b * batchSize);
    const { x, labels } = batcher.fill(Int32Array.from({ length: n }, (_, i) => b * batchSize + i));
    out.push({
      x: tf.tensor4d(Float32Array.from(x), [n, batcher.outH, batcher.outW, batcher.channels]),
      labels: tf.tensor1d(Int32Array.from(labels), 'int32'),
    });
  }
  return out;
}

/** Options of {@link runGradFlow}: the training data (its first images are the measurement batches) and recipe (default batch 64, constant lr 0.1), and what to measure. */
export interface GradFlowOptions extends SgdRecipeOptions {
  /** Depths 6n+2 (default 20, 56, 110, 218). */
  depths?: number[];
  /** Variants (default bn, no-bn, zero-init). */
  settings?: GradFlowSetting[];
  /** Training steps after which to measure; 0 is the initialisation (default 0, 10, 30: every step of every net costs time). */
  steps?: number[];
  /** Batches the norms are averaged over (default 2). */
  batches?: number;
  /** Measure with BN on batch statistics (default true, as in training) or on running statistics. */
  training?: boolean;
}

/** One net measured at one point of its training. */
export interface GradFlowMeasurement {
  /** `plain56`, `resnet56`. */
  net: string;
  family: 'plain' | 'resnet';
  depth: number;
  setting: GradFlowSetting;
  /** SGD steps taken before measuring (0: initialisation). */
  step: number;
  /** Mean loss over the measurement batches. */
  loss: number;
  /** Mean ‖∂L/∂W‖ per conv/linear layer, in depth order (layer 1 = stem conv, last = classifier). */
  layers: number[];
  /** Mean ‖∂L/∂h_i‖ per block input. */
  blockInputs: number[];
  firstLayer: number;
  lastLayer: number;
  /** firstLayer / lastLayer. */
  ratio: number;
  /** First block input / last block input. */
  blockRatio: number;
  /** Entries of `layers` and `blockInputs` that are inf or NaN, and that are exactly zero (a log plot drops both). */
  nonFinite: number;
  zeros: number;
}

/** How one net's training went. */
export interface GradFlowNet {
  net: string;
  family: 'plain' | 'resnet';
  depth: number;
  setting: GradFlowSetting;
  batchNorm: boolean;
  zeroInitResidual: boolean;
  params: number;
  /** Dotted names of the measured weights, in depth order. */
  layerNames: string[];
  /** SGD steps actually taken. */
  trainedSteps: number;
  stopped: 'done' | 'nan' | 'aborted';
  message?: string;
  seconds: number;
  /** Set when this net is identical to one measured under another setting and its numbers were reused. */
  sharedWith?: GradFlowSetting;
}

/** Everything `gradflow` measured. */
export interface GradFlowResult {
  data: string;
  depths: number[];
  settings: GradFlowSetting[];
  steps: number[];
  batches: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  training: boolean;
  /** The duration estimated before starting, in seconds. */
  estimatedSeconds: number;
  nets: GradFlowNet[];
  measurements: GradFlowMeasurement[];
  /** The report's conclusions, generated from the numbers. */
  findings: string[];
}

const isBad = (v: number) => !Number.isFinite(v);

function measurement(
  net: { net: string; family: 'plain' | 'resnet'; depth: number; setting: GradFlowSetting },
  step: number,
  g: GradNorms,
): GradFlowMeasurement {
  const firstLayer = g.layers[0];
  const lastLayer = g.layers[g.layers.length - 1];
  const all = [...g.layers, ...g.blockInputs];
  return {
    ...net,
    step,
    loss: g.loss,
    layers: g.layers,
    blockInputs: g.blockInputs,
    firstLayer,
    lastLayer,
    ratio: firstLayer / lastLayer,
    blockRatio: g.blockInputs[0] / g.blockInputs[g.blockInputs.length - 1],
    nonFinite: all.filter(isBad).length,
    zeros: all.filter((v) => v === 0).length,
  };
}

/** Runs the gradient-flow experiment and writes its report. */
export async function runGradFlow(options: GradFlowOptions): Promise<ExperimentOutput<GradFlowResult>> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const out = options.out ?? defaultOut('gradflow');
  const depths = [...new Set(options.depths ?? [20, 56, 110, 218])].sort((a, b) => a - b);
  const settings = [...new Set(options.settings ?? (['bn', 'no-bn', 'zero-init'] as GradFlowSetting[]))];
  for (const s of settings)
    if (!isGradFlowSetting(s)) throw new Error(`Unknown setting '${s}'. Known: ${Object.keys(GRADFLOW_SETTINGS).join(', ')}.`);
  const steps = [...new Set(options.steps ?? [0, 10, 30])].sort((a, b) => a - b);
  if (steps.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`steps must be non-negative integers; got ${steps.join(', ')}.`);
  for (const d of depths)
    if (!Number.isInteger((d - 2) / 6) || d < 8) throw new Error(`depth must be 6n+2 (8, 14, 20, 56, 110, 218, ...); got ${d}.`);
  const batches = options.batches ?? 2;
  const batchSize = options.batchSize ?? 64;
  const lr = options.lr ?? 0.1;
  const momentum = options.momentum ?? 0.9;
  const weightDecay = options.weightDecay ?? 1e-4;
  const training = options.training ?? true;
  const seed = options.seed ?? 0;
  const trainSet = options.trainSet;
  const [h, w, c] = trainSet.shape;
  const padTo = cifarPadTo(trainSet.shape, options.padTo);
  const prep: Preprocessing = { ...channelStats(trainSet), ...(padTo ? { padTo } : {}) };
  const inHW: [number, number] = padTo ?? [h, w];
  const numClasses = trainSet.classes.length;
  const maxStep = steps[steps.length - 1] ?? 0;
  const dataName = options.dataName ?? 'data';

  // The nets: zero-init changes residual nets only, so a plain net is shared between settings with the same BN switch.
  interface Job {
    net: string;
    family: 'plain' | 'resnet';
    depth: number;
    setting: GradFlowSetting;
    batchNorm: boolean;
    zeroInitResidual: boolean;
    key: string;
  }
  const jobs: Job[] = settings.flatMap((setting) =>
    depths.flatMap((depth) =>
      (['plain', 'resnet'] as const).map((family) => {
        const s = GRADFLOW_SETTINGS[setting];
        const zeroInitResidual = family === 'resnet' && s.zeroInitResidual;
        return {
          net: `${family}${depth}`,
          family,
          depth,
          setting,
          batchNorm: s.batchNorm,
          zeroInitResidual,
          key: `${family}${depth}/bn=${s.batchNorm}/zero=${zeroInitResidual}`,
        };
      }),
    ),
  );
  // Built inside tf.tidy (parameters are variables, which tidy keeps): zero-initialising a block
  // leaves a temporary tensor behind in @resnet-ts/blocks.
  const build = (j: Job) => {
    let model: ResNet | undefined;
    tf.tidy(() => {
      model = cifarNet(j.depth, {
        residual: j.family === 'resnet',
        inChannels: c,
        numClasses,
        seed,
        widths: options.widths,
        spec: { batchNorm: j.batchNorm, zeroInitResidual: j.zeroInitResidual },
      });
    });
    return model!;
  };
  const unique = jobs.filter((j, i) => jobs.findIndex((k) => k.key === j.key) === i);

  // Estimate: one timed training step per architecture at a small batch, scaled linearly (a
  // measuring pass costs about one training step).
  log(
    `gradflow: ${unique.length} nets (${settings.join(', ')} x plain/ResNet x depths ${depths.join(', ')}), measured at steps ${steps.join(', ')} ` +
      `on ${batches} batch${batches === 1 ? '' : 'es'} of ${batchSize}, ${maxStep} SGD steps each on ${dataName}; timing one step of each architecture...`,
  );
  const probeBatch = Math.min(batchSize, 16);
  const stepSeconds = new Map<string, number>();
  const passes = maxStep + batches * steps.length;
  let estimate = 0;
  for (const j of unique) {
    const arch = `${j.family}${j.depth}/bn=${j.batchNorm}`;
    if (!stepSeconds.has(arch)) {
      const m = build(j);
      try {
        stepSeconds.set(arch, timeTrainStep(m, probeBatch, [inHW[0], inHW[1], c]) * (batchSize / probeBatch));
      } finally {
        m.dispose();
      }
    }
    estimate += stepSeconds.get(arch)! * passes;
  }
  log(
    `expected duration: about ${fmtDuration(estimate)} on ${tf.getBackend()} (${passes} forward+backward passes of ${batchSize} images per net: ` +
      `${maxStep} SGD steps and ${batches * steps.length} measuring passes; nets whose training diverges finish sooner)`,
  );

  const measureBatches = fixedBatches(trainSet, prep, batchSize, batches);
  const nets: GradFlowNet[] = [];
  const measurements: GradFlowMeasurement[] = [];
  const done = new Map<string, Job>();
  let spent = 0;
  const runStart = Date.now();
  try {
    for (const [k, j] of jobs.entries()) {
      const tag = `[${k + 1}/${jobs.length}] ${j.net} (${j.setting})`;
      const same = done.get(j.key);
      if (same) {
        const base = nets.find((n) => n.net === same.net && n.setting === same.setting)!;
        nets.push({ ...base, setting: j.setting, sharedWith: same.setting });
        const reused = measurements.filter((x) => x.net === same.net && x.setting === same.setting);
        measurements.push(...reused.map((m) => ({ ...m, setting: j.setting })));
        log(`${tag}: the same net as under '${same.setting}': numbers reused`);
        continue;
      }
      const t0 = Date.now();
      const model = build(j);
      const id = { net: j.net, family: j.family, depth: j.depth, setting: j.setting };
      const measure = (step: number) => {
        const m = measurement(id, step, meanGradientNorms(model, measureBatches, training));
        measurements.push(m);
        log(
          `  ${j.net} (${j.setting}) step ${step}: loss ${fmtNum(m.loss)}, ‖∂L/∂W‖ first ${fmtNum(m.firstLayer)} last ${fmtNum(m.lastLayer)} ` +
            `(ratio ${fmtNum(m.ratio)}), block inputs first/last ${fmtNum(m.blockRatio)}` +
            (m.nonFinite ? `, ${m.nonFinite} non-finite` : ''),
        );
      };
      const netEstimate = stepSeconds.get(`${j.family}${j.depth}/bn=${j.batchNorm}`)! * passes;
      // The time left, corrected by how the estimate compared with the nets done so far.
      const pace = spent > 0 ? (Date.now() - runStart) / 1000 / spent : 1;
      log(
        `${tag}: ${model.numParameters()} params, about ${fmtDuration(netEstimate * pace)}; about ${fmtDuration(Math.max(0, estimate - spent) * pace)} left in all`,
      );
      let trainedSteps = 0;
      let stopped: GradFlowNet['stopped'] = 'done';
      let message: string | undefined;
      try {
        if (steps.includes(0)) measure(0);
        if (maxStep > 0) {
          let lastLog = Date.now();
          const res = await (options.trainFn ?? train)({
            model,
            trainSet,
            iterations: maxStep,
            batchSize,
            schedule: { type: 'constant', lr },
            momentum,
            weightDecay,
            seed,
            preprocessing: prep,
            augment: options.augment === undefined ? { pad: 4, flip: true } : options.augment,
            progressBar: options.progressBar ?? false,
            onProgress: (p) => {
              trainedSteps = p.step;
              if (steps.includes(p.step)) measure(p.step);
              else if (Date.now() - lastLog > 30000) {
                lastLog = Date.now();
                log(
                  `  ${j.net} (${j.setting}): step ${p.step}/${p.totalSteps}, loss ${p.loss.toFixed(4)}, ${p.imagesPerSec.toFixed(0)} img/s`,
                );
              }
            },
          });
          stopped = res.stopped;
          message = res.message;
          trainedSteps = res.step;
          if (res.stopped !== 'done')
            log(`  ${j.net} (${j.setting}): training stopped at step ${res.step} (${res.stopped}${res.message ? `: ${res.message}` : ''})`);
        }
      } finally {
        const params = model.numParameters();
        const layerNames = layerWeights(model).map(([n]) => n);
        model.dispose();
        const seconds = (Date.now() - t0) / 1000;
        spent += netEstimate;
        nets.push({
          net: j.net,
          family: j.family,
          depth: j.depth,
          setting: j.setting,
          batchNorm: j.batchNorm,
          zeroInitResidual: j.zeroInitResidual,
          params,
          layerNames,
          trainedSteps,
          stopped,
          ...(message ? { message } : {}),
          seconds,
        });
        done.set(j.key, j);
      }
    }
  } finally {
    for (const b of measureBatches) tf.dispose([b.x, b.labels]);
  }

  const findings = gradFlowFindings(measurements, nets, depths, settings, steps);
  const result: GradFlowResult = {
    data: dataName,
    depths,
    settings,
    steps,
    batches,
    batchSize,
    lr,
    momentum,
    weightDecay,
    training,
    estimatedSeconds: estimate,
    nets,
    measurements,
    findings,
  };
  const plots = gradFlowPlots(result);
  const info = runInfo('gradflow', options, started);
  const files = writeReport(out, {
    info,
    result,
    plots: plots.svgs,
    title: 'Gradient flow: plain vs residual nets',
    body: gradFlowBody(result, plots.dropped),
  });
  return { info, result, files };
}

const netLabel = (m: { family: 'plain' | 'resnet'; depth: number }) => `${m.family === 'plain' ? 'plain' : 'ResNet'}-${m.depth}`;

/** Plots: per setting and measured step, one figure of ‖∂L/∂W‖ per layer and one of ‖∂L/∂h‖ per block input. */
export function gradFlowPlots(r: GradFlowResult): {
  svgs: Record<string, string>;
  dropped: { file: string; net: string; count: number }[];
} {
  const svgs: Record<string, string> = {};
  const dropped: { file: string; net: string; count: number }[] = [];
  for (const setting of r.settings) {
    for (const step of r.steps) {
      const ms = r.measurements.filter((m) => m.setting === setting && m.step === step);
      if (ms.length === 0) continue;
      const when = step === 0 ? 'at initialisation' : `after ${step} SGD steps`;
      for (const kind of ['weights', 'inputs'] as const) {
        const file = `${setting}-${kind}-step${step}.svg`;
        const series: Series[] = ms.map((m) => {
          const y = kind === 'weights' ? m.layers : m.blockInputs;
          const bad = y.filter((v) => !(Number.isFinite(v) && v > 0)).length;
          if (bad) dropped.push({ file, net: netLabel(m), count: bad });
          return {
            name: `${netLabel(m)}${bad ? ` (${bad} of ${y.length} values non-finite or 0, not drawn)` : ''}`,
            x: y.map((_, i) => i + 1),
            y: y.map((v) => (Number.isFinite(v) && v > 0 ? v : NaN)),
            color: PALETTE[r.depths.indexOf(m.depth) % PALETTE.length],
            dash: m.family === 'plain' ? ('dashed' as const) : ('solid' as const),
            markers: y.length <= 60,
          };
        });
        svgs[file] = lineChart(series, {
          title: `${kind === 'weights' ? '‖∂L/∂W‖ per layer' : '‖∂L/∂h‖ per block input'}, ${GRADFLOW_SETTINGS[setting].label}, ${when}`,
          xLabel: kind === 'weights' ? 'layer (1 = first conv, last = classifier)' : 'block (1 = first block)',
          yLabel: kind === 'weights' ? 'gradient norm of the layer weights (log)' : 'gradient norm at the block input (log)',
          logY: true,
        });
      }
    }
  }
  return { svgs, dropped };
}

const fmtRatio = (v: number) => (Number.isFinite(v) ? fmtNum(v) : String(v));

/** How a first/last ratio reads: more than ten times smaller/larger is vanishing/exploding. */
export function describeRatio(ratio: number): 'vanishing' | 'exploding' | 'balanced' | 'undefined' {
  if (!Number.isFinite(ratio) || Number.isNaN(ratio)) return 'undefined';
  if (ratio < 0.1) return 'vanishing';
  if (ratio > 10) return 'exploding';
  return 'balanced';
}

/** The conclusions of the report, generated from the measurements (no fixed text about the outcome). */
export function gradFlowFindings(
  measurements: GradFlowMeasurement[],
  nets: GradFlowNet[],
  depths: number[],
  settings: GradFlowSetting[],
  steps: number[],
): string[] {
  const out: string[] = [];
  const get = (setting: GradFlowSetting, family: 'plain' | 'resnet', depth: number, step: number) =>
    measurements.find((m) => m.setting === setting && m.family === family && m.depth === depth && m.step === step);
  const reading = (v: number) => {
    const d = describeRatio(v);
    return d === 'vanishing'
      ? 'the first layer gets less than a tenth of the last layer’s gradient (vanishing)'
      : d === 'exploding'
        ? 'the first layer gets more than ten times the last layer’s gradient (exploding)'
        : d === 'balanced'
          ? 'within a factor of ten (no vanishing or exploding)'
          : 'not a number: the gradients overflowed or became NaN';
  };
  const first = steps[0];
  for (const setting of settings) {
    const label = GRADFLOW_SETTINGS[setting].label;
    const pairs = depths
      .map((d) => ({ d, p: get(setting, 'plain', d, first), r: get(setting, 'resnet', d, first) }))
      .filter((x) => x.p && x.r);
    if (pairs.length === 0) continue;
    const when = first === 0 ? 'at initialisation' : `after ${first} steps`;
    out.push(
      `**${label[0].toUpperCase()}${label.slice(1)}, ${when}**, first-layer/last-layer ratio of ‖∂L/∂W‖: ` +
        pairs.map(({ d, p, r }) => `plain-${d} ${fmtRatio(p!.ratio)} vs ResNet-${d} ${fmtRatio(r!.ratio)}`).join('; ') +
        '. Block inputs, first/last: ' +
        pairs.map(({ d, p, r }) => `plain-${d} ${fmtRatio(p!.blockRatio)} vs ResNet-${d} ${fmtRatio(r!.blockRatio)}`).join('; ') +
        '.',
    );
    const deep = pairs[pairs.length - 1];
    const shallow = pairs[0];
    for (const fam of ['plain', 'resnet'] as const) {
      const a = fam === 'plain' ? shallow.p! : shallow.r!;
      const b = fam === 'plain' ? deep.p! : deep.r!;
      const name = fam === 'plain' ? 'plain' : 'ResNet';
      out.push(
        `- ${name}-${deep.d}: ratio ${fmtRatio(b.ratio)}: ${reading(b.ratio)}` +
          (pairs.length > 1 && Number.isFinite(a.ratio) && Number.isFinite(b.ratio) && a.ratio > 0 && b.ratio > 0
            ? `; from ${name}-${shallow.d} to ${name}-${deep.d} the ratio changes by a factor ${fmtNum(b.ratio / a.ratio)}.`
            : '.'),
      );
    }
    const lastStep = steps[steps.length - 1];
    if (lastStep !== first) {
      const later = depths
        .map((d) => ({ d, p: get(setting, 'plain', d, lastStep), r: get(setting, 'resnet', d, lastStep) }))
        .filter((x) => x.p || x.r);
      if (later.length)
        out.push(
          `- After ${lastStep} SGD steps: ` +
            later
              .map(
                ({ d, p, r }) =>
                  `plain-${d} ${p ? fmtRatio(p.ratio) : 'not reached'} vs ResNet-${d} ${r ? fmtRatio(r.ratio) : 'not reached'}`,
              )
              .join('; ') +
            '.',
        );
    }
    const failed = nets.filter((n) => n.setting === setting && n.stopped !== 'done');
    if (failed.length)
      out.push(
        `- Training diverged (loss inf/NaN) for ${failed.map((n) => `${netLabel(n)} at step ${n.trainedSteps + 1}`).join(', ')}: later measurements are missing.`,
      );
    const bad = measurements.filter((m) => m.setting === setting && m.nonFinite > 0);
    if (bad.length)
      out.push(
        `- Non-finite gradient norms (inf/NaN): ${bad.map((m) => `${netLabel(m)} step ${m.step} (${m.nonFinite} values)`).join(', ')}; they are left out of the plots.`,
      );
  }
  // The paper's claim, judged on the baseline with BN at the first measured step.
  const base = settings.includes('bn') ? 'bn' : settings.includes('zero-init') ? 'zero-init' : undefined;
  if (base) {
    const deepest = [...depths].reverse().find((d) => get(base, 'plain', d, first));
    const p = deepest !== undefined ? get(base, 'plain', deepest, first) : undefined;
    const r = deepest !== undefined ? get(base, 'resnet', deepest, first) : undefined;
    const lastStep = steps[steps.length - 1];
    const pl = deepest !== undefined && lastStep !== first ? get(base, 'plain', deepest, lastStep) : undefined;
    const rl = deepest !== undefined && lastStep !== first ? get(base, 'resnet', deepest, lastStep) : undefined;
    // Distance from 1 on a log scale; a ratio of 0 (the first layer's gradient underflowed) or inf is infinitely far.
    const distance = (v: number) => (v > 0 && Number.isFinite(v) ? Math.abs(Math.log10(v)) : Number.isNaN(v) ? NaN : Infinity);
    const closer = (a: number, b: number) => {
      const [da, db] = [distance(a), distance(b)];
      if (Number.isNaN(da) || Number.isNaN(db) || (da === Infinity && db === Infinity)) return 'not comparable with';
      return da < db ? 'closer to 1 than' : 'not closer to 1 than';
    };
    if (p && r) {
      const dp = describeRatio(p.ratio);
      const dbp = describeRatio(p.blockRatio);
      const verdict =
        dp === 'balanced' && dbp === 'balanced'
          ? `supports He et al.’s argument: with BN the deepest plain net’s gradient does not vanish (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)}), so vanishing gradients do not explain its degradation`
          : dp === 'vanishing' || dbp === 'vanishing'
            ? `does not support He et al.’s argument here: even with BN the gradient reaching plain-${deepest}'s first layers is more than ten times smaller (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)}) than at its last layers`
            : dp === 'exploding' || dbp === 'exploding'
              ? `qualifies He et al.’s argument: with BN the deepest plain net’s gradient does not vanish but grows towards the input (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)})`
              : `cannot judge He et al.’s argument: the deepest plain net’s gradient norms are not finite`;
      out.push(
        `**The paper’s claim.** Measured ${first === 0 ? 'at initialisation' : `after ${first} steps`} ${GRADFLOW_SETTINGS[base].label}, plain-${deepest} vs ResNet-${deepest} (ratio ${fmtRatio(p.ratio)} vs ${fmtRatio(r.ratio)}): this ${verdict}. ` +
          `The residual net’s ratio is ${closer(r.ratio, p.ratio)} the plain net’s.` +
          (pl && rl
            ? ` After ${lastStep} SGD steps: plain-${deepest} ${fmtRatio(pl.ratio)} (${describeRatio(pl.ratio)}), ResNet-${deepest} ${fmtRatio(rl.ratio)} (${describeRatio(rl.ratio)}): the residual net’s ratio is ${closer(rl.ratio, pl.ratio)} the plain net’s.`
            : ''),
      );
    }
  }
  const nobn = settings.find((s) => !GRADFLOW_SETTINGS[s].batchNorm);
  if (nobn) {
    const deepest = [...depths].reverse().find((d) => get(nobn, 'plain', d, first));
    const p = deepest !== undefined ? get(nobn, 'plain', deepest, first) : undefined;
    const r = deepest !== undefined ? get(nobn, 'resnet', deepest, first) : undefined;
    if (p && r)
      out.push(
        `**What BN hides.** ${GRADFLOW_SETTINGS[nobn].label[0].toUpperCase()}${GRADFLOW_SETTINGS[nobn].label.slice(1)}, plain-${deepest}'s first/last ratio is ${fmtRatio(p.ratio)} (${describeRatio(p.ratio)}; block inputs ${fmtRatio(p.blockRatio)}, ${describeRatio(p.blockRatio)}), ` +
          `ResNet-${deepest}'s ${fmtRatio(r.ratio)} (${describeRatio(r.ratio)}; block inputs ${fmtRatio(r.blockRatio)}, ${describeRatio(r.blockRatio)}); ` +
          `loss at the first measurement ${fmtNum(p.loss)} (plain) and ${fmtNum(r.loss)} (ResNet).`,
      );
  }
  return out;
}

function gradFlowBody(r: GradFlowResult, dropped: { file: string; net: string; count: number }[]): string {
  const aug = 'random 4-pixel shifts and flips as the trainer does';
  const lines = [
    `Plain-N and ResNet-N (CIFAR layout: 3×3 conv, three stages of (N−2)/6 basic blocks at 16/32/64 channels, option A shortcuts, global average pool, linear classifier) ` +
      `at depths ${r.depths.join(', ')} on ${r.data}. Every net starts from the same seeded Kaiming initialisation (a plain net and the ResNet of the same depth have the same initial weights) ` +
      `and is measured ${r.steps.map((s) => (s === 0 ? 'at initialisation' : `after ${s}`)).join(', ')} SGD steps ` +
      `(batch ${r.batchSize}, constant lr ${r.lr}, momentum ${r.momentum}, weight decay ${r.weightDecay}, ${aug}; the same batch order for every net).`,
    '',
    `Measured: the loss L is the mean softmax cross-entropy of a batch; ‖∂L/∂W‖ is the Frobenius norm of the gradient of every conv and linear layer's weights in depth order ` +
      `(layer 1 = the first conv, the last = the classifier; shortcut projections are not layers of the depth), ‖∂L/∂h‖ that of the input of every block (for a plain net the same position), ` +
      `averaged over the first ${r.batches} batch${r.batches === 1 ? '' : 'es'} of ${r.batchSize} training images (no augmentation), batch norm ${r.training ? 'on batch statistics as in training' : 'on running statistics'}. ` +
      `The block inputs are captured by an identity \`tf.customGrad\` tap in front of each block; one backward pass gives all the numbers. ` +
      `"ratio" is first-layer/last-layer ‖∂L/∂W‖; below 0.1 the report calls it vanishing, above 10 exploding.`,
    '',
    `Settings: ${r.settings.map((s) => `\`${s}\` (${GRADFLOW_SETTINGS[s].label})`).join(', ')}. zeroInitResidual only changes residual nets (a plain net would output zero); the plain nets of a zero-init setting are those of the matching BN setting.`,
    '',
    '## Findings',
    '',
    ...r.findings.flatMap((f) => (f.startsWith('- ') ? [f] : ['', f, ''])),
    '',
    '## Measurements',
    '',
    mdTable(
      [
        'net',
        'depth',
        'setting',
        'step',
        'loss',
        'first-layer ‖∂L/∂W‖',
        'last-layer ‖∂L/∂W‖',
        'ratio first/last',
        'block inputs first/last',
        'non-finite',
        'zero',
      ],
      r.measurements.map((m) => [
        m.family === 'plain' ? 'plain' : 'ResNet',
        m.depth,
        m.setting,
        m.step,
        m.loss,
        m.firstLayer,
        m.lastLayer,
        fmtRatio(m.ratio),
        fmtRatio(m.blockRatio),
        m.nonFinite,
        m.zeros,
      ]),
    ),
    '',
    mdTable(
      ['net', 'setting', 'params', 'SGD steps', 'status', 'seconds'],
      r.nets.map((n) => [
        netLabel(n),
        n.setting,
        n.params,
        n.trainedSteps,
        n.stopped + (n.sharedWith ? ` (same net as in ${n.sharedWith})` : ''),
        Number(n.seconds.toFixed(1)),
      ]),
    ),
  ];
  if (dropped.length)
    lines.push(
      '',
      `Values a log-scale plot cannot show (inf, NaN or exactly 0) are left out of the plots: ${dropped.map((d) => `${d.net} in ${d.file} (${d.count})`).join(', ')}. ` +
        "Exact zeros are expected with zeroInitResidual at initialisation: the zero gamma (or conv) at the end of each residual branch blocks the gradient to the branch's other weights.",
    );
  lines.push('', `Duration estimated before the run: ${fmtDuration(r.estimatedSeconds)}.`);
  return lines.join('\n');
}

/** The command-line values of `resnet lab gradflow`. */
interface GradFlowCommandValues {
  depths: number[];
  settings: GradFlowSetting[];
  trainSteps: number[];
  batches: number;
  batch: number;
  lr: number;
  wd: number;
  data: string;
  limit?: number;
  augment: boolean;
}

/** `resnet lab gradflow`: loads the data (its first images are the measurement batches) and runs the study. */
async function gradFlowFromCommand(v: GradFlowCommandValues & { seed: number }, host: CommandHost): Promise<ExperimentOutput<GradFlowResult>> {
  const pair = await loadData(v.data, { seed: v.seed });
  const trainSet = v.limit ? takeFirst(pair.train, v.limit) : pair.train;
  if (trainSet.labels.length < v.batch * v.batches)
    throw new ExperimentInputError(`--limit ${v.limit}: fewer images than --batches x --batch (${v.batches * v.batch}).`);
  return runGradFlow({
    trainSet,
    dataName: pair.kind + (v.limit ? ` (first ${v.limit} train images)` : ''),
    depths: v.depths,
    settings: v.settings,
    steps: v.trainSteps,
    batches: v.batches,
    batchSize: v.batch,
    lr: v.lr,
    weightDecay: v.wd,
    augment: v.augment ? { pad: 4, flip: pair.flip } : false,
    ...host.reporting,
  });
}

registerExperiment<GradFlowOptions, GradFlowResult, GradFlowCommandValues>({
  name: 'gradflow',
  description: 'Gradient flow: per-layer gradient norms of plain vs residual nets, with and without BN, at init and during training',
  run: runGradFlow,
  command: {
    summary:
      'gradient norm per layer and per block input, plain vs ResNet, with/without BN and zeroInitResidual, at init and during training (long: prints its duration)',
    engine: { default: 'auto', training: true },
    options: [
      { flags: '--depths <list>', description: 'depths 6n+2', kind: { type: 'integerList', min: 8, max: 10000, rule: 'cifar-depth' }, default: [20, 56, 110, 218] },
      {
        flags: '--settings <list>',
        description: `variants: ${Object.keys(GRADFLOW_SETTINGS).join(', ')} (bn = BN on, zeroInitResidual off: the baseline)`,
        kind: { type: 'choiceList', values: Object.keys(GRADFLOW_SETTINGS) },
        default: ['bn', 'no-bn', 'zero-init'],
      },
      {
        flags: '--train-steps <list>',
        description: 'measure after this many SGD steps (0 = at initialisation; every step of every net costs time)',
        kind: { type: 'integerList', min: 0, max: 1e6 },
        default: [0, 10, 30],
      },
      { flags: '--batches <n>', description: 'batches the norms are averaged over', kind: { type: 'integer', min: 1, max: 1e4 }, default: 2 },
      { flags: '--batch <n>', description: 'batch size (measuring and training)', kind: BATCH, default: 64 },
      { flags: '--lr <x>', description: 'constant learning rate (SGD, momentum 0.9)', kind: LEARNING_RATE, default: 0.1 },
      { flags: '--wd <x>', description: 'weight decay, from 0 (none) to below 1', kind: WEIGHT_DECAY, default: 1e-4 },
      DATA_OPTION,
      { flags: '--limit <n>', description: 'use only the first n training images', kind: COUNT },
      { flags: '--no-augment', description: 'no random crops or flips while training' },
    ],
    run: gradFlowFromCommand,
  },
});
