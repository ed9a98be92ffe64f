/**
 * The conformance suite every engine runs (Node engines in packages/backend-node/test, browser
 * engines in packages/backend-web/test/chromium.test.ts, the native engine's own tests): the ops a
 * ResNet uses, forward AND backward, plus a whole resnet20 training step, each compared with the
 * tfjs cpu backend.
 *
 * This module depends on @tensorflow/tfjs-core only (no Node APIs, no model package), so it bundles
 * for the browser; the model for the resnet20 case is passed in (`createModel` from @resnet-ts/zoo).
 *
 * ## Tolerances (why these numbers)
 * An engine is compared with cpu per output tensor by
 *     error = max |engine - cpu| / max |cpu|        (max-abs error relative to the tensor's scale)
 * Both compute in float32 (eps = 1.2e-7) but sum in a different order (XNNPACK/oneDNN tiling,
 * im2col vs direct, GPU workgroup reductions, fused multiply-add). A sum of K float32 products
 * differs between orders by about sqrt(K)·eps relative to the sum of magnitudes (K·eps worst case);
 * our op cases reduce over at most K ≈ 2·16·16·8 = 4096 terms (filter gradients), so the expected
 * relative error is ~1e-6..1e-5 (measured: 2e-6 wasm, 1.4e-6 webgpu). OP_TOLERANCE = 1e-4 leaves a
 * 10x margin over that, while a real bug (a wrong pad/stride mapping, a missing gradient term, an
 * off-by-one window) gives errors of 1e-2..1.
 * The resnet20 step chains ~60 ops and divides by batch standard deviations in 19 batch norms
 * (batch 4, so some statistics come from few values), which amplifies rounding differences layer
 * by layer: MODEL_TOLERANCE = 1e-3 (still 10-100x below what a wrong kernel anywhere produces).
 *
 * ## The cpu reference of the resnet20 step
 * tfjs-backend-cpu's Conv2DBackpropFilter is a naive 7-deep loop, ~150x slower than its forward
 * convolution: the batch-4 resnet20 step takes ~4 minutes on cpu with it. For that one case the
 * reference runs with the filter gradient expressed as a forward convolution (core's kernels/portable.ts,
 * on cpu's own Conv2D/Transpose/Slice kernels), which the conv op cases above check against
 * tfjs's stock cpu kernel for 1x1/3x3/7x7, stride 1/2, same/explicit/asymmetric padding and odd
 * sizes. Every other op of the reference is stock tfjs cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients, makeConv2DBackpropFilter } from '@resnet-ts/core';
import { nonFiniteCases } from './conformance-nonfinite.js';

/** Largest allowed relative error of an op case (forward and gradients) against cpu; see the module comment. */
export const OP_TOLERANCE = 1e-4;
/** Largest allowed relative error of the whole resnet20 training-step case against cpu; see the module comment. */
export const MODEL_TOLERANCE = 1e-3;

/** A case: computes, on the current backend, the tensors to compare (forward values, then gradients). */
export interface ConformanceCase {
  name: string;
  /** Largest allowed error (see the module comment for the metric). */
  tolerance: number;
  /** Returns new tensors the caller disposes. Must not leak other tensors. */
  run(): tf.Tensor[] | Promise<tf.Tensor[]>;
  /**
   * What the reference backend runs instead of `run` (same outputs), e.g. the layer-by-layer path
   * that a fused engine path must equal. Default: `run`.
   */
  runReference?(): tf.Tensor[] | Promise<tf.Tensor[]>;
  /** Compute the cpu reference with the fast filter gradient (see the module comment). */
  fastReferenceFilterGradient?: boolean;
  /** Names of the outputs (for messages), when the case knows them after a run. */
  outputLabels?: string[];
}

/** The minimum a model must offer for the resnet20 case (a core ResNet does). */
export interface ConformanceModel {
  /** Logits for an NHWC batch `x`; `ctx.training` selects train-mode batch norm. */
  forward(x: tf.Tensor, ctx?: { training: boolean }): tf.Tensor;
  /** The trainable variables (those the training step differentiates). */
  parameters(): tf.Variable[];
  /** The trainable variables with their names, used to label the gradients in messages. */
  namedParameters?(): [string, tf.Variable][];
  /** Frees the model's variables. */
  dispose(): void;
}

/** Builds a named model, e.g. @resnet-ts/zoo's `createModel`. */
export type ModelFactory = (name: string, overrides: { seed: number }) => ConformanceModel;

/** The outcome of one case on one engine. */
export interface CaseResult {
  name: string;
  backend: string;
  reference: string;
  /** Worst error over the case's tensors. */
  error: number;
  /** Which tensor had it (0 = first output). */
  worstOutput: number;
  /** Its name, when the case names its outputs. */
  worstLabel?: string;
  tolerance: number;
  pass: boolean;
  /** Seconds the case took on the engine. */
  seconds: number;
  /** Set when the engine threw instead of producing values. */
  failure?: string;
}

// ---------------------------------------------------------------------------------------------
// Deterministic data (independent of any backend's random generator).

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A tensor of uniform values in [lo, hi) from a fixed seed. */
export function seeded(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const rnd = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rnd();
  return tf.tensor(data, shape);
}

/**
 * Forward value and the gradients of <f(inputs), c> for a fixed random cotangent c, with respect to
 * every input: that checks the whole vector-Jacobian product, not just a sum.
 */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], seed: number): tf.Tensor[] {
  return tf.tidy(() => {
    const y = f(...inputs);
    const c = seeded(y.shape, seed + 7919);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), c)))(inputs);
    return [y, ...grads];
  });
}

/** An op case: seeded inputs, `f`, compare f's value and its input gradients. */
function opCase(
  name: string,
  shapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  seed: number,
  ranges?: [number, number][],
): ConformanceCase {
  return {
    name,
    tolerance: OP_TOLERANCE,
    run: () => {
      const inputs = shapes.map((s, i) => seeded(s, seed * 100 + i, ...(ranges?.[i] ?? [-1, 1])));
      try {
        return valueAndGrads(f, inputs, seed);
      } finally {
        tf.dispose(inputs);
      }
    },
  };
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function convCase(label: string, x: number[], k: number, cout: number, stride: number, pad: Pad, seed: number): ConformanceCase {
  const padText = typeof pad === 'string' ? `'${pad}'` : typeof pad === 'number' ? `pad ${pad}` : `pad ${JSON.stringify(pad.slice(1, 3))}`;
  return opCase(
    `conv2d ${k}x${k} stride ${stride} ${padText} ${label} x[${x}] -> ${cout}`,
    [x, [k, k, x[3], cout]],
    (xi, w) => tf.conv2d(xi as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
    seed,
  );
}

/** The ResNet op list, forward and backward. Small shapes: the cpu reference must stay quick. */
export function opCases(): ConformanceCase[] {
  return [
    convCase('(bottleneck reduce)', [2, 8, 8, 8], 1, 16, 1, 'same', 1),
    convCase('(projection shortcut, odd size)', [2, 9, 9, 8], 1, 16, 2, 'valid', 2),
    convCase('(basic block)', [2, 8, 8, 8], 3, 8, 1, 'same', 3),
    convCase('(explicit)', [2, 7, 7, 4], 3, 8, 1, 1, 4),
    convCase('(downsampling)', [2, 8, 8, 8], 3, 16, 2, 'same', 5),
    convCase('(explicit, odd H and W)', [2, 10, 9, 4], 3, 8, 2, 1, 6),
    convCase(
      '(asymmetric)',
      [2, 8, 8, 4],
      3,
      8,
      2,
      [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
      7,
    ),
    convCase('(ImageNet stem)', [2, 16, 16, 3], 7, 8, 2, 3, 8),
    convCase('', [1, 9, 9, 3], 7, 4, 1, 'same', 9),
    opCase(
      'batch norm train (moments over N,H,W)',
      [[4, 5, 5, 6], [6], [6]],
      (x, gamma, beta) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.batchNorm4d(
          x as tf.Tensor4D,
          mean as tf.Tensor1D,
          variance as tf.Tensor1D,
          beta as tf.Tensor1D,
          gamma as tf.Tensor1D,
          1e-5,
        );
      },
      10,
      [
        [-2, 3],
        [0.5, 1.5],
        [-0.5, 0.5],
      ],
    ),
    opCase(
      'batch norm moments (mean, variance)',
      [[4, 5, 5, 6]],
      (x) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.concat([mean, variance]);
      },
      11,
      [[-2, 3]],
    ),
    opCase(
      'batch norm eval (running statistics)',
      [[2, 5, 5, 6], [6], [6], [6], [6]],
      (x, mean, variance, gamma, beta) =>
        tf.batchNorm4d(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5),
      12,
      [
        [-2, 3],
        [-0.5, 0.5],
        [0.5, 2],
        [0.5, 1.5],
        [-0.5, 0.5],
      ],
    ),
    opCase('relu', [[2, 6, 6, 4]], (x) => tf.relu(x), 13),
    opCase(
      'add (residual sum)',
      [
        [2, 6, 6, 4],
        [2, 6, 6, 4],
      ],
      (a, b) => tf.add(a, b),
      14,
    ),
    opCase(
      'channel pad (option A shortcut)',
      [[2, 4, 4, 4]],
      (x) =>
        tf.pad(x, [
          [0, 0],
          [0, 0],
          [0, 0],
          [2, 2],
        ]),
      15,
    ),
    opCase('subsample avgPool(x, 1, 2, valid)', [[2, 9, 9, 4]], (x) => tf.avgPool(x as tf.Tensor4D, 1, 2, 'valid'), 16),
    opCase('max pool 3x3 stride 2 pad 1', [[2, 9, 9, 4]], (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1), 17),
    opCase('avg pool 2x2 stride 2', [[2, 8, 8, 4]], (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'), 18),
    opCase('avg pool 3x3 stride 1 same', [[2, 7, 7, 4]], (x) => tf.avgPool(x as tf.Tensor4D, 3, 1, 'same'), 19),
    opCase('global average pool mean(x, [1, 2])', [[2, 7, 7, 8]], (x) => tf.mean(x, [1, 2]), 20),
    opCase('matMul + bias (fc)', [[4, 16], [16, 10], [10]], (x, w, b) => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b), 21),
    {
      name: 'softmax cross-entropy (mean over batch)',
      tolerance: OP_TOLERANCE,
      run: () =>
        tf.tidy(() => {
          const logits = seeded([4, 10], 2200, -3, 3);
          const labels = tf.oneHot(tf.tensor1d([3, 0, 9, 5], 'int32'), 10);
          const loss = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, l) as tf.Scalar;
          const manual = (l: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(l)), -1))) as tf.Scalar;
          return [loss(logits), tf.grad(loss)(logits), manual(logits), tf.grad(manual)(logits)];
        }),
    },
  ];
}

/**
 * A whole CIFAR ResNet-20 training step: `createModel('resnet20', {seed: 1})`, batch 4 of seeded
 * 32x32x3 images, softmax cross-entropy in train mode (batch statistics); compares the loss and the
 * gradient of every parameter (core's `lossAndGradients`) with cpu's.
 */
export function resnet20Case(createModel: ModelFactory, batch = 4): ConformanceCase {
  const c: ConformanceCase = {
    name: `resnet20 training step (batch ${batch}): loss and all parameter gradients`,
    tolerance: MODEL_TOLERANCE,
    fastReferenceFilterGradient: true,
    run: () => {
      const model = createModel('resnet20', { seed: 1 });
      if (model.namedParameters) c.outputLabels = ['loss', ...model.namedParameters().map(([n]) => `d ${n}`)];
      try {
        return tf.tidy(() => {
          const x = seeded([batch, 32, 32, 3], 3100);
          const labels = tf.oneHot(
            tf.tensor1d(
              Array.from({ length: batch }, (_, i) => (i * 7) % 10),
              'int32',
            ),
            10,
          );
          const params = model.parameters();
          const { loss, grads } = lossAndGradients(model, x, labels, { params });
          return [loss, ...params.map((p) => grads[p.name])];
        });
      } finally {
        model.dispose();
      }
    },
  };
  return c;
}

/** The full suite: the op list, the non-finite cases, plus the resnet20 step when a model factory is given. */
export function conformanceCases(options: { createModel?: ModelFactory; batch?: number } = {}): ConformanceCase[] {
  const cases = [...opCases(), ...nonFiniteCases(OP_TOLERANCE)];
  if (options.createModel) cases.push(resnet20Case(options.createModel, options.batch));
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Running

/** Switches the tfjs backend; in Node pass core's `useBackend` so plug-ins do their setup. */
export type BackendSwitch = (name: string) => Promise<unknown>;

const defaultSwitch: BackendSwitch = async (name) => {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
};

/**
 * Max |a-b| / max |ref| over the finite reference values (absolute when those are all zeros).
 * A non-finite reference value must be matched exactly (NaN by NaN, +Inf by +Inf, -Inf by -Inf),
 * and a non-finite value where the reference is finite is an error too: both give Infinity.
 */
export function relativeError(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  if (ref.length !== got.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i])) {
      if (!Object.is(ref[i], got[i]) && !(Number.isNaN(ref[i]) && Number.isNaN(got[i]))) return Infinity;
      continue;
    }
    const d = Math.abs(ref[i] - got[i]);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

async function download(tensors: tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  try {
    const out = [];
    for (const t of tensors) out.push({ shape: t.shape, data: Float32Array.from(await t.data()) });
    return out;
  } finally {
    tf.dispose(tensors);
  }
}

/** Runs `fn` with the forward-conv filter gradient registered for `backendName`, then restores. */
export async function withFastFilterGradient<T>(backendName: string, fn: () => Promise<T>): Promise<T> {
  const saved = tf.getKernel('Conv2DBackpropFilter', backendName);
  if (saved) tf.unregisterKernel('Conv2DBackpropFilter', backendName);
  tf.registerKernel(makeConv2DBackpropFilter(backendName));
  try {
    return await fn();
  } finally {
    tf.unregisterKernel('Conv2DBackpropFilter', backendName);
    if (saved) tf.registerKernel(saved);
  }
}

const referenceCache = new Map<string, Promise<{ shape: number[]; data: Float32Array }[]>>();

/**
 * Runs `c` on `reference` (cached per case) and on `backend`, and compares. The engine is left
 * current afterwards. Throws nothing: a failing engine is a failed result with `failure` set.
 */
export async function runCase(
  c: ConformanceCase,
  backend: string,
  options: { reference?: string; switchBackend?: BackendSwitch } = {},
): Promise<CaseResult> {
  const reference = options.reference ?? 'cpu';
  const switchTo = options.switchBackend ?? defaultSwitch;
  const key = `${reference}\u0000${c.name}`;
  let ref = referenceCache.get(key);
  if (!ref) {
    ref = (async () => {
      await switchTo(reference);
      const run = async () => download(await (c.runReference ? c.runReference() : c.run()));
      if (!c.fastReferenceFilterGradient) return run();
      return withFastFilterGradient(reference, run);
    })();
    referenceCache.set(key, ref);
    ref.catch(() => referenceCache.delete(key));
  }
  const expected = await ref;
  const base = { name: c.name, backend, reference, tolerance: c.tolerance };
  await switchTo(backend);
  const t0 = Date.now();
  let got: { shape: number[]; data: Float32Array }[];
  try {
    got = await download(await c.run());
  } catch (e) {
    return { ...base, error: Infinity, worstOutput: -1, pass: false, seconds: (Date.now() - t0) / 1000, failure: (e as Error).message };
  }
  const seconds = (Date.now() - t0) / 1000;
  if (got.length !== expected.length) {
    return {
      ...base,
      error: Infinity,
      worstOutput: -1,
      pass: false,
      seconds,
      failure: `${got.length} outputs, the reference has ${expected.length}`,
    };
  }
  let error = 0;
  let worstOutput = 0;
  for (let i = 0; i < got.length; i++) {
    const shapeOk = got[i].shape.join(',') === expected[i].shape.join(',');
    const e = shapeOk ? relativeError(expected[i].data, got[i].data) : Infinity;
    if (!(e <= error)) {
      error = e;
      worstOutput = i;
    }
  }
  return { ...base, error, worstOutput, worstLabel: c.outputLabels?.[worstOutput], pass: error <= c.tolerance, seconds };
}

/** Runs every case on `backend`; one result per case. */
export async function runConformance(
  backend: string,
  cases: ConformanceCase[],
  options: { reference?: string; switchBackend?: BackendSwitch } = {},
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(c, backend, options));
  return results;
}

/** One line per result, for logs. */
export function formatResults(results: CaseResult[]): string {
  return results
    .map(
      (r) =>
        `${r.pass ? 'ok  ' : 'FAIL'} ${r.backend.padEnd(8)} ${r.error.toExponential(2)} <= ${r.tolerance.toExponential(0)}  ${r.seconds.toFixed(2)}s  ${r.name}` +
        (r.failure ? `  (${r.failure})` : r.pass ? '' : `  (worst: output #${r.worstOutput}${r.worstLabel ? ` ${r.worstLabel}` : ''})`),
    )
    .join('\n');
}
