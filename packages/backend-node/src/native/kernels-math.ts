/** oneDNN / C++ matrix multiplication, element-wise, reduction and tiling kernels of the native backend (see kernels.ts). */
import * as tf from '@tensorflow/tfjs-core';
import type {
  BatchMatMulAttrs,
  StepAttrs,
  SumAttrs,
  TensorInfo,
  TileAttrs,
  _FusedMatMulAttrs,
} from '@tensorflow/tfjs-core';

import { NativeImpl, alloc, f32, out, size } from './kernel-args.js';

// ---- matmul ---------------------------------------------------------------------------------

function matmulCase(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { params: number[]; shape: number[] } | null {
  if (a.shape.length < 2 || a.shape.length !== b.shape.length) return null;
  const r = a.shape.length;
  const batchShapeA = a.shape.slice(0, r - 2),
    batchShapeB = b.shape.slice(0, r - 2);
  const ba = size(batchShapeA),
    bb = size(batchShapeB);
  let batchShape: number[];
  if (batchShapeA.every((d, i) => d === batchShapeB[i])) batchShape = batchShapeA;
  else if (ba === 1) batchShape = batchShapeB;
  else if (bb === 1) batchShape = batchShapeA;
  else return null;
  const M = transposeA ? a.shape[r - 1] : a.shape[r - 2];
  const K = transposeA ? a.shape[r - 2] : a.shape[r - 1];
  const K2 = transposeB ? b.shape[r - 1] : b.shape[r - 2];
  const N = transposeB ? b.shape[r - 2] : b.shape[r - 1];
  if (K !== K2 || M === 0 || N === 0 || K === 0) return null;
  return { params: [ba, bb, M, K, N, transposeA ? 1 : 0, transposeB ? 1 : 0], shape: [...batchShape, M, N] };
}

export const batchMatMul: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  const av = f32(backend, a),
    bv = f32(backend, b);
  if (!av || !bv) return null;
  const c = matmulCase(a, b, transposeA, transposeB);
  if (!c) return null;
  const y = alloc(size(c.shape));
  addon.matmul(av, bv, null, y, c.params, false);
  return out(backend, c.shape, y);
};

export const fusedMatMul: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { a, b, bias, preluActivationWeights } = inputs;
  const { transposeA, transposeB, activation } = attrs as unknown as _FusedMatMulAttrs;
  if (preluActivationWeights || (activation !== 'linear' && activation !== 'relu')) return null;
  const av = f32(backend, a),
    bv = f32(backend, b);
  if (!av || !bv) return null;
  const c = matmulCase(a, b, transposeA, transposeB);
  if (!c) return null;
  let biasv: Float32Array | null = null;
  if (bias) {
    biasv = f32(backend, bias);
    // Only a bias over the last (N) axis; other broadcasts go to the cpu kernel.
    if (!biasv || biasv.length !== c.params[4] || bias.shape[bias.shape.length - 1] !== c.params[4]) return null;
  }
  const y = alloc(size(c.shape));
  addon.matmul(av, bv, biasv, y, c.params, activation === 'relu');
  return out(backend, c.shape, y);
};

// ---- elementwise ----------------------------------------------------------------------------

/**
 * How an operand broadcasts to the output: full, scalar, or a vector repeated over the leading
 * (mode 2) or trailing (mode 3) part of the output split at axis k.
 */
function bcast(shape: number[], outShape: number[]): { mode: number; k: number } | null {
  const r = outShape.length;
  if (shape.length > r) return null;
  const s = [...new Array<number>(r - shape.length).fill(1), ...shape];
  if (s.every((d, i) => d === outShape[i])) return { mode: 0, k: -1 };
  if (s.every((d) => d === 1)) return { mode: 1, k: -1 };
  const first = s.findIndex((d) => d !== 1);
  if (s.slice(first).every((d, i) => d === outShape[first + i])) return { mode: 2, k: first };
  let last = r - 1;
  while (s[last] === 1) last--;
  if (s.slice(0, last + 1).every((d, i) => d === outShape[i])) return { mode: 3, k: last + 1 };
  return null;
}

export function binary(op: string): NativeImpl {
  return ({ inputs, backend }, addon) => {
    const { a, b } = inputs;
    const av = f32(backend, a),
      bv = f32(backend, b);
    if (!av || !bv) return null;
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const ma = bcast(a.shape, shape),
      mb = bcast(b.shape, shape);
    if (!ma || !mb) return null;
    let k = shape.length;
    if (ma.k >= 0 && mb.k >= 0 && ma.k !== mb.k) return null;
    if (ma.k >= 0) k = ma.k;
    else if (mb.k >= 0) k = mb.k;
    const outer = size(shape.slice(0, k)),
      inner = size(shape.slice(k));
    const y = alloc(size(shape));
    if (y.length > 0) addon.binary(op, av, ma.mode, bv, mb.mode, y, outer, inner);
    return out(backend, shape, y);
  };
}

export function unary(op: string): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { x } = inputs;
    const xv = f32(backend, x);
    if (!xv) return null;
    const y = alloc(xv.length);
    const alpha = op === 'Step' ? (attrs as unknown as StepAttrs).alpha : 0;
    addon.unary(op, xv, y, alpha);
    return out(backend, x.shape, y);
  };
}

export function reduce(op: 'Sum' | 'Mean'): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { x } = inputs;
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const xv = f32(backend, x);
    if (!xv || xv.length === 0) return null;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    if (axes.length === 0) return null;
    // The reduced axes must be one contiguous run: x is then [outer, mid, inner], reduced over mid.
    const k0 = axes[0],
      k1 = axes[axes.length - 1];
    if (k1 - k0 + 1 !== axes.length) return null;
    const outer = size(x.shape.slice(0, k0));
    const mid = size(x.shape.slice(k0, k1 + 1));
    const inner = size(x.shape.slice(k1 + 1));
    const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const y = alloc(outer * inner);
    addon.reduce(op, xv, y, outer, mid, inner);
    return out(backend, shape, y);
  };
}

export const tile: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x } = inputs;
  const { reps } = attrs as unknown as TileAttrs;
  const xv = f32(backend, x);
  if (!xv || reps.length !== x.shape.length || x.shape.length === 0) return null;
  const shape = x.shape.map((d, i) => d * reps[i]);
  const y = alloc(size(shape));
  addon.tile(xv, x.shape, reps, y);
  return out(backend, shape, y);
};
