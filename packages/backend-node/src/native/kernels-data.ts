/**
 * Data movement kernels of the native backend (see kernels.ts): slice and pad as contiguous runs
 * copied into recycled buffers, transpose as one oneDNN reorder.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PadV2Attrs, SliceAttrs, TransposeAttrs } from '@tensorflow/tfjs-core';
import { NativeImpl, alloc, f32, out, size } from './kernel-args.js';

// ---- data movement (plain JS: the cpu kernels index element by element) -----------------------

/** Row-major strides of `shape`. */
function strides(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/**
 * Copies `count` runs of `run` contiguous floats: run number n starts at `src` offset
 * `srcBase + sum_j idx_j * srcStep_j` and `dst` offset `dstBase + sum_j idx_j * dstStep_j`,
 * where idx is n written in the mixed radix `counts` (the outer axes, row-major).
 */
function copyRuns(
  src: Float32Array,
  srcBase: number,
  srcStep: number[],
  dst: Float32Array,
  dstBase: number,
  dstStep: number[],
  counts: number[],
  run: number,
): void {
  const r = counts.length;
  const idx = new Array<number>(r).fill(0);
  let total = 1;
  for (const c of counts) total *= c;
  let s = srcBase,
    d = dstBase;
  for (let n = 0; n < total; n++) {
    if (run >= 32) dst.set(src.subarray(s, s + run), d);
    else for (let i = 0; i < run; i++) dst[d + i] = src[s + i];
    // Odometer step over the outer axes.
    for (let j = r - 1; j >= 0; j--) {
      idx[j]++;
      s += srcStep[j];
      d += dstStep[j];
      if (idx[j] < counts[j]) break;
      s -= srcStep[j] * counts[j];
      d -= dstStep[j] * counts[j];
      idx[j] = 0;
    }
  }
}

/** Slice (also the gradient of Pad): contiguous runs copied into a recycled buffer. */
export const slice: NativeImpl = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const { begin, size: sz } = attrs as unknown as SliceAttrs;
  const xv = f32(backend, x);
  if (!xv || x.shape.length === 0) return null;
  const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, sz);
  const shape = x.shape;
  const n = size(s);
  if (n < 4096 || s.length !== shape.length) return null; // small: the cpu kernel is fine
  // Last axis the slice cuts; from there on, each output run is contiguous in x.
  let t = shape.length - 1;
  while (t > 0 && b[t] === 0 && s[t] === shape[t]) t--;
  // One contiguous run: the cpu kernel returns a view of x's values, no copy at all.
  if (s.slice(0, t).every((d) => d === 1)) return null;
  const xst = strides(shape);
  const run = s[t] * xst[t];
  let base = 0;
  for (let j = 0; j < shape.length; j++) base += b[j] * xst[j];
  const y = alloc(n);
  copyRuns(xv, base, xst.slice(0, t), y, 0, strides(s).slice(0, t), s.slice(0, t), run);
  return out(backend, s, y);
};

/** PadV2 with a constant (option A shortcuts pad channels with zeros). */
export const padV2: NativeImpl = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const { paddings, constantValue } = attrs as unknown as PadV2Attrs;
  const xv = f32(backend, x);
  const shape = x.shape;
  if (!xv || shape.length === 0 || paddings.length !== shape.length) return null;
  const outShape = shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const n = size(outShape);
  if (n < 4096 || xv.length === 0) return null;
  let t = shape.length - 1;
  while (t > 0 && paddings[t][0] === 0 && paddings[t][1] === 0) t--;
  const xst = strides(shape),
    yst = strides(outShape);
  let base = 0;
  for (let j = 0; j < shape.length; j++) base += paddings[j][0] * yst[j];
  const y = alloc(n);
  y.fill(constantValue);
  copyRuns(xv, 0, xst.slice(0, t), y, base, yst.slice(0, t), shape.slice(0, t), shape[t] * xst[t]);
  return out(backend, outShape, y);
};

/**
 * Transpose as one oneDNN reorder (the cpu kernel computes every element's coordinates: ~10x
 * slower, e.g. 0.1 s for an NCHW ResNet-50 batch of 8 at 224x224).
 */
export const transpose: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x } = inputs;
  const { perm } = attrs as unknown as TransposeAttrs;
  const xv = f32(backend, x);
  if (!xv || x.shape.length === 0 || perm.length !== x.shape.length || xv.length < 4096) return null;
  const shape = perm.map((p) => x.shape[p]);
  const y = alloc(xv.length);
  addon.transpose(xv, x.shape, perm, y);
  return out(backend, shape, y);
};
