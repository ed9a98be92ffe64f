/**
 * Conformance cases with NaN, +Inf and -Inf in inputs, weights, biases, batch-norm statistics and
 * residuals, through every fused form an engine may run: conv + bias + ReLU, conv + batch norm
 * (folded in eval mode) + ReLU, conv + batch norm + residual add + ReLU (one oneDNN kernel on the
 * native engine), matMul + bias + ReLU, and the fused train-mode batch norm. Each is compared with
 * the cpu backend by {@link relativeError}'s rule for non-finite values: NaN exactly where cpu has
 * NaN, the same infinities, the finite values within tolerance. The eval-mode cases run the fused
 * path on the engine and the plain layer-by-layer path (no folding, no fusion) on cpu, so they
 * also check that folding a batch norm into the conv keeps every NaN and Inf of the unfolded one
 * (a negative `running_var` gives NaN, never a finite value).
 *
 * Not here: an infinite batch-norm scale (gamma = Inf, or running_var = -eps). Core then does not
 * fold (see `Conv2d.inferenceWeights`, tested in core), but the engines' own unfused batch norm
 * differs: webgpu computes x * a + b, so (x - mean) * Inf becomes Inf - Inf = NaN where cpu has ±Inf.
 *
 * Where the special values sit avoids the one place where correct engines legitimately differ:
 * an infinite filter tap that meets zero padding (the cpu kernel skips padded taps, im2col engines
 * multiply them, 0 * Inf = NaN). Infinite taps are centre taps of 3x3 filters or in 1x1 filters.
 *
 * Depends on tfjs-core and @resnet-ts/core only (bundled for the browser with the rest of the suite).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, batchNormTrain, convBnAct, convBnAddRelu, setInferenceFusion } from '@resnet-ts/core';
import type { ConformanceCase } from './conformance.js';

/** [index into the flat array, value] pairs written over seeded data. */
type Specials = [number, number][];

/** Deterministic values in [lo, hi) (an LCG: no backend's random generator), with `specials` written over them (see below for NaN). */
function data(shape: number[], seed: number, specials: Specials = [], lo = -1, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  // NaNs alternate between the sign bit clear (JavaScript's NaN) and set (the NaN that x86 and
  // wasm arithmetic produce, which an integer-max ReLU would zero).
  const bits = new Uint32Array(v.buffer);
  specials.forEach(([i, value], k) => {
    if (Number.isNaN(value)) bits[i] = k % 2 === 0 ? 0xffc00000 : 0x7fc00000;
    else v[i] = value;
  });
  return tf.tensor(v, shape);
}

/** Flat index of position `at` in a row-major tensor of `shape`. */
function flat(shape: number[], at: number[]): number {
  return at.reduce((acc, a, i) => acc * shape[i] + a, 0);
}

const { NaN: nan } = Number;
const inf = Infinity;

/** x [2, 6, 6, 8] with NaN, +Inf and -Inf inside and at a corner (next to the padding). */
function specialInput(seed: number, shape = [2, 6, 6, 8]): tf.Tensor4D {
  const specials: Specials = [
    [flat(shape, [0, 1, 1, 0]), nan],
    [flat(shape, [0, 3, 4, 2]), inf],
    [flat(shape, [1, 2, 2, 5]), -inf],
    [flat(shape, [1, shape[1] - 1, shape[2] - 1, shape[3] - 1]), nan],
  ];
  return data(shape, seed, specials) as tf.Tensor4D;
}

/** A 3x3 (or 1x1) filter with +Inf, NaN and -Inf in centre taps of three output channels. */
function specialFilter(seed: number, k: number, cin: number, cout: number): tf.Tensor4D {
  const shape = [k, k, cin, cout];
  const c = Math.floor(k / 2);
  const specials: Specials = [
    [flat(shape, [c, c, 3 % cin, 4 % cout]), inf],
    [flat(shape, [c, c, 6 % cin, 1 % cout]), nan],
    [flat(shape, [c, c, 0, 6 % cout]), -inf],
  ];
  return data(shape, seed, specials, -0.5, 0.5) as tf.Tensor4D;
}

/** Case whose engine run and cpu reference differ only in `fused` (true on the engine). */
function evalCase(name: string, tolerance: number, f: (fused: boolean) => tf.Tensor[]): ConformanceCase {
  const withFusion = (on: boolean): tf.Tensor[] => {
    const previous = setInferenceFusion(on);
    try {
      return f(on);
    } finally {
      setInferenceFusion(previous);
    }
  };
  return { name, tolerance, run: () => withFusion(true), runReference: () => withFusion(false) };
}

/** A Conv2d (3x3 8->8, or as given) and BatchNorm2d with the given values; the caller disposes both. */
function convBn(seed: number, bnSpecials: { mean?: Specials; variance?: Specials; gamma?: Specials; beta?: Specials }, k = 3, c = 8) {
  const conv = new Conv2d(c, c, k);
  const bn = new BatchNorm2d(c);
  const assign = (v: tf.Variable, t: tf.Tensor) => {
    v.assign(t);
    t.dispose();
  };
  assign(conv.weight, specialFilter(seed, k, c, c));
  assign(bn.runningMean, data([c], seed + 1, bnSpecials.mean, -0.3, 0.3));
  assign(bn.runningVar, data([c], seed + 2, bnSpecials.variance, 0.5, 2));
  assign(bn.weight, data([c], seed + 3, bnSpecials.gamma, 0.5, 1.5));
  assign(bn.bias, data([c], seed + 4, bnSpecials.beta, -0.5, 0.5));
  return { conv, bn };
}

/** Convolutions (fused with bias and relu, and plain) fed NaN and ±Inf in input, filter and bias. */
function convCases(tolerance: number): ConformanceCase[] {
  return [
    {
      name: 'non-finite: fused conv2d 3x3 + bias + relu / linear, and plain conv2d (NaN, ±Inf in x, filter, bias)',
      tolerance,
      run: () =>
        tf.tidy(() => {
          const x = specialInput(41);
          const filter = specialFilter(42, 3, 8, 8);
          const bias = data([8], 43, [
            [2, nan],
            [7, -inf],
          ]) as tf.Tensor1D;
          const fused = (activation: 'relu' | 'linear') => tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation });
          return [fused('relu'), fused('linear'), tf.conv2d(x, filter, 1, 'same'), tf.fused.conv2d({ x, filter, strides: 2, pad: 'same', activation: 'relu' })];
        }),
    },
    {
      name: 'non-finite: fused conv2d 1x1 + bias + relu, stride 1 and 2 (NaN, ±Inf in x, filter, bias)',
      tolerance,
      run: () =>
        tf.tidy(() => {
          const x = specialInput(44, [2, 5, 5, 16]);
          const filter = specialFilter(45, 1, 16, 16);
          const bias = data([16], 46, [[9, inf]]) as tf.Tensor1D;
          return [1, 2].map((strides) => tf.fused.conv2d({ x, filter, strides, pad: 'valid', bias, activation: 'relu' }));
        }),
    },
  ];
}

/** Eval-mode conv + batch norm (folded, and with the residual add) with broken running statistics and weights. */
function evalCases(tolerance: number): ConformanceCase[] {
  return [
    evalCase('non-finite: eval conv + batch norm (folded) + relu; negative running_var, Inf mean, NaN/Inf weights and input', tolerance, () => {
      const { conv, bn } = convBn(51, {
        variance: [[3, -0.5]],
        mean: [[1, inf]],
        beta: [[0, nan]],
      });
      try {
        return tf.tidy(() => [convBnAct(conv, bn, specialInput(52), { training: false }, true), convBnAct(conv, bn, specialInput(53), { training: false }, false)]);
      } finally {
        conv.dispose();
        bn.dispose();
      }
    }),
    evalCase('non-finite: eval conv + batch norm + residual add + relu (one kernel on native); NaN/±Inf residual, negative running_var', tolerance, () => {
      const { conv, bn } = convBn(61, { variance: [[5, -1]] });
      try {
        return tf.tidy(() => {
          const shape = [2, 6, 6, 8];
          const residual = data(shape, 62, [
            [flat(shape, [0, 0, 0, 0]), nan],
            [flat(shape, [0, 2, 3, 1]), inf],
            [flat(shape, [1, 4, 1, 2]), -inf],
            [flat(shape, [1, 5, 5, 7]), -inf],
          ]);
          return [convBnAddRelu(conv, bn, specialInput(63), residual, { training: false })];
        });
      } finally {
        conv.dispose();
        bn.dispose();
      }
    }),
  ];
}

/** The fully connected layer, train-mode batch norm, pooling and the global mean. */
function otherCases(tolerance: number): ConformanceCase[] {
  return [
    {
      name: 'non-finite: fused matMul + bias + relu / linear, and plain matMul (NaN, ±Inf in a, b, bias)',
      tolerance,
      run: () =>
        tf.tidy(() => {
          const a = data([4, 16], 71, [
            [3, nan],
            [20, inf],
            [45, -inf],
          ]) as tf.Tensor2D;
          const b = data([16, 10], 72, [
            [5, inf],
            [77, nan],
            [150, -inf],
          ]) as tf.Tensor2D;
          const bias = data([10], 73, [[8, nan]]) as tf.Tensor1D;
          const fused = (activation: 'relu' | 'linear') => tf.fused.matMul({ a, b, bias, activation });
          return [fused('relu'), fused('linear'), tf.matMul(a, b)];
        }),
    },
    {
      name: 'non-finite: train-mode batch norm (fused kernel on native): y, batch mean and variance per channel',
      tolerance,
      run: () =>
        tf.tidy(() => {
          const shape = [4, 5, 5, 6];
          const x = data(shape, 81, [
            [flat(shape, [1, 2, 2, 0]), nan],
            [flat(shape, [2, 1, 3, 1]), inf],
            [flat(shape, [3, 4, 0, 2]), -inf],
            [flat(shape, [0, 1, 1, 3]), inf],
            [flat(shape, [2, 2, 2, 3]), -inf],
            [flat(shape, [0, 0, 0, 4]), inf], // the first row: the native kernel's shift
          ]);
          const { y, mean, variance } = batchNormTrain(x, data([6], 82, [], 0.5, 1.5) as tf.Tensor1D, data([6], 83) as tf.Tensor1D, 1e-5);
          return [y, mean, variance];
        }),
    },
    {
      name: 'non-finite: pooling and global mean (NaN, ±Inf in x)',
      tolerance,
      run: () =>
        tf.tidy(() => {
          const x = specialInput(91);
          return [tf.avgPool(x, 3, 1, 'same'), tf.avgPool(x, 1, 2, 'valid'), tf.maxPool(x, 3, 2, 1), tf.mean(x, [1, 2])];
        }),
    },
  ];
}

/** The non-finite cases; `tolerance` bounds the finite values' error (the suite's OP_TOLERANCE). */
export function nonFiniteCases(tolerance: number): ConformanceCase[] {
  return [...convCases(tolerance), ...evalCases(tolerance), ...otherCases(tolerance)];
}
