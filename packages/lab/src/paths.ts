/**
 * Experiment 5 (Veit et al. 2016, section 5): a net of n residual blocks unrolls into 2^n paths
 * whose lengths follow Binomial(n, 1/2); the gradient carried by paths of length k is measured by
 * sampling: keep k random residual branches in the backward pass (the others pass gradient only
 * through their skip; their forward value is unchanged) and read the gradient norm at the input of
 * the first block. Total gradient per length = mean magnitude × C(n, k).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ResNet, Rng } from '@resnet-ts/core';
import { headForward, stemForward } from './blocks.js';
import { CommandHost, DATA_OPTION, ExperimentInputError } from './command.js';
import { prepareTestTensors } from './data.js';
import { CommonOptions, ExperimentOutput, defaultOut, meanStd, registerExperiment, runInfo } from './experiment.js';
import { MODEL_OPTION_HELP, loadModelAndData } from './model-inputs.js';
import { pathsBody, pathsPlots } from './paths-report.js';
import { fmtNum, writeReport } from './report.js';

/** C(n, k) for k = 0..n, exact (BigInt). */
export function pathCounts(n: number): bigint[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`n must be a non-negative integer; got ${n}.`);
  const out: bigint[] = [1n];
  for (let k = 1; k <= n; k++) out.push((out[k - 1] * BigInt(n - k + 1)) / BigInt(k));
  return out;
}

/** The fraction of the 2^n paths that have length k, k = 0..n, as numbers (accurate for any n, via logs). */
export function pathFractions(n: number): number[] {
  const out: number[] = [];
  let logC = 0;
  const ln2n = n * Math.LN2;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log((n - k + 1) / k);
    out.push(Math.exp(logC - ln2n));
  }
  return out;
}

/** Detaches a tensor in the backward pass only: the forward value is unchanged, the gradient is zero. */
export const detachGrad: (x: tf.Tensor) => tf.Tensor = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * How a sampled set of k blocks is treated in the backward pass (the forward pass is always the
 * full, unchanged network):
 * - `'path'` (Veit et al. §5, default): in the k chosen blocks the gradient flows only through the
 *   residual branch, in all others only through the skip: the gradient of the single path of
 *   length exactly k through the chosen branches. With k = n it is the path through every branch.
 * - `'subset'`: in the k chosen blocks the gradient flows through branch and skip, in all others
 *   only through the skip: the gradient of all 2^k paths that use a subset of the chosen branches.
 *   With k = n it is the full gradient.
 * With k = 0 both are the gradient of the pure-skip path.
 */
export type PathSampling = 'path' | 'subset';

/**
 * Forward through the blocks (eval mode, values unchanged) with the gradient restricted as
 * {@link PathSampling} says for the chosen blocks `active`.
 */
export function sampledBlocksForward(model: ResNet, h: tf.Tensor, active: ReadonlySet<number>, mode: PathSampling = 'path'): tf.Tensor {
  const ctx = { training: false };
  let y = h;
  model.blocks().forEach((b, i) => {
    if (!b.residual) throw new Error('Path sampling needs a residual net (a plain block has no skip).');
    if (!b.branchEnabled) throw new Error(`Block ${i} has its branch deleted; restore it before sampling paths.`);
    let f = b.branch(y, ctx);
    if (b.branchScale !== 1) f = tf.mul(f, b.branchScale);
    let sc = b.shortcut(y, ctx);
    if (!active.has(i)) f = detachGrad(f);
    else if (mode === 'path') sc = detachGrad(sc);
    y = b.combine(f, sc);
  });
  return y;
}

/** Inputs per gradient pass of {@link sampledGradNorm}. */
const GRAD_CHUNK = 64;

/**
 * Per-example gradient norms of the summed softmax cross-entropy w.r.t. the first block's input
 * `h0` [m, ...], with the backward pass restricted to the sampled blocks `active` (see
 * {@link PathSampling}). Returns the mean norm over the examples.
 */
export function sampledGradNorm(
  model: ResNet,
  h0: tf.Tensor,
  labels: tf.Tensor1D,
  active: ReadonlySet<number>,
  mode: PathSampling = 'path',
): number {
  // In eval mode each input's gradient depends on it alone: chunks of inputs give the same norms, and
  // memory stays that of one chunk (all at once, 1,000 inputs took 5.6 GB and 20,000 were killed).
  const m = h0.shape[0];
  let sum = 0;
  for (let start = 0; start < m; start += GRAD_CHUNK) {
    const size = Math.min(GRAD_CHUNK, m - start);
    sum += tf.tidy(() => {
      const h = tf.slice(h0, [start], [size]);
      const y = tf.slice(labels, [start], [size]);
      const g = tf.grad((x: tf.Tensor) => {
        const logits = headForward(model, sampledBlocksForward(model, x, active, mode));
        return tf.losses.softmaxCrossEntropy(tf.oneHot(y, model.spec.numClasses), logits, undefined, undefined, tf.Reduction.SUM);
      })(h);
      return perExampleNorm(g) * size;
    });
  }
  return sum / m;
}

/** Mean over the batch of each example's gradient norm. */
export function perExampleNorm(g: tf.Tensor): number {
  return tf.tidy(() => tf.mean(tf.sqrt(tf.sum(tf.square(tf.reshape(g, [g.shape[0], -1])), 1))).dataSync()[0]);
}

/** A random k-subset of 0..n-1. */
export function randomSubset(rng: Rng, n: number, k: number): Set<number> {
  return new Set(Array.from(rng.permutation(n).subarray(0, k)));
}

/** The shortest range of lengths [lo, hi] whose total gradient is at least `share` of the sum. */
export function dominantRange(total: number[], share = 0.9): { lo: number; hi: number; share: number } {
  const sum = total.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0);
  let best = { lo: 0, hi: total.length - 1, share: 1 };
  for (let lo = 0; lo < total.length; lo++) {
    let acc = 0;
    for (let hi = lo; hi < total.length; hi++) {
      acc += Number.isFinite(total[hi]) ? total[hi] : 0;
      if (acc >= share * sum) {
        if (hi - lo < best.hi - best.lo) best = { lo, hi, share: acc / sum };
        break;
      }
    }
  }
  return best;
}

export interface PathsOptions extends CommonOptions {
  /** The (trained) residual model. */
  model: ResNet;
  /** Inputs [m, H, W, C] (preprocessed) and their labels (class indices). */
  inputs: tf.Tensor4D;
  labels: ArrayLike<number>;
  /** Samples per length (default 10). */
  samples?: number;
  /** Lengths to sample (default every k = 0..n). */
  lengths?: number[];
  /** Backward restriction (default 'path': Veit's single path of length k). */
  mode?: PathSampling;
  /** Share of the total gradient for the dominant range (default 0.9). */
  share?: number;
  /** Describes the model and data in the report (e.g. `resnet20 on fashion-mnist test[0:8]`). */
  description?: string;
}

/** Path-length distribution (Binomial(n, 1/2)) and the sampled gradient magnitude per path length, with the lengths that carry most of it. */
export interface PathsResult {
  description: string;
  n: number;
  /** C(n, k) as decimal strings (exact). */
  pathCounts: string[];
  pathFractions: number[];
  lengths: number[];
  samples: number;
  mode: PathSampling;
  inputs: number;
  /** Mean (over samples and inputs) gradient norm at the first block's input, per sampled length. */
  meanMagnitude: number[];
  stdMagnitude: number[];
  /** meanMagnitude × C(n, k), and the same as a fraction of the sum. */
  totalGradient: number[];
  totalGradientShare: number[];
  /** Where most of the gradient comes from; meaningful only with {@link everyLength}. */
  dominant: { share: number; lo: number; hi: number; pathFraction: number };
  /** Whether every length 0..n was sampled: else the shares are of the sampled lengths' gradient only. */
  everyLength: boolean;
  fullGradientNorm: number;
}

/**
 * The path lengths to sample, sorted without repeats (the dominant range and the totals read them in
 * order): every one must be 0 to n, or an {@link ExperimentInputError} that says the range.
 */
function pathLengths(lengths: number[] | undefined, n: number): number[] {
  if (!lengths) return Array.from({ length: n + 1 }, (_, k) => k);
  const bad = lengths.filter((k) => !Number.isInteger(k) || k < 0 || k > n);
  if (bad.length || !lengths.length)
    throw new ExperimentInputError(
      `paths: path lengths (--lengths) must be 0 to ${n}, the model's number of blocks; got ${lengths.length ? bad.join(', ') : 'none'}.`,
    );
  return [...new Set(lengths)].sort((a, b) => a - b);
}

/** Runs experiment 5 and writes its report. */
export async function runPaths(options: PathsOptions): Promise<ExperimentOutput<PathsResult>> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const { model } = options;
  const n = model.blocks().length;
  const lengths = pathLengths(options.lengths, n);
  const samples = options.samples ?? 10;
  const share = options.share ?? 0.9;
  const mode = options.mode ?? 'path';
  const rng = new Rng(options.seed ?? 0);
  const counts = pathCounts(n);
  const fractions = pathFractions(n);
  const labels = tf.tensor1d(Array.from(options.labels), 'int32');
  const h0 = stemForward(model, options.inputs);
  const all = new Set(Array.from({ length: n }, (_, i) => i));
  try {
    const fullGradientNorm = sampledGradNorm(model, h0, labels, all, 'subset');
    const perStep = Date.now() - started;
    log(
      `paths: n = ${n} blocks, ${lengths.length} lengths x ${samples} samples on ${options.inputs.shape[0]} inputs: about ${fmtNum((perStep * lengths.length * samples) / 1000)} s`,
    );
    const meanMagnitude: number[] = [];
    const stdMagnitude: number[] = [];
    for (const k of lengths) {
      const v: number[] = [];
      for (let s = 0; s < samples; s++) v.push(sampledGradNorm(model, h0, labels, randomSubset(rng, n, k), mode));
      const ms = meanStd(v);
      meanMagnitude.push(ms.mean);
      stdMagnitude.push(ms.std);
      log(`  k = ${k}: ${fmtNum(ms.mean)} ± ${fmtNum(ms.std)}`);
    }
    const totalGradient = lengths.map((k, i) => meanMagnitude[i] * Number(counts[k]));
    const sum = totalGradient.reduce((s, v) => s + v, 0);
    const totalGradientShare = totalGradient.map((v) => v / sum);
    const r = dominantRange(totalGradient, share);
    const dominant = {
      share: r.share,
      lo: lengths[r.lo],
      hi: lengths[r.hi],
      pathFraction: fractions.slice(lengths[r.lo], lengths[r.hi] + 1).reduce((s, v) => s + v, 0),
    };
    const description = options.description ?? `model with ${n} blocks`;
    const result: PathsResult = {
      description,
      n,
      pathCounts: counts.map((c) => c.toString()),
      pathFractions: fractions,
      lengths,
      samples,
      mode,
      inputs: options.inputs.shape[0],
      meanMagnitude,
      stdMagnitude,
      totalGradient,
      totalGradientShare,
      dominant,
      everyLength: lengths.length === n + 1,
      fullGradientNorm,
    };
    const plots = pathsPlots(result);
    const body = pathsBody(result, share);
    const info = runInfo('paths', options, started);
    const files = await writeReport(options.out ?? defaultOut('paths'), {
      info,
      result,
      plots,
      title: 'Path lengths and the gradient they carry (Veit et al. §5)',
      body,
    });
    return { info, result, files };
  } finally {
    tf.dispose([labels, h0]);
  }
}

/** The command-line values of `resnet lab paths`. */
interface PathsCommandValues {
  model?: string;
  weights?: string;
  data: string;
  inputs: number;
  samples: number;
  lengths?: number[];
  mode: PathSampling;
}

/** `resnet lab paths`: loads the net (the zoo's trained resnet20 on fashion-mnist by default), prepares the inputs, runs the study. */
async function pathsFromCommand(v: PathsCommandValues, host: CommandHost): Promise<ExperimentOutput<PathsResult>> {
  const model = v.model ?? (!v.weights && v.data === 'fashion-mnist' ? 'resnet20-fashion-mnist' : undefined);
  const r = await loadModelAndData({ model, weights: v.weights, data: v.data, fallback: 'resnet20' }, host);
  try {
    const data = prepareTestTensors(r.pair.test ?? r.pair.train, r.prep, v.inputs);
    try {
      const used = data.inputs.shape[0];
      if (used < v.inputs) host.reporting.log?.(`note: --inputs ${v.inputs}: the test set has ${used} images; using all ${used}.`);
      const o = { model: r.model, inputs: data.inputs, labels: data.labels, samples: v.samples, mode: v.mode, lengths: v.lengths };
      return await runPaths({ ...o, ...host.reporting, description: `${r.label}, ${used} test images` });
    } finally {
      tf.dispose(data.inputs);
    }
  } finally {
    r.model.dispose();
  }
}

registerExperiment<PathsOptions, PathsResult, PathsCommandValues>({
  name: 'paths',
  description: 'Veit et al. §5: path-length distribution and the gradient carried by paths of each length',
  run: runPaths,
  command: {
    summary: 'Veit et al. §5: path-length distribution and gradient per path length',
    engine: { default: 'auto', training: true },
    options: [
      { flags: '--model <name>', description: MODEL_OPTION_HELP, kind: { type: 'text' } },
      { flags: '--weights <file>', description: 'trained weights', kind: { type: 'text', what: 'a file' } },
      { ...DATA_OPTION, description: 'data for the inputs' },
      { flags: '--inputs <n>', description: 'test images to average over', kind: { type: 'integer', min: 1, max: 1e6 }, default: 4 },
      { flags: '--samples <n>', description: 'random branch sets per length', kind: { type: 'integer', min: 1, max: 1e6 }, default: 10 },
      {
        flags: '--lengths <list>',
        description: 'path lengths to sample (default all 0..n)',
        kind: { type: 'integerList', min: 0, max: 1e4 },
      },
      {
        flags: '--mode <path|subset>',
        description:
          "path: Veit's single path of length k (chosen blocks: branch only; others: skip only); subset: chosen blocks pass branch and skip",
        kind: { type: 'choice', values: ['path', 'subset'] },
        default: 'path',
      },
    ],
    run: pathsFromCommand,
  },
});
