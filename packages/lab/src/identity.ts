/**
 * Experiment 1, "identity is hard, zero is easy": a stack of 6 fully connected layers learns a
 * target that its first and last layers alone can represent (y = 4x + 3, or y = A x + c in d
 * dimensions). The 4 extra hidden layers must become the identity: plain layers `relu(W h + b)`
 * must learn W = I, residual layers `relu(h + W h + b)` only W = 0. Same parameters, same
 * initialisation, same data, same optimiser for both.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@resnet-ts/core';
import { COUNT, LEARNING_RATE } from './command.js';
import { CommonOptions, ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { diverged, identityBody, identityLossPlot, summarizeNet } from './identity-report.js';
import { ExperimentFailedError } from './evidence.js';
import { fmtNum, writeReport } from './report.js';

/** The two nets compared: extra layers `relu(W h + b)` (plain) or `relu(h + W h + b)` (residual). */
export type IdentityNet = 'plain' | 'residual';

/** One task: the input/output dimension d. d = 1 is y = 4x + 3. */
export interface IdentityTask {
  name: string;
  d: number;
}

export interface IdentityOptions extends CommonOptions {
  /** Tasks (default: scalar d = 1 and d = 8). */
  dims?: number[];
  /** Hidden width (default max(16, 4d); must be >= 2d). */
  width?: number;
  /** Extra hidden layers between the input and the output layer (default 4: 6 layers in total). */
  extraLayers?: number;
  /** Maximum steps (default 3000). */
  steps?: number;
  /** Seeds to average over (default 3: seed, seed+1, seed+2). */
  seeds?: number;
  /** MSE threshold (default 1e-3). */
  threshold?: number;
  optimizer?: 'adam' | 'sgd';
  /** Learning rate (default 1e-3 for adam, 1e-2 for sgd). */
  lr?: number;
  /** Training points (full batch, default 256); a fresh test set of the same size measures the end MSE. */
  samples?: number;
  /** Record the loss every n steps (default 10). */
  curveEvery?: number;
  /**
   * Multiplies the Kaiming std of the extra layers' weights (default 0.1: the residual branches start
   * near zero, the regime the claim is about — and the plain layers near the zero map; 1 is plain
   * Kaiming-normal, where the branches start as far from zero as the plain layers from the identity).
   */
  initScale?: number;
}

/** Per-run measurements. */
export interface IdentityRun {
  net: IdentityNet;
  seed: number;
  /** First step (1-based) with training MSE < threshold, or null. */
  stepsToThreshold: number | null;
  finalTrainMse: number;
  testMse: number;
  /** Loss every `curveEvery` steps (index 0 = before any step). */
  curve: number[];
  /** Per extra layer: ‖W − I‖_F / ‖I‖_F. */
  relDistToIdentity: number[];
  /** Per extra layer: ‖W‖_F / ‖I‖_F. */
  relWeightNorm: number[];
  /** Per extra layer on the test inputs: ‖W h + b‖ / ‖h‖ (the residual branch's relative output; for a plain layer the same pre-activation quantity). */
  relBranchOutput: number[];
  /** Per extra layer: ‖layer(h) − h‖ / ‖h‖ (how far the layer's action is from the identity). */
  relChange: number[];
  /** The same four metrics at initialisation (before any step). */
  atInit: Pick<IdentityRun, 'relDistToIdentity' | 'relWeightNorm' | 'relBranchOutput' | 'relChange'>;
}

/** Aggregate per task and net. */
export interface IdentitySummary {
  task: string;
  d: number;
  width: number;
  net: IdentityNet;
  reached: number;
  seeds: number;
  meanStepsToThreshold: number | null;
  /** How close the extra layers got to their target: plain ‖W − I‖_F/‖I‖_F, residual ‖W‖_F/‖I‖_F (mean over layers and seeds). */
  closeness: number;
  closenessName: string;
  meanRelDistToIdentity: number;
  meanRelWeightNorm: number;
  meanRelBranchOutput: number;
  meanRelChange: number;
  meanTestMse: number;
  /** Means at initialisation, for comparison. */
  init: { relDistToIdentity: number; relWeightNorm: number; relBranchOutput: number; relChange: number };
}

/** Per net and target: loss curves, steps to reach the target, and how close the extra layers got to identity (plain) or zero (residual). */
export interface IdentityResult {
  options: Required<Omit<IdentityOptions, keyof CommonOptions | 'width' | 'lr'>> & { width: number[]; lr: number };
  runs: (IdentityRun & { task: string })[];
  summary: IdentitySummary[];
}

/** Weights of one identity-experiment net: input layer, extra layers and output layer. */
export interface IdentityParams {
  win: tf.Variable;
  bin: tf.Variable;
  w: tf.Variable[];
  b: tf.Variable[];
  wout: tf.Variable;
  bout: tf.Variable;
}

function kaiming(rng: Rng, fanIn: number, fanOut: number): tf.Tensor2D {
  return tf.tensor2d(rng.normalArray(fanIn * fanOut, Math.sqrt(2 / fanIn)), [fanIn, fanOut]);
}

/** Kaiming-normal weights, zero biases; the same seed gives the same parameters for both nets. */
export function initParams(seed: number, d: number, width: number, extra: number, initScale = 1): IdentityParams {
  const rng = new Rng(seed);
  const v = (t: tf.Tensor) => tf.variable(t, true);
  return {
    win: v(kaiming(rng, d, width)),
    bin: v(tf.zeros([width])),
    w: Array.from({ length: extra }, () =>
      v(initScale === 1 ? kaiming(rng, width, width) : tf.tidy(() => tf.mul(kaiming(rng, width, width), initScale))),
    ),
    b: Array.from({ length: extra }, () => v(tf.zeros([width]))),
    wout: v(kaiming(rng, width, d)),
    bout: v(tf.zeros([d])),
  };
}

function disposeParams(p: IdentityParams): void {
  tf.dispose([p.win, p.bin, ...p.w, ...p.b, p.wout, p.bout]);
}

/** The forward pass; `hidden` (if given) receives the input of each extra layer. */
export function forwardNet(net: IdentityNet, p: IdentityParams, x: tf.Tensor2D, hidden?: tf.Tensor2D[]): tf.Tensor2D {
  let h = tf.relu(tf.add(tf.matMul(x, p.win), p.bin)) as tf.Tensor2D;
  for (let k = 0; k < p.w.length; k++) {
    if (hidden) hidden.push(h);
    const z = tf.add(tf.matMul(h, p.w[k]), p.b[k]) as tf.Tensor2D;
    h = (net === 'plain' ? tf.relu(z) : tf.relu(tf.add(h, z))) as tf.Tensor2D;
  }
  if (hidden) hidden.push(h);
  return tf.add(tf.matMul(h, p.wout), p.bout) as tf.Tensor2D;
}

/** Data of a task: x ~ U[-1, 1]^d, y = A x + c (d = 1: y = 4x + 3). */
export function taskData(
  d: number,
  n: number,
  seed: number,
  split: 'train' | 'test' = 'train',
): { x: tf.Tensor2D; y: tf.Tensor2D; a: number[]; c: number[] } {
  const rng = new Rng(seed + 7919);
  const a = d === 1 ? [4] : Array.from(rng.normalArray(d * d, 1 / Math.sqrt(d)));
  const c = d === 1 ? [3] : Array.from(rng.normalArray(d, 1));
  const x = tf.tensor2d(new Rng(seed * 2 + (split === 'train' ? 1 : 2) + 104729).uniformArray(n * d, -1, 1), [n, d]);
  const y = tf.tidy(() => tf.add(tf.matMul(x, tf.tensor2d(a, [d, d])), tf.tensor1d(c))) as tf.Tensor2D;
  return { x, y, a, c };
}

/** Frobenius norm of a tensor as a number. */
function fro(t: tf.Tensor): number {
  return tf.tidy(() => tf.norm(t).dataSync()[0]);
}

/** The extra-layer metrics of trained parameters on inputs `x`. */
export function layerMetrics(
  net: IdentityNet,
  p: IdentityParams,
  x: tf.Tensor2D,
): Pick<IdentityRun, 'relDistToIdentity' | 'relWeightNorm' | 'relBranchOutput' | 'relChange'> {
  const width = p.w[0]?.shape[0] ?? 0;
  const normI = Math.sqrt(width);
  const out = {
    relDistToIdentity: [] as number[],
    relWeightNorm: [] as number[],
    relBranchOutput: [] as number[],
    relChange: [] as number[],
  };
  tf.tidy(() => {
    const hidden: tf.Tensor2D[] = [];
    forwardNet(net, p, x, hidden);
    const eye = tf.eye(width);
    for (let k = 0; k < p.w.length; k++) {
      out.relDistToIdentity.push(fro(tf.sub(p.w[k], eye)) / normI);
      out.relWeightNorm.push(fro(p.w[k]) / normI);
      const h = hidden[k];
      const nh = fro(h);
      out.relBranchOutput.push(fro(tf.add(tf.matMul(h, p.w[k]), p.b[k])) / nh);
      out.relChange.push(fro(tf.sub(hidden[k + 1], h)) / nh);
    }
  });
  return out;
}

/** Trains one net on one task with one seed. */
export function trainIdentityNet(
  net: IdentityNet,
  d: number,
  seed: number,
  o: {
    width: number;
    extraLayers: number;
    steps: number;
    threshold: number;
    optimizer: 'adam' | 'sgd';
    lr: number;
    samples: number;
    curveEvery: number;
    initScale?: number;
  },
): IdentityRun {
  const p = initParams(seed, d, o.width, o.extraLayers, o.initScale ?? 1);
  const train = taskData(d, o.samples, seed);
  const test = taskData(d, o.samples, seed, 'test');
  const atInit = layerMetrics(net, p, test.x);
  const opt = o.optimizer === 'adam' ? tf.train.adam(o.lr) : tf.train.sgd(o.lr);
  const vars = [p.win, p.bin, ...p.w, ...p.b, p.wout, p.bout];
  const lossFn = () => tf.losses.meanSquaredError(train.y, forwardNet(net, p, train.x)) as tf.Scalar;
  const curve: number[] = [];
  let stepsToThreshold: number | null = null;
  let loss = tf.tidy(() => lossFn().dataSync()[0]);
  curve.push(loss);
  if (loss < o.threshold) stepsToThreshold = 0;
  for (let step = 1; step <= o.steps; step++) {
    const l = opt.minimize(lossFn, true, vars)!;
    loss = l.dataSync()[0];
    l.dispose();
    if (stepsToThreshold === null && loss < o.threshold) stepsToThreshold = step;
    if (step % o.curveEvery === 0) curve.push(loss);
    if (!Number.isFinite(loss)) break;
  }
  const finalTrainMse = tf.tidy(() => lossFn().dataSync()[0]);
  const testMse = tf.tidy(() => tf.losses.meanSquaredError(test.y, forwardNet(net, p, test.x)).dataSync()[0]);
  const metrics = layerMetrics(net, p, test.x);
  opt.dispose();
  tf.dispose([train.x, train.y, test.x, test.y]);
  disposeParams(p);
  return { net, seed, stepsToThreshold, finalTrainMse, testMse, curve, ...metrics, atInit };
}

/** Runs experiment 1 and writes its report. */
export async function runIdentity(options: IdentityOptions = {}): Promise<ExperimentOutput<IdentityResult>> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const seed = options.seed ?? 0;
  const dims = options.dims ?? [1, 8];
  const extraLayers = options.extraLayers ?? 4;
  const steps = options.steps ?? 3000;
  const seeds = options.seeds ?? 3;
  const threshold = options.threshold ?? 1e-3;
  const optimizer = options.optimizer ?? 'adam';
  const lr = options.lr ?? (optimizer === 'adam' ? 1e-3 : 1e-2);
  const samples = options.samples ?? 256;
  const curveEvery = options.curveEvery ?? 10;
  const initScale = options.initScale ?? 0.1;
  const widths = dims.map((d) => options.width ?? Math.max(16, 4 * d));
  dims.forEach((d, i) => {
    if (widths[i] < 2 * d) throw new Error(`width must be >= 2d (${2 * d} for d = ${d}); got ${widths[i]}.`);
  });
  log(
    `identity: ${dims.length} task(s) x 2 nets x ${seeds} seed(s), up to ${steps} ${optimizer} steps each (from seconds at d = 1 to a minute or more per run at d = 8 on cpu)`,
  );
  const runs: (IdentityRun & { task: string })[] = [];
  const summary: IdentitySummary[] = [];
  const plots: Record<string, string> = {};
  for (const [i, d] of dims.entries()) {
    const task = d === 1 ? 'y = 4x + 3' : `y = A x + c (d = ${d})`;
    const perNet: Record<IdentityNet, IdentityRun[]> = { plain: [], residual: [] };
    for (let s = 0; s < seeds; s++) {
      for (const net of ['plain', 'residual'] as IdentityNet[]) {
        const r = trainIdentityNet(net, d, seed + s, {
          width: widths[i],
          extraLayers,
          steps,
          threshold,
          optimizer,
          lr,
          samples,
          curveEvery,
          initScale,
        });
        perNet[net].push(r);
        runs.push({ task, ...r });
        log(
          `  ${task} ${net} seed ${seed + s}: ${r.stepsToThreshold === null ? `not reached in ${steps}` : `${r.stepsToThreshold} steps`}, final MSE ${fmtNum(r.finalTrainMse)}`,
        );
      }
    }
    for (const net of ['plain', 'residual'] as IdentityNet[]) summary.push(summarizeNet(task, d, widths[i], net, perNet[net]));
    plots[`loss-d${d}.svg`] = identityLossPlot(task, perNet, { curveEvery, threshold, steps, seeds, optimizer });
  }
  const result: IdentityResult = {
    options: { dims, width: widths, extraLayers, steps, seeds, threshold, optimizer, lr, samples, curveEvery, initScale },
    runs,
    summary,
  };
  const body = identityBody(result);
  const info = runInfo('identity', options, started);
  const files = await writeReport(options.out ?? defaultOut('identity'), { info, result, plots, title: 'Identity is hard, zero is easy', body });
  if (result.runs.every(diverged))
    throw new ExperimentFailedError(`identity: training diverged in every run (final MSE not finite); the report in ${files.markdown} has no answer. Try a lower --lr.`);
  return { info, result, files };
}

/** The command-line values of `resnet lab identity`. */
interface IdentityCommandValues {
  dims: number[];
  width?: number;
  steps: number;
  seeds: number;
  optimizer: 'adam' | 'sgd';
  lr?: number;
  threshold: number;
  initScale: number;
}

registerExperiment<IdentityOptions, IdentityResult, IdentityCommandValues>({
  name: 'identity',
  description: 'Identity is hard, zero is easy: plain vs residual extra layers learning y = 4x + 3 and y = A x + c through 6 layers',
  run: runIdentity,
  command: {
    summary: 'identity is hard, zero is easy: plain vs residual extra layers (minutes on cpu)',
    engine: { default: 'cpu', training: true },
    options: [
      { flags: '--dims <list>', description: 'input/output dimensions (1 is y = 4x + 3)', kind: { type: 'integerList', min: 1, max: 4096 }, default: [1, 8] },
      { flags: '--width <n>', description: 'hidden width (default max(16, 4d))', kind: { type: 'integer', min: 1, max: 65536 } },
      { flags: '--steps <n>', description: 'maximum steps', kind: COUNT, default: 3000 },
      { flags: '--seeds <n>', description: 'seeds to average over', kind: { type: 'integer', min: 1, max: 1000 }, default: 3 },
      { flags: '--optimizer <name>', description: 'adam | sgd', kind: { type: 'choice', values: ['adam', 'sgd'] }, default: 'adam' },
      { flags: '--lr <x>', description: 'learning rate (default 1e-3 adam, 1e-2 sgd)', kind: LEARNING_RATE },
      { flags: '--threshold <x>', description: 'MSE target', kind: { type: 'number', above: 0 }, default: 1e-3 },
      {
        flags: '--init-scale <x>',
        description: "multiply the extra layers' Kaiming std (0.1: branches start near zero; 1: plain Kaiming; 0: zero init)",
        kind: { type: 'number', min: 0, max: 1e3 },
        default: 0.1,
      },
    ],
    run: (v, host) =>
      runIdentity({
        ...host.reporting,
        dims: v.dims,
        width: v.width,
        steps: v.steps,
        seeds: v.seeds,
        optimizer: v.optimizer,
        lr: v.lr,
        threshold: v.threshold,
        initScale: v.initScale,
      }),
  },
});
