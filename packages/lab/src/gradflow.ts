/**
 * Experiment: gradient flow. He et al. (2015, §1 and §4.1) argue that the degradation
 * of deep plain nets is not caused by vanishing gradients, because batch normalisation keeps the
 * backward signal at a healthy norm, while the residual form gives the gradient a direct path. This
 * experiment measures it: for plain-N and ResNet-N at several depths, at initialisation and after a
 * few SGD steps, the norm of the gradient of the loss with respect to every conv/linear layer's
 * weights (in depth order) and with respect to every block's input; with batch norm, without it, and
 * with `zeroInitResidual`.
 *
 * The measuring pass is in gradflow-measure.ts, the plots and findings in gradflow-report.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResNet } from '@resnet-ts/core';
import { Preprocessing, channelStats, cifarPadTo, loadData, takeFirst, train } from '@resnet-ts/train';
import { BATCH, COUNT, CommandHost, DATA_OPTION, ExperimentInputError, LEARNING_RATE, WEIGHT_DECAY } from './command.js';
import { ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { GRADFLOW_SETTINGS, GradFlowBatch, GradFlowSetting, GradNorms, fixedBatches, isGradFlowSetting, layerWeights, meanGradientNorms } from './gradflow-measure.js';
import { GradFlowMeasurement, GradFlowNet, GradFlowResult, gradFlowBody, gradFlowFindings, gradFlowPlots } from './gradflow-report.js';
import { fmtNum, writeReport } from './report.js';
import { SgdRecipeOptions, cifarNet, fmtDuration, stoppedText, timeTrainStep } from './training.js';

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

/** The resolved settings of one gradflow run (defaults filled in, checked). */
interface GradFlowPlan {
  depths: number[];
  settings: GradFlowSetting[];
  steps: number[];
  batches: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  training: boolean;
  seed: number;
  prep: Preprocessing;
  inHW: [number, number];
  channels: number;
  maxStep: number;
  dataName: string;
}

function gradFlowPlan(options: GradFlowOptions): GradFlowPlan {
  const depths = [...new Set(options.depths ?? [20, 56, 110, 218])].sort((a, b) => a - b);
  const settings = [...new Set(options.settings ?? (['bn', 'no-bn', 'zero-init'] as GradFlowSetting[]))];
  for (const s of settings)
    if (!isGradFlowSetting(s)) throw new Error(`Unknown setting '${s}'. Known: ${Object.keys(GRADFLOW_SETTINGS).join(', ')}.`);
  const steps = [...new Set(options.steps ?? [0, 10, 30])].sort((a, b) => a - b);
  if (steps.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`steps must be non-negative integers; got ${steps.join(', ')}.`);
  for (const d of depths)
    if (!Number.isInteger((d - 2) / 6) || d < 8) throw new Error(`depth must be 6n+2 (8, 14, 20, 56, 110, 218, ...); got ${d}.`);
  const trainSet = options.trainSet;
  const [h, w, c] = trainSet.shape;
  const padTo = cifarPadTo('cifar', trainSet.shape, options.padTo);
  return {
    depths,
    settings,
    steps,
    batches: options.batches ?? 2,
    batchSize: options.batchSize ?? 64,
    lr: options.lr ?? 0.1,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 1e-4,
    training: options.training ?? true,
    seed: options.seed ?? 0,
    prep: { ...channelStats(trainSet), ...(padTo ? { padTo } : {}) },
    inHW: padTo ?? [h, w],
    channels: c,
    maxStep: steps[steps.length - 1] ?? 0,
    dataName: options.dataName ?? 'data',
  };
}

/** One net under one setting; `key` is the same for nets that are identical under two settings. */
interface Job {
  net: string;
  family: 'plain' | 'resnet';
  depth: number;
  setting: GradFlowSetting;
  batchNorm: boolean;
  zeroInitResidual: boolean;
  key: string;
}

/** The nets: zero-init changes residual nets only, so a plain net is shared between settings with the same BN switch. */
function gradFlowJobs(plan: GradFlowPlan): Job[] {
  return plan.settings.flatMap((setting) =>
    plan.depths.flatMap((depth) =>
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
}

/** Builds a job's net inside tf.tidy (parameters are variables, which tidy keeps): zero-initialising a block leaves a temporary tensor behind in @resnet-ts/blocks. */
function buildNet(j: Job, plan: GradFlowPlan, options: GradFlowOptions): ResNet {
  let model: ResNet | undefined;
  tf.tidy(() => {
    model = cifarNet(j.depth, {
      residual: j.family === 'resnet',
      inChannels: plan.channels,
      numClasses: options.trainSet.classes.length,
      seed: plan.seed,
      widths: options.widths,
      spec: { batchNorm: j.batchNorm, zeroInitResidual: j.zeroInitResidual },
    });
  });
  return model!;
}

const archKey = (j: Job) => `${j.family}${j.depth}/bn=${j.batchNorm}`;

/**
 * The duration estimate: one timed training step per architecture at the run's batch size (a step at
 * a small batch scaled up overestimates several times over: fixed costs dominate small batches); a
 * measuring pass costs about one training step. Returns seconds per pass of each architecture.
 */
function estimateGradFlow(unique: Job[], plan: GradFlowPlan, options: GradFlowOptions, log: (m: string) => void) {
  const { batches, batchSize, steps, maxStep, settings, depths } = plan;
  log(
    `gradflow: ${unique.length} nets (${settings.join(', ')} x plain/ResNet x depths ${depths.join(', ')}), measured at steps ${steps.join(', ')} ` +
      `on ${batches} batch${batches === 1 ? '' : 'es'} of ${batchSize}, ${maxStep} SGD steps each on ${plan.dataName}; timing one step of each architecture...`,
  );
  const time = options.timeStep ?? timeTrainStep;
  const stepSeconds = new Map<string, number>();
  const passes = maxStep + batches * steps.length;
  let estimate = 0;
  for (const j of unique) {
    if (!stepSeconds.has(archKey(j))) {
      const m = buildNet(j, plan, options);
      try {
        stepSeconds.set(archKey(j), time(m, batchSize, [plan.inHW[0], plan.inHW[1], plan.channels]));
      } finally {
        m.dispose();
      }
    }
    estimate += stepSeconds.get(archKey(j))! * passes;
  }
  log(
    `expected duration: about ${fmtDuration(estimate)} on ${tf.getBackend()} (${passes} forward+backward passes of ${batchSize} images per net: ` +
      `${maxStep} SGD steps and ${batches * steps.length} measuring passes; nets whose training diverges finish sooner)`,
  );
  return { stepSeconds, passes, estimate };
}

/** Measures one net at step 0 (when asked) and at every asked step while it trains; returns how its training went. */
async function trainAndMeasure(
  j: Job,
  model: ResNet,
  ctx: { plan: GradFlowPlan; options: GradFlowOptions; batches: GradFlowBatch[]; measurements: GradFlowMeasurement[]; log: (m: string) => void },
): Promise<Pick<GradFlowNet, 'trainedSteps' | 'stopped' | 'message'>> {
  const { plan, options, log } = ctx;
  const id = { net: j.net, family: j.family, depth: j.depth, setting: j.setting };
  const measure = (step: number) => {
    const m = measurement(id, step, meanGradientNorms(model, ctx.batches, plan.training));
    ctx.measurements.push(m);
    log(
      `  ${j.net} (${j.setting}) step ${step}: loss ${fmtNum(m.loss)}, ‖∂L/∂W‖ first ${fmtNum(m.firstLayer)} last ${fmtNum(m.lastLayer)} ` +
        `(ratio ${fmtNum(m.ratio)}), block inputs first/last ${fmtNum(m.blockRatio)}` +
        (m.nonFinite ? `, ${m.nonFinite} non-finite` : ''),
    );
  };
  let trainedSteps = 0;
  if (plan.steps.includes(0)) measure(0);
  if (plan.maxStep === 0) return { trainedSteps, stopped: 'done' };
  let lastLog = Date.now();
  const res = await (options.trainFn ?? train)({
    model,
    trainSet: options.trainSet,
    iterations: plan.maxStep,
    batchSize: plan.batchSize,
    schedule: { type: 'constant', lr: plan.lr },
    momentum: plan.momentum,
    weightDecay: plan.weightDecay,
    seed: plan.seed,
    preprocessing: plan.prep,
    augment: options.augment === undefined ? { pad: 4, flip: true } : options.augment,
    progressBar: options.progressBar ?? false,
    onProgress: (p) => {
      trainedSteps = p.step;
      if (plan.steps.includes(p.step)) measure(p.step);
      else if (Date.now() - lastLog > 30000) {
        lastLog = Date.now();
        log(`  ${j.net} (${j.setting}): step ${p.step}/${p.totalSteps}, loss ${p.loss.toFixed(4)}, ${p.imagesPerSec.toFixed(0)} img/s`);
      }
    },
  });
  if (res.stopped !== 'done')
    log(`  ${j.net} (${j.setting}): training stopped at step ${res.step} (${stoppedText(res.stopped)}${res.message ? `: ${res.message}` : ''})`);
  return { trainedSteps: res.step, stopped: res.stopped, message: res.message };
}

/** Runs the gradient-flow experiment and writes its report. */
export async function runGradFlow(options: GradFlowOptions): Promise<ExperimentOutput<GradFlowResult>> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const plan = gradFlowPlan(options);
  const jobs = gradFlowJobs(plan);
  const unique = jobs.filter((j, i) => jobs.findIndex((k) => k.key === j.key) === i);
  const { stepSeconds, passes, estimate } = estimateGradFlow(unique, plan, options, log);
  const batches = fixedBatches(options.trainSet, plan.prep, plan.batchSize, plan.batches);
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
      const model = buildNet(j, plan, options);
      const netEstimate = stepSeconds.get(archKey(j))! * passes;
      // The time left, corrected by how the estimate compared with the nets done so far.
      const pace = spent > 0 ? (Date.now() - runStart) / 1000 / spent : 1;
      log(
        `${tag}: ${model.numParameters()} params, about ${fmtDuration(netEstimate * pace)}; about ${fmtDuration(Math.max(0, estimate - spent) * pace)} left in all`,
      );
      let outcome: Pick<GradFlowNet, 'trainedSteps' | 'stopped' | 'message'> = { trainedSteps: 0, stopped: 'done' };
      try {
        outcome = await trainAndMeasure(j, model, { plan, options, batches, measurements, log });
      } finally {
        const params = model.numParameters();
        const layerNames = layerWeights(model).map(([n]) => n);
        model.dispose();
        spent += netEstimate;
        const { net, family, depth, setting, batchNorm, zeroInitResidual } = j;
        const { trainedSteps, stopped, message } = outcome;
        const seconds = (Date.now() - t0) / 1000;
        nets.push({ net, family, depth, setting, batchNorm, zeroInitResidual, params, layerNames, trainedSteps, stopped, ...(message ? { message } : {}), seconds });
        done.set(j.key, j);
      }
    }
  } finally {
    for (const b of batches) tf.dispose([b.x, b.labels]);
  }
  return await gradFlowReport(options, plan, { estimate, nets, measurements }, started);
}

async function gradFlowReport(
  options: GradFlowOptions,
  plan: GradFlowPlan,
  r: { estimate: number; nets: GradFlowNet[]; measurements: GradFlowMeasurement[] },
  started: number,
): Promise<ExperimentOutput<GradFlowResult>> {
  const { depths, settings, steps, batches, batchSize, lr, momentum, weightDecay, training } = plan;
  const findings = gradFlowFindings(r.measurements, r.nets, depths, settings, steps);
  const result: GradFlowResult = {
    data: plan.dataName,
    depths,
    settings,
    steps,
    batches,
    batchSize,
    lr,
    momentum,
    weightDecay,
    training,
    estimatedSeconds: r.estimate,
    nets: r.nets,
    measurements: r.measurements,
    findings,
  };
  const plots = gradFlowPlots(result);
  const info = runInfo('gradflow', options, started);
  const files = await writeReport(options.out ?? defaultOut('gradflow'), {
    info,
    result,
    plots: plots.svgs,
    title: 'Gradient flow: plain vs residual nets',
    body: gradFlowBody(result, plots.dropped),
  });
  return { info, result, files };
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
