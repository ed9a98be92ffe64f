/** oneDNN convolution, pooling and batch-norm kernels of the native backend (see kernels.ts). */
import * as tf from '@tensorflow/tfjs-core';
import type {
  AvgPoolGradAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedBatchNormAttrs,
  FusedConv2DAttrs,
  MaxPoolAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { NativeImpl, alloc, f32, out, size } from './kernel-args.js';

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
export function convCase(
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

export const fusedConv2D: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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
export const conv2D: NativeImpl = (args, addon) =>
  fusedConv2D({ ...args, inputs: { x: args.inputs.x, filter: args.inputs.filter }, attrs: { ...args.attrs, activation: 'linear' } }, addon);

export const conv2DBackpropInput: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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

export const conv2DBackpropFilter: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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

// ---- pooling --------------------------------------------------------------------------------

/** The addon's 14 pooling numbers of a window geometry (see native/pool.cc). */
function poolGeometry(c: ConvInfo): number[] {
  const p = c.padInfo;
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

/** {@link poolGeometry} where oneDNN's pooling takes it, else null. */
function poolParams(c: ConvInfo): number[] | null {
  if (c.dataFormat !== 'channelsLast' || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  const p = c.padInfo;
  if (!consistent(c.inHeight, c.filterHeight, 1, c.strideHeight, p.top, p.bottom, c.outHeight)) return null;
  if (!consistent(c.inWidth, c.filterWidth, 1, c.strideWidth, p.left, p.right, c.outWidth)) return null;
  // oneDNN needs every window to touch the input.
  if (p.top >= c.filterHeight || p.bottom >= c.filterHeight || p.left >= c.filterWidth || p.right >= c.filterWidth) return null;
  return poolGeometry(c);
}

/** The window geometry of a pooling kernel's attributes on an NHWC input (dilation 1). */
function poolInfo(
  shape: number[],
  a: {
    filterSize: MaxPoolAttrs['filterSize'];
    strides: MaxPoolAttrs['strides'];
    pad: MaxPoolAttrs['pad'];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  },
) {
  return tf.backend_util.computePool2DInfo(shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
}

/**
 * Max pooling of an NHWC input of `shape` (square window `k`, stride `s`, padding `pad` on every side)
 * as the native ResnetMaxPool and MaxPoolGrad kernels run it: the addon's pooling numbers (null where
 * oneDNN does not take the geometry), the window geometry of the NaN rule, the output shape.
 */
export function maxPoolCase(
  shape: number[],
  k: number,
  s: number,
  pad: number,
): { params: number[]; geometry: number[]; outShape: number[] } | null {
  const info = poolInfo(shape, { filterSize: k, strides: s, pad });
  const params = poolParams(info);
  return params ? { params, geometry: poolGeometry(info), outShape: info.outShape } : null;
}

export function pool(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { x } = inputs;
    const a = attrs as unknown as MaxPoolAttrs;
    const xv = f32(backend, x);
    if (!xv || x.shape.length !== 4) return null;
    const info = poolInfo(x.shape, a);
    const p = poolParams(info);
    if (!p) return null;
    const y = alloc(size(info.outShape));
    addon.poolForward(xv, y, p, isMax);
    return out(backend, info.outShape, y);
  };
}

/**
 * Core's NaN-propagating max pooling (`ResnetMaxPool`, core's kernels/max-pool.ts): the native max
 * pooling where oneDNN takes the geometry, else the cpu kernel's, then the addon's NaN rule.
 */
export const maxPoolPropagatingNaN: NativeImpl = (args, addon) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv || x.shape.length !== 4) throw new Error('ResnetMaxPool: float32 NHWC input expected');
  const y = pool(true)(args, addon) ?? (tf.getKernel('MaxPool', 'cpu')!.kernelFunc({ inputs: { x }, backend, attrs }) as TensorInfo);
  addon.maxPoolPropagateNaN(xv, f32(backend, y)!, poolGeometry(poolInfo(x.shape, attrs as unknown as MaxPoolAttrs)));
  return y;
};

export function poolGrad(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { dy, input } = inputs;
    const a = attrs as unknown as AvgPoolGradAttrs & { dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    const dyv = f32(backend, dy),
      xv = f32(backend, input);
    if (!dyv || !xv || input.shape.length !== 4) return null;
    const p = poolParams(poolInfo(input.shape, a));
    if (!p) return null;
    const dx = alloc(size(input.shape));
    addon.poolBackward(dyv, isMax ? xv : null, dx, p, isMax);
    return out(backend, input.shape, dx);
  };
}

// ---- batch norm (as one kernel; its gradient is composed by tfjs from the kernels here) ---------

export const fusedBatchNorm: NativeImpl = ({ inputs, backend, attrs }, addon) => {
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
