/**
 * oneDNN kernels for the `native` backend. Each kernel checks that its case is one it handles
 * (float32, NHWC, supported attributes) and otherwise calls the cpu backend's kernel, so semantics
 * never change, only speed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { CONV2D_ADD_RELU, MAX_POOL_NAN, ResNetError } from '@resnet-ts/core';
import type { NativeAddon } from './addon.js';
import { Args, NativeImpl, alloc, f32, out, size } from './kernel-args.js';
import {
  conv2D,
  conv2DBackpropFilter,
  conv2DBackpropInput,
  convCase,
  fusedBatchNorm,
  fusedConv2D,
  maxPoolPropagatingNaN,
  pool,
  poolGrad,
} from './kernels-conv.js';
import { padV2, slice, transpose } from './kernels-data.js';
import { batchMatMul, binary, fusedMatMul, reduce, tile, unary } from './kernels-math.js';

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
  Transpose: transpose,
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
        // The user's problem (a weights file changed since a released weight was read): not the engine's.
        if (e instanceof ResNetError) throw e;
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
 * NaN-keeping ReLU pass (oneDNN's relu post-op turns NaN into 0; see native/common.h). Cases oneDNN
 * is not given (other dtypes, inconsistent pads, shapes) run the native FusedConv2D, Add and Relu.
 * And core's NaN-propagating max pooling (`MAX_POOL_NAN`; see kernels-conv.ts).
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
  const maxPool: KernelFunc = (args) => {
    countNative(MAX_POOL_NAN);
    return maxPoolPropagatingNaN(args as unknown as Args, addon)!;
  };
  return [
    { kernelName: CONV2D_ADD_RELU, backendName, kernelFunc },
    { kernelName: MAX_POOL_NAN, backendName, kernelFunc: maxPool },
  ];
}
