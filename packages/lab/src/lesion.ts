/**
 * Experiment 4 (Veit et al. 2016, section 4): delete residual branches at test time (the shortcut
 * stays: `branchEnabled = false`), one at a time and k at random; swap k random pairs of blocks with
 * the same shapes; and the same deletions on a plain net (of the same or another depth), where a block can only be
 * removed where it preserves the shape.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ResNet, Rng } from '@resnet-ts/core';
import { blocksForward, canDelete, headForward, preservesShape, stemForward } from './blocks.js';
import { COUNT, CommandHost, DATA_OPTION, ExperimentInputError } from './command.js';
import { prepareTestTensors } from './data.js';
import { CommonOptions, ExperimentOutput, defaultOut, meanStd, registerExperiment, runInfo } from './experiment.js';
import { lesionBody, lesionPlots } from './lesion-report.js';
import { MODEL_OPTION_HELP, ModelAndData, loadModelAndData } from './model-inputs.js';
import { pct, writeReport } from './report.js';

/** A prepared test set: inputs [N, H, W, C] (already normalised/padded) and labels. */
export interface TestTensors {
  inputs: tf.Tensor4D;
  labels: ArrayLike<number>;
}

/** Evaluates configurations of one model fast: the stem's output is computed once per batch. */
export class LesionEvaluator {
  private readonly stemOut: tf.Tensor[] = [];
  private readonly labels: Int32Array[] = [];
  readonly n: number;

  constructor(
    readonly model: ResNet,
    data: TestTensors,
    batchSize = 256,
  ) {
    const N = data.inputs.shape[0];
    this.n = N;
    for (let s = 0; s < N; s += batchSize) {
      const m = Math.min(batchSize, N - s);
      const x = tf.slice(data.inputs, [s, 0, 0, 0], [m, -1, -1, -1]);
      this.stemOut.push(stemForward(model, x));
      x.dispose();
      this.labels.push(Int32Array.from({ length: m }, (_, i) => data.labels[s + i]));
    }
  }

  /** Top-1 error with blocks in `order` and the branches in `deleted` removed. */
  error(order?: readonly number[], deleted?: ReadonlySet<number>): number {
    let wrong = 0;
    this.stemOut.forEach((h, b) => {
      const pred = tf.tidy(() => tf.argMax(headForward(this.model, blocksForward(this.model, h, order, deleted)), 1).dataSync());
      const lab = this.labels[b];
      for (let i = 0; i < lab.length; i++) if (pred[i] !== lab[i]) wrong++;
    });
    return wrong / this.n;
  }

  /** Frees the cached test tensors. */
  dispose(): void {
    tf.dispose(this.stemOut);
  }
}

/** The lesion measurements of one net. */
export interface NetLesion {
  name: string;
  residual: boolean;
  blocks: string[];
  baseline: number;
  /** Blocks whose branch can be deleted (all for a residual net; shape-preserving ones for a plain net). */
  deletable: number[];
  /** Error with block i deleted (NaN where it cannot be deleted). */
  single: number[];
  /** Deleting k random deletable blocks, k = 1..deletable.length: mean and std over samples. */
  randomK: { k: number; mean: number; std: number }[];
  /** Swapping k distinct random pairs of like blocks (k up to the number of such pairs): mean and std over samples. */
  swapK: { k: number; mean: number; std: number }[];
  /** The blocks that can be swapped (stride 1, same in/out channels). */
  swappable: number[];
  /** Number of pairs of like blocks. */
  swapPairs: number;
}

export interface LesionOptions extends CommonOptions {
  model: ResNet;
  /** A plain net (optional; the same depth, or e.g. the deepest one trained): the same deletions, where possible. */
  plain?: ResNet;
  /**
   * The test images as the plain net takes them, when its weights store other class names (order) or
   * another normalisation than the model's (default: `data`).
   */
  plainData?: TestTensors;
  data: TestTensors;
  /** Samples per k (default 10). */
  samples?: number;
  /**
   * Largest k for deletions (default: all deletable blocks): 1 to the number of deletable blocks (of
   * the net with more of them, next to a plain net), else an {@link ExperimentInputError}; a net with
   * fewer deletable blocks (a plain net) stops at its own number, as the report and log say.
   */
  maxK?: number;
  /** Largest number of swapped pairs (default 10; 0 skips). */
  maxSwaps?: number;
  batchSize?: number;
  description?: string;
}

/** Errors of the lesion study: baseline, one block deleted, k random blocks deleted, k pairs swapped, for the residual and the plain net. */
export interface LesionResult {
  description: string;
  testImages: number;
  samples: number;
  nets: NetLesion[];
}

/** The pairs of blocks that can trade places: both keep the shape (stride 1, same channels) and have the same width. */
export function swapPairs(model: ResNet): [number, number][] {
  const groups = new Map<number, number[]>();
  model.blocks().forEach((b, i) => {
    if (preservesShape(b)) groups.set(b.inChannels, [...(groups.get(b.inChannels) ?? []), i]);
  });
  const pairs: [number, number][] = [];
  for (const g of groups.values()) for (let a = 0; a < g.length; a++) for (let b = a + 1; b < g.length; b++) pairs.push([g[a], g[b]]);
  return pairs;
}

/**
 * The block order after swapping k distinct random pairs of like blocks (see {@link swapPairs}),
 * applied one after the other to the identity order (k is capped at the number of pairs).
 */
export function swappedOrder(model: ResNet, k: number, rng: Rng): number[] {
  const order = model.blocks().map((_, i) => i);
  const pairs = swapPairs(model);
  const pick = rng.permutation(pairs.length);
  for (let j = 0; j < Math.min(k, pairs.length); j++) {
    const [a, b] = pairs[pick[j]];
    [order[a], order[b]] = [order[b], order[a]];
  }
  return order;
}

/** Runs all lesions on one net. */
export function lesionNet(
  name: string,
  model: ResNet,
  data: TestTensors,
  o: { samples: number; maxK?: number; maxSwaps: number; seed: number; batchSize: number; log: (m: string) => void },
): NetLesion {
  const ev = new LesionEvaluator(model, data, o.batchSize);
  try {
    const blocks = model.blocks();
    const rng = new Rng(o.seed);
    const baseline = ev.error();
    o.log(`  ${name}: baseline error ${pct(baseline)}`);
    const deletable = blocks.flatMap((b, i) => (canDelete(b) ? [i] : []));
    const single = blocks.map((b, i) => (canDelete(b) ? ev.error(undefined, new Set([i])) : NaN));
    o.log(`  ${name}: single deletions ${single.map((e) => (Number.isFinite(e) ? (e * 100).toFixed(1) : '-')).join(' ')}`);
    const randomK: NetLesion['randomK'] = [];
    const maxK = Math.min(o.maxK ?? deletable.length, deletable.length);
    for (let k = 1; k <= maxK; k++) {
      const errs: number[] = [];
      for (let s = 0; s < o.samples; s++) {
        const perm = rng.permutation(deletable.length);
        errs.push(ev.error(undefined, new Set(Array.from(perm.subarray(0, k), (j) => deletable[j]))));
      }
      randomK.push({ k, ...meanStd(errs) });
    }
    const upTo = o.maxK !== undefined && o.maxK > maxK ? ` (k up to ${maxK}, its number of deletable blocks)` : '';
    o.log(`  ${name}: k random deletions${upTo} ${randomK.map((r) => (r.mean * 100).toFixed(1)).join(' ')}`);
    const swappable = blocks.flatMap((b, i) => (preservesShape(b) ? [i] : []));
    const swapK: NetLesion['swapK'] = [];
    const nPairs = swapPairs(model).length;
    if (nPairs > 0) {
      o.log(`  ${name}: swapping up to ${Math.min(o.maxSwaps, nPairs)} of ${nPairs} pairs`);
      for (let k = 1; k <= Math.min(o.maxSwaps, nPairs); k++) {
        const errs: number[] = [];
        for (let s = 0; s < o.samples; s++) errs.push(ev.error(swappedOrder(model, k, rng)));
        swapK.push({ k, ...meanStd(errs) });
      }
    }
    return {
      name,
      residual: model.spec.residual,
      blocks: model.blockNames(),
      baseline,
      deletable,
      single,
      randomK,
      swapK,
      swappable,
      swapPairs: nPairs,
    };
  } finally {
    ev.dispose();
  }
}

/** What a count option of the lesion study limits, for its check and its message. */
interface CountLimit {
  flag: string;
  what: string;
  min: number;
  count: (m: ResNet) => number;
  /** The limit in words: across both nets (given their counts), and for one model. */
  either: string;
  one: string;
  /** Why a net can have none, for a limit whose least value is 1 (then no value fits). */
  none?: string;
}

const MAX_K: CountLimit = {
  flag: '--max-k',
  what: 'the number of deleted blocks',
  min: 1,
  count: (m) => m.blocks().filter(canDelete).length,
  either: 'the most blocks either net can delete',
  one: "the number of the model's blocks that can be deleted",
  none: 'no block can be deleted (every block changes the shape)',
};

const MAX_SWAPS: CountLimit = {
  flag: '--max-swaps',
  what: 'the number of swapped pairs',
  min: 0,
  count: (m) => swapPairs(m).length,
  either: 'the most pairs either net can swap',
  one: 'the pairs of like blocks the model has',
};

/**
 * A given count (`maxK`, `maxSwaps`) must be `min` to what the net with more of them has: a larger one
 * is refused, as `paths` refuses a path length beyond the number of blocks, not quietly cut (the
 * defaults, absent here, are "up to" values).
 */
function checkCountLimit(value: number | undefined, nets: [string, ResNet][], limit: CountLimit): void {
  if (value === undefined) return;
  const counts = nets.map(([name, m]) => [name, limit.count(m)] as const);
  const n = Math.max(...counts.map(([, c]) => c));
  if (Number.isInteger(value) && value >= limit.min && value <= n) return;
  if (n < limit.min && limit.none)
    throw new ExperimentInputError(`lesion: ${limit.flag} ${value}, but ${limit.none}; leave ${limit.flag} out.`);
  const which = counts.length > 1 ? `${limit.either} (${counts.map(([name, c]) => `${name} ${c}`).join(', ')})` : limit.one;
  throw new ExperimentInputError(`lesion: ${limit.what} (${limit.flag}) must be ${limit.min} to ${n}, ${which}; got ${value}.`);
}

/** Runs experiment 4 and writes its report. */
export async function runLesion(options: LesionOptions): Promise<ExperimentOutput<LesionResult>> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const modelName = options.model.spec.residual ? 'residual' : 'model';
  const studied: [string, ResNet][] = [[modelName, options.model]];
  if (options.plain) studied.push(['plain', options.plain]);
  checkCountLimit(options.maxK, studied, MAX_K);
  checkCountLimit(options.maxSwaps, studied, MAX_SWAPS);
  const samples = options.samples ?? 10;
  const o = {
    samples,
    maxK: options.maxK,
    maxSwaps: options.maxSwaps ?? 10,
    seed: options.seed ?? 0,
    batchSize: options.batchSize ?? 256,
    log,
  };
  const N = options.data.inputs.shape[0];
  log(
    `lesion: ${N} test images, ${options.model.blocks().length} blocks, ${samples} samples per k${options.plain ? ', plus the plain net' : ''}`,
  );
  const nets = [lesionNet(modelName, options.model, options.data, o)];
  if (options.plain) nets.push(lesionNet('plain', options.plain, options.plainData ?? options.data, o));
  const description = options.description ?? `${options.model.blocks().length}-block model`;
  const result: LesionResult = { description, testImages: N, samples, nets };
  const plots = lesionPlots(nets);
  const body = lesionBody(result);
  const info = runInfo('lesion', options, started);
  const files = await writeReport(options.out ?? defaultOut('lesion'), {
    info,
    result,
    plots,
    title: 'Lesion study (Veit et al. §4)',
    body,
  });
  return { info, result, files };
}

/** The command-line values of `resnet lab lesion`. */
interface LesionCommandValues {
  model?: string;
  weights?: string;
  plainModel?: string;
  plainWeights?: string;
  data: string;
  limit: number;
  samples: number;
  maxK?: number;
  maxSwaps?: number;
}

/** Whether two loaded nets take the same test tensors: the same labelled images, normalised alike. */
function sameInputs(a: ModelAndData, b: ModelAndData): boolean {
  const [x, y] = [a.pair.test ?? a.pair.train, b.pair.test ?? b.pair.train];
  const bytes = (t: ArrayBufferView) => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  return (
    bytes(x.images).equals(bytes(y.images)) &&
    x.labels.constructor === y.labels.constructor &&
    bytes(x.labels).equals(bytes(y.labels)) &&
    JSON.stringify(a.prep) === JSON.stringify(b.prep)
  );
}

/**
 * The plain side of the comparison must be a plain net: residual weights given as --plain-weights were
 * reported under the name "plain", with Veit's conclusion drawn from them. (The studied net may be
 * either: a plain one alone is reported as "model".)
 */
function checkPlainNet(plain: ResNet | undefined, v: LesionCommandValues): void {
  if (!plain || plain.spec.residual === false) return;
  const named = v.plainWeights ? ` (--plain-weights ${v.plainWeights})` : v.plainModel ? ` (--plain-model ${v.plainModel})` : '';
  throw new ExperimentInputError(
    `lesion: the plain net${named} has shortcuts (a residual net); give a plain net's weights (e.g. plain20-fashion-mnist, or a run of resnet train --model plain20).`,
  );
}

/** `resnet lab lesion`: loads the residual net (and the plain one), prepares the test images, runs the study. */
async function lesionFromCommand(given: LesionCommandValues, host: CommandHost): Promise<ExperimentOutput<LesionResult>> {
  let v = given;
  if (!v.model && !v.weights && v.data === 'fashion-mnist') {
    // Offline default: the residual net the zoo ships, and its plain twin (same recipe) unless one is given.
    const plainTwin = !v.plainModel && !v.plainWeights ? { plainModel: 'plain20-fashion-mnist' } : {};
    v = { ...v, model: 'resnet20-fashion-mnist', ...plainTwin };
  }
  const r = await loadModelAndData({ model: v.model, weights: v.weights, data: v.data, fallback: 'resnet20' }, host);
  let p: ModelAndData | undefined;
  const tensors: TestTensors[] = [];
  try {
    if (v.plainWeights || v.plainModel) {
      const fallback = `plain${r.model.blocks().length * 2 + 2}`;
      const plainModel = v.plainModel ?? (v.plainWeights ? undefined : fallback);
      const flags = { model: '--plain-model', weights: '--plain-weights' };
      p = await loadModelAndData({ model: plainModel, weights: v.plainWeights, data: v.data, fallback, flags }, host);
    }
    checkPlainNet(p?.model, v);
    const data = prepareTestTensors(r.pair.test ?? r.pair.train, r.prep, v.limit);
    tensors.push(data);
    // Each net scores its own outputs: the plain net's images are labelled by its class names and
    // normalised as its weights say (the same images as the model's when both agree, as they usually do).
    const plainData = p && !sameInputs(r, p) ? prepareTestTensors(p.pair.test ?? p.pair.train, p.prep, v.limit) : undefined;
    if (plainData) tensors.push(plainData);
    const o = { model: r.model, plain: p?.model, data, plainData, samples: v.samples, maxK: v.maxK, maxSwaps: v.maxSwaps };
    return await runLesion({ ...o, ...host.reporting, description: r.label });
  } finally {
    tf.dispose(tensors.map((t) => t.inputs));
    r.model.dispose();
    p?.model.dispose();
  }
}

registerExperiment<LesionOptions, LesionResult, LesionCommandValues>({
  name: 'lesion',
  description: 'Veit et al. §4: delete or swap residual blocks at test time; the same on a plain net',
  run: runLesion,
  command: {
    summary: 'Veit et al. §4: delete/swap blocks at test time; the same on a plain net',
    engine: { default: 'auto', training: false },
    options: [
      { flags: '--model <name>', description: MODEL_OPTION_HELP, kind: { type: 'text' } },
      { flags: '--weights <file>', description: 'trained weights of the residual net', kind: { type: 'text', what: 'a file' } },
      {
        flags: '--plain-model <name>',
        description:
          "the plain net (default: the architecture stored in --plain-weights, else plain<depth> of the residual net; the zoo's plain20-fashion-mnist with the default model)",
        kind: { type: 'text' },
      },
      {
        flags: '--plain-weights <file>',
        description: 'trained weights of a plain net (the same depth, or the deepest one trained)',
        kind: { type: 'text', what: 'a file' },
      },
      { ...DATA_OPTION, description: 'test data' },
      { flags: '--limit <n>', description: 'test images to use', kind: COUNT, default: 1000 },
      { flags: '--samples <n>', description: 'random samples per k', kind: { type: 'integer', min: 1, max: 1e6 }, default: 10 },
      {
        flags: '--max-k <n>',
        description: 'largest number of deleted blocks, 1 to the number that can be deleted (default: all of them)',
        kind: { type: 'integer', min: 1, max: 1e4 },
      },
      {
        flags: '--max-swaps <n>',
        // No default value here: the default (up to 10, as many as the nets have) must not be checked as a given number.
        description: 'largest number of swapped pairs (default: 10, or as many as the nets have; 0: none)',
        kind: { type: 'integer', min: 0, max: 1e4 },
      },
    ],
    run: lesionFromCommand,
  },
});
