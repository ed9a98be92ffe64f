/**
 * The cases of the conformance suite (see conformance.ts for how they run and why these
 * tolerances): the ResNet op list forward and backward on seeded data, the non-finite cases, and a
 * whole resnet20 training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients } from '@resnet-ts/core';
import type { ConformanceCase, ModelFactory } from './conformance.js';
import { nonFiniteCases } from './conformance-nonfinite.js';

/** Largest allowed relative error of an op case (forward and gradients) against cpu; see the module comment. */
export const OP_TOLERANCE = 1e-4;
/** Largest allowed relative error of the whole resnet20 training-step case against cpu; see the module comment. */
export const MODEL_TOLERANCE = 1e-3;

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

/** Convolutions: 1x1/3x3/7x7, stride 1/2, same/valid/explicit/asymmetric padding, odd sizes. */
function convCases(): ConformanceCase[] {
  return [
    convCase('(bottleneck reduce)', [2, 8, 8, 8], 1, 16, 1, 'same', 1),
    convCase('(projection shortcut, odd size)', [2, 9, 9, 8], 1, 16, 2, 'valid', 2),
    convCase('(basic block)', [2, 8, 8, 8], 3, 8, 1, 'same', 3),
    // 32 channels: native runs this one as a Winograd conv (AVX-512), partial 4x4 tiles on both axes.
    convCase('(32 channels)', [2, 6, 10, 32], 3, 32, 1, 'same', 11),
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
  ];
}

/** Batch norm in train mode (batch moments), its moments, and in eval mode (running statistics). */
function batchNormCases(): ConformanceCase[] {
  return [
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
  ];
}

/** ReLU, the residual sum, option A's channel pad, subsampling and pooling, and the classifier. */
function layerCases(): ConformanceCase[] {
  return [
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
  ];
}

/** Softmax cross-entropy against the same loss written out by hand, and both gradients. */
function lossCase(): ConformanceCase {
  return {
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
  };
}

/** The ResNet op list, forward and backward. Small shapes: the cpu reference must stay quick. */
export function opCases(): ConformanceCase[] {
  return [...convCases(), ...batchNormCases(), ...layerCases(), lossCase()];
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

/**
 * A whole CIFAR ResNet-20 eval-mode forward (one compiled oneDNN plan on `native`, see
 * src/native/plan.ts): batch 4 of seeded images, with NaN, +Inf and -Inf in one pixel of images 0, 1
 * and 2 (image 3 finite); the logits must carry NaN and infinities exactly where cpu's do.
 */
export function resnet20EvalCase(createModel: ModelFactory): ConformanceCase {
  return {
    name: 'resnet20 eval forward (batch 4, NaN / +Inf / -Inf input pixels): logits',
    tolerance: MODEL_TOLERANCE,
    run: () => {
      const model = createModel('resnet20', { seed: 1 });
      try {
        return tf.tidy(() => {
          const shape = [4, 32, 32, 3];
          const values = seeded(shape, 3200).dataSync().slice() as Float32Array;
          const image = 32 * 32 * 3;
          [NaN, Infinity, -Infinity].forEach((v, i) => (values[i * image + 3 * (32 * (5 + 9 * i) + 7) + i] = v));
          return [model.forward(tf.tensor4d(values, shape as [number, number, number, number]), { training: false })];
        });
      } finally {
        model.dispose();
      }
    },
  };
}

/** The full suite: the op list, the non-finite cases, plus the resnet20 step and eval forward when a model factory is given. */
export function conformanceCases(options: { createModel?: ModelFactory; batch?: number } = {}): ConformanceCase[] {
  const cases = [...opCases(), ...nonFiniteCases(OP_TOLERANCE)];
  if (options.createModel) cases.push(resnet20Case(options.createModel, options.batch), resnet20EvalCase(options.createModel));
  return cases;
}
