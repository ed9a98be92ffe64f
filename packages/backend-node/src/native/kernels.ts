/**
 * oneDNN kernels for the `native` backend. Each kernel checks that its case is one it handles
 * (float32, NHWC, supported attributes) and otherwise calls the cpu backend's kernel, so semantics
 * never change, only speed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  AvgPoolGradAttrs,
  BatchMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedBatchNormAttrs,
  FusedConv2DAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolAttrs,
  NamedAttrMap,
  PadV2Attrs,
  SliceAttrs,
  StepAttrs,
  SumAttrs,
  TensorInfo,
  TileAttrs,
  _FusedMatMulAttrs,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { CONV2D_ADD_RELU } from '@resnet-ts/core';
import type { NativeAddon } from './addon.js';
import { pool as bufferPool } from './pool.js';

// Inputs typed as present; optional ones (bias, offset, ...) are checked before use.
type Args = { inputs: Record<string, TensorInfo>; backend: MathBackendCPU; attrs?: NamedAttrMap };
/** A native kernel: returns null when the case is not handled (the cpu kernel then runs). */
type NativeImpl = (args: Args, addon: NativeAddon) => TensorInfo | null;

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** The Float32Array storing a tensor, or null when it is not a plain float32 tensor. */
function f32(backend: MathBackendCPU, t: TensorInfo | undefined | null): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** A Float32Array for a kernel output that the kernel fully overwrites (recycled: see pool.ts). */
export function alloc(n: number): Float32Array {
  return bufferPool.alloc(n);
}

function out(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

// ---- convolution ----------------------------------------------------------------------------

type ConvInfo = tf.backend_util.Conv2DInfo;

/** oneDNN's output-size rule; explicit pads that tfjs accepts but oneDNN would compute differently fall back. */
function consistent(inSize: number, k: number, dil: number, s: number, p0: number, p1: number, outSize: number): boolean {
  const eff = (k - 1) * dil + 1;
  return p0 >= 0 && p1 >= 0 && Math.floor((inSize - eff + p0 + p1) / s) + 1 === outSize;
}

function convParams(c: ConvInfo): number[] | null {
  if (c.dataFormat !== 'channelsLast') return null;
  const p = c.padInfo;
  if (!consistent(c.inHeight, c.filterHeight, c.dilationHeight, c.strideHeight, p.top, p.bottom, c.outHeight)) return null;
  if (!consistent(c.inWidth, c.filterWidth, c.dilationWidth, c.strideWidth, p.left, p.right, c.outWidth)) return null;
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.filterHeight,
    c.filterWidth,
    c.outChannels,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    c.dilationHeight,
    c.dilationWidth,
  ];
}

/** tfjs's conv geometry and the addon's parameter list for it, or null for a case the addon is not given. */
function convCase(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Conv2DAttrs['pad'],
  dimRoundingMode?: Conv2DAttrs['dimRoundingMode'],
): { info: ConvInfo; params: number[] } | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
  );
  const params = convParams(info);
  return params ? { info, params } : null;
}

const fusedConv2D: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const a = attrs as unknown as FusedConv2DAttrs;
  if (preluActivationWeights) return null;
  if (a.activation !== 'linear' && a.activation !== 'relu') return null;
  const xv = f32(backend, x),
    wv = f32(backend, filter);
  if (!xv || !wv || a.dataFormat === 'NCHW') return null;
  const conv = convCase(x.shape, filter.shape, a.strides, a.dilations, a.pad, a.dimRoundingMode);
  if (!conv) return null;
  let bv: Float32Array | null = null;
  if (bias) {
    bv = f32(backend, bias);
    if (!bv || bv.length !== conv.info.outChannels) return null;
  }
  const y = alloc(size(conv.info.outShape));
  addon.conv2dForward(xv, wv, bv, y, conv.params, a.activation === 'relu');
  return out(backend, conv.info.outShape, y);
};

/** Conv2D is FusedConv2D without bias and activation. */
const conv2D: NativeImpl = (args, addon) =>
  fusedConv2D({ ...args, inputs: { x: args.inputs.x, filter: args.inputs.filter }, attrs: { ...args.attrs, activation: 'linear' } }, addon);

const conv2DBackpropInput: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { dy, filter } = inputs;
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  const dyv = f32(backend, dy),
    wv = f32(backend, filter);
  if (!dyv || !wv || a.dataFormat === 'NCHW') return null;
  const conv = convCase(a.inputShape, filter.shape, a.strides, 1, a.pad, a.dimRoundingMode);
  if (!conv) return null;
  const dx = alloc(size(conv.info.inShape));
  addon.conv2dBackwardData(dyv, wv, dx, conv.params);
  return out(backend, conv.info.inShape, dx);
};

const conv2DBackpropFilter: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, dy } = inputs;
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const xv = f32(backend, x),
    dyv = f32(backend, dy);
  if (!xv || !dyv || a.dataFormat === 'NCHW') return null;
  const conv = convCase(x.shape, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode);
  if (!conv) return null;
  const dw = alloc(size(conv.info.filterShape));
  addon.conv2dBackwardFilter(xv, dyv, dw, null, conv.params);
  return out(backend, conv.info.filterShape, dw);
};

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

const batchMatMul: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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

const fusedMatMul: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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

// ---- pooling --------------------------------------------------------------------------------

function poolParams(c: ConvInfo): number[] | null {
  if (c.dataFormat !== 'channelsLast' || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  const p = c.padInfo;
  if (!consistent(c.inHeight, c.filterHeight, 1, c.strideHeight, p.top, p.bottom, c.outHeight)) return null;
  if (!consistent(c.inWidth, c.filterWidth, 1, c.strideWidth, p.left, p.right, c.outWidth)) return null;
  // oneDNN needs every window to touch the input.
  if (p.top >= c.filterHeight || p.bottom >= c.filterHeight || p.left >= c.filterWidth || p.right >= c.filterWidth) return null;
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.filterHeight,
    c.filterWidth,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
  ];
}

function pool(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { x } = inputs;
    const a = attrs as unknown as MaxPoolAttrs;
    const xv = f32(backend, x);
    if (!xv || x.shape.length !== 4) return null;
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      a.filterSize,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const p = poolParams(info);
    if (!p) return null;
    const y = alloc(size(info.outShape));
    addon.poolForward(xv, y, p, isMax);
    return out(backend, info.outShape, y);
  };
}

function poolGrad(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { dy, input } = inputs;
    const a = attrs as unknown as AvgPoolGradAttrs & { dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    const dyv = f32(backend, dy),
      xv = f32(backend, input);
    if (!dyv || !xv || input.shape.length !== 4) return null;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      a.filterSize,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const p = poolParams(info);
    if (!p) return null;
    const dx = alloc(size(input.shape));
    addon.poolBackward(dyv, isMax ? xv : null, dx, p, isMax);
    return out(backend, input.shape, dx);
  };
}

// ---- batch norm (as one kernel; its gradient is composed by tfjs from the kernels here) ---------

const fusedBatchNorm: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, mean, variance, offset, scale } = inputs;
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const xv = f32(backend, x),
    mv = f32(backend, mean),
    vv = f32(backend, variance);
  if (!xv || !mv || !vv || x.shape.length < 1) return null;
  const c = x.shape[x.shape.length - 1];
  const ok = (t: TensorInfo | undefined, v: Float32Array | null): boolean =>
    t == null || (v != null && (v.length === 1 || (v.length === c && t.shape[t.shape.length - 1] === c)));
  const ov = offset ? f32(backend, offset) : null;
  const sv = scale ? f32(backend, scale) : null;
  if (!ok(mean, mv) || !ok(variance, vv) || !ok(offset, ov) || !ok(scale, sv)) return null;
  const y = alloc(xv.length);
  addon.batchNormInference(xv, mv, vv, ov, sv, y, c, varianceEpsilon ?? 0.001);
  return out(backend, x.shape, y);
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

function binary(op: string): NativeImpl {
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

function unary(op: string): NativeImpl {
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

function reduce(op: 'Sum' | 'Mean'): NativeImpl {
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

const tile: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x } = inputs;
  const { reps } = attrs as unknown as TileAttrs;
  const xv = f32(backend, x);
  if (!xv || reps.length !== x.shape.length || x.shape.length === 0) return null;
  const shape = x.shape.map((d, i) => d * reps[i]);
  const y = alloc(size(shape));
  addon.tile(xv, x.shape, reps, y);
  return out(backend, shape, y);
};

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
const slice: NativeImpl = ({ inputs, backend, attrs }) => {
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
const padV2: NativeImpl = ({ inputs, backend, attrs }) => {
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

const IMPLS: Record<string, NativeImpl> = {
  Conv2D: conv2D,
  FusedConv2D: fusedConv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  MaxPool: pool(true),
  AvgPool: pool(false),
  MaxPoolGrad: poolGrad(true),
  AvgPoolGrad: poolGrad(false),
  FusedBatchNorm: fusedBatchNorm,
  Add: binary('Add'),
  Sub: binary('Sub'),
  Multiply: binary('Mul'),
  RealDiv: binary('RealDiv'),
  SquaredDifference: binary('SquaredDifference'),
  Maximum: binary('Maximum'),
  Relu: unary('Relu'),
  Step: unary('Step'),
  Neg: unary('Neg'),
  Square: unary('Square'),
  Sqrt: unary('Sqrt'),
  Rsqrt: unary('Rsqrt'),
  Sum: reduce('Sum'),
  Mean: reduce('Mean'),
  Tile: tile,
  Slice: slice,
  PadV2: padV2,
};

/** Names of the kernels the native backend runs in oneDNN / C++ (the rest are the cpu backend's). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(IMPLS);

/** Per-kernel call counts (native vs fallback), for tests and profiling. */
export const kernelStats = new Map<string, { native: number; fallback: number }>();
let collectStats = false;
/** Counts one native run of `name` (when stats are on). */
export function countNative(name: string): void {
  if (!collectStats) return;
  const s = kernelStats.get(name) ?? { native: 0, fallback: 0 };
  s.native++;
  kernelStats.set(name, s);
}
export function setKernelStats(on: boolean): void {
  collectStats = on;
  if (on) kernelStats.clear();
}

/**
 * Kernel configs for backend `backendName`: every cpu kernel, with the ones above replaced by a
 * native kernel that falls back to the cpu one for cases it does not handle.
 */
const warned = new Set<string>();

/**
 * Kernels (and, as 'grad:<KernelName>', fused gradients) to leave to the cpu code, for bisecting a
 * numerical difference: $RESNET_TS_NATIVE_DISABLE (comma-separated), or edit the set at run time.
 */
export const nativeDisabled = new Set<string>(
  (process.env.RESNET_TS_NATIVE_DISABLE ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean),
);

export function nativeKernelConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  const configs: KernelConfig[] = [];
  for (const cpu of tf.getKernelsForBackend('cpu')) {
    const impl = IMPLS[cpu.kernelName];
    if (!impl) {
      configs.push({ ...cpu, backendName });
      continue;
    }
    const fallback = cpu.kernelFunc;
    const name = cpu.kernelName;
    const kernelFunc: KernelFunc = (args) => {
      let r: TensorInfo | null;
      try {
        r = nativeDisabled.size > 0 && nativeDisabled.has(name) ? null : impl(args as unknown as Args, addon);
      } catch (e) {
        // A case oneDNN rejects (e.g. an exotic shape): say so once, then use the cpu kernel.
        if (!warned.has(name)) {
          warned.add(name);
          console.warn(`native backend: ${name} fell back to the cpu kernel: ${(e as Error).message}`);
        }
        r = null;
      }
      if (collectStats) {
        const s = kernelStats.get(name) ?? { native: 0, fallback: 0 };
        if (r) s.native++;
        else s.fallback++;
        kernelStats.set(name, s);
      }
      return r ?? fallback(args);
    };
    configs.push({ ...cpu, backendName, kernelFunc });
  }
  return configs;
}

/**
 * Core's eval-mode residual conv (`CONV2D_ADD_RELU`): relu(conv(x) + bias + residual) as ONE oneDNN
 * conv with a sum post-op (the output buffer starts as a copy of the residual), then the addon's
 * NaN-keeping ReLU pass (oneDNN's relu post-op turns NaN into 0; see resnet_native.cc). Cases oneDNN
 * is not given (other dtypes, inconsistent pads, shapes) run the native FusedConv2D, Add and Relu.
 */
export function nativeCoreKernelConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as Args;
    const { x, filter, bias, residual } = inputs;
    const { strides, pad } = attrs as unknown as { strides: number; pad: number };
    const geometry = convCase(x.shape, filter.shape, strides, 1, pad);
    const xv = f32(backend, x),
      wv = f32(backend, filter),
      rv = f32(backend, residual),
      bv = bias ? f32(backend, bias) : null;
    const same = geometry !== null && residual.shape.length === 4 && residual.shape.every((d, i) => d === geometry.info.outShape[i]);
    if (
      xv &&
      wv &&
      rv &&
      geometry &&
      same &&
      (!bias || (bv && bv.length === geometry.info.outChannels)) &&
      !nativeDisabled.has(CONV2D_ADD_RELU)
    ) {
      countNative(CONV2D_ADD_RELU);
      const y = alloc(size(geometry.info.outShape));
      y.set(rv);
      addon.conv2dForward(xv, wv, bv, y, geometry.params, true, true);
      return out(backend, geometry.info.outShape, y);
    }
    const run = (name: string, ins: Record<string, TensorInfo>, at: NamedAttrMap = {}): TensorInfo =>
      tf.getKernel(name, backendName)!.kernelFunc({ inputs: ins, backend, attrs: at }) as TensorInfo;
    const convIns: Record<string, TensorInfo> = bias ? { x, filter, bias } : { x, filter };
    const conv = run('FusedConv2D', convIns, {
      strides,
      pad,
      dataFormat: 'NHWC',
      dilations: 1,
      activation: 'linear',
    } as unknown as NamedAttrMap);
    const sum = run('Add', { a: conv, b: residual });
    const y = run('Relu', { x: sum });
    backend.disposeData(conv.dataId);
    backend.disposeData(sum.dataId);
    return y;
  };
  return [{ kernelName: CONV2D_ADD_RELU, backendName, kernelFunc }];
}
