/**
 * Shared by the plan*.test.ts files: models with non-trivial batch norm statistics, logits with the
 * compiled plan on and off, a comparison that treats NaN and ±Inf as values, and a count of the
 * plan's native runs (to prove the plan, not its fallback, produced a result).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Module, ResNet, setInferencePlan } from '@resnet-ts/core';
import { loadAddon, NATIVE_INSTALL_HINT } from '../src/native/index.js';

export const available = loadAddon().addon != null;
if (!available) console.warn(`native plan tests SKIPPED: ${loadAddon().error}. To run them: ${NATIVE_INSTALL_HINT}`);
/** `describe`, or `describe.skip` without the addon. */
export const describeNative = available ? describe : describe.skip;

/** Deterministic uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return out;
}

/** Gives every batch norm of `model` random gamma, beta, running mean and (positive) variance, so folding matters. */
export function randomizeBatchNorms(model: Module, seed: number): void {
  let k = seed;
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const c = m.numFeatures;
    m.weight.assign(tf.tensor1d(uniform(c, k++, 0.5, 1.5)));
    m.bias.assign(tf.tensor1d(uniform(c, k++, -0.2, 0.2)));
    m.runningMean.assign(tf.tensor1d(uniform(c, k++, -0.2, 0.2)));
    m.runningVar.assign(tf.tensor1d(uniform(c, k++, 0.5, 2)));
  }
}

/** An NHWC input of `shape` with values in [-1, 1). */
export const input = (shape: number[], seed = 7): tf.Tensor4D =>
  tf.tensor4d(
    uniform(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape as [number, number, number, number],
  );

/** Eval-mode logits of `model` with the compiled plan on or off. */
export function logits(model: ResNet, x: tf.Tensor, plan: boolean): Float32Array {
  const previous = setInferencePlan(plan);
  try {
    const y = model.forward(x, { training: false });
    const v = y.dataSync() as Float32Array;
    y.dispose();
    return v;
  } finally {
    setInferencePlan(previous);
  }
}

/** How many times the native plan ran during `f`. */
export function planRuns(f: () => void): number {
  const addon = loadAddon().addon!;
  const spy = jest.spyOn(addon, 'planRun');
  try {
    f();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/**
 * Asserts `a` equals `ref` where `ref` is not finite (NaN where NaN, the same infinity) and within
 * `tol * max(1, max |finite ref|)` elsewhere. Returns the largest finite difference.
 */
export function expectSameValues(a: Float32Array, ref: Float32Array, tol = 1e-4): number {
  expect(a.length).toBe(ref.length);
  let scale = 1;
  for (const v of ref) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i]) || !Number.isFinite(a[i])) {
      expect([i, a[i]]).toEqual([i, ref[i]]);
      continue;
    }
    worst = Math.max(worst, Math.abs(a[i] - ref[i]));
  }
  expect(worst).toBeLessThanOrEqual(tol * scale);
  return worst;
}
