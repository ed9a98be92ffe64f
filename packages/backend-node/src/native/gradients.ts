/**
 * Fewer passes over memory in the backward pass of batch norm, ReLU, square and mean.
 *
 * tfjs composes these gradients from many elementwise ops (the FusedBatchNorm gradient alone is ~15
 * full-size ops). Gradients are registered per kernel name, for all backends, so each config here
 * WRAPS tfjs's own: when the current backend is `native` and the case is a plain float32 one, it runs
 * one fused native kernel; otherwise it calls the original gradient unchanged. Other backends see
 * no difference.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '@resnet-ts/core';
import type { NativeAddon } from './addon.js';
import { alloc } from './kernel-args.js';
import { countNative, nativeDisabled } from './kernels.js';

const BN_GRAD = 'NativeBatchNormGrad';
const RELU_GRAD = 'NativeReluGrad';
const SQUARE_GRAD = 'NativeSquareGrad';

type Inputs = Record<string, TensorInfo>;

function values(backend: MathBackendCPU, t: TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * Core's fused train-mode batch norm (BatchNorm2d in training) and its gradient as native kernels: core
 * calls them only for float32 x [..., C] with float32 scale and offset [C].
 */
function batchNormTrainConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  const bnTrain: KernelConfig = {
    kernelName: BATCH_NORM_TRAIN,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, offset, residual } = inputs as Inputs;
      const b = backend as MathBackendCPU;
      countNative(BATCH_NORM_TRAIN);
      const c = x.shape[x.shape.length - 1];
      const y = alloc(tf.util.sizeFromShape(x.shape));
      const mean = new Float32Array(c),
        variance = new Float32Array(c);
      const { varianceEpsilon: eps, relu = false } = attrs as unknown as { varianceEpsilon: number; relu?: boolean };
      const res = residual ? values(b, residual) : null;
      addon.batchNormTrain(values(b, x), values(b, scale), values(b, offset), eps, c, y, mean, variance, res, relu);
      return [b.makeTensorInfo(x.shape, 'float32', y), b.makeTensorInfo([c], 'float32', mean), b.makeTensorInfo([c], 'float32', variance)];
    },
  };
  const bnTrainGrad: KernelConfig = {
    kernelName: BATCH_NORM_TRAIN_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, dmean, dvariance, x, scale, mean, variance, y } = inputs as Inputs;
      const b = backend as MathBackendCPU;
      countNative(BATCH_NORM_TRAIN_GRAD);
      const c = x.shape[x.shape.length - 1];
      const n = tf.util.sizeFromShape(x.shape);
      const dx = alloc(n);
      const dscale = new Float32Array(c),
        doffset = new Float32Array(c);
      const a = attrs as unknown as { varianceEpsilon: number; relu?: boolean; residual?: boolean };
      const eps = a.varianceEpsilon;
      const dres = a.residual ? alloc(n) : null;
      addon.batchNormTrainGrad(
        values(b, dy),
        values(b, dmean),
        values(b, dvariance),
        values(b, x),
        values(b, scale),
        values(b, mean),
        values(b, variance),
        eps,
        c,
        dx,
        dscale,
        doffset,
        a.relu && y ? values(b, y) : null,
        dres,
      );
      const outs = [
        b.makeTensorInfo(x.shape, 'float32', dx),
        b.makeTensorInfo([c], 'float32', dscale),
        b.makeTensorInfo([c], 'float32', doffset),
      ];
      return dres ? [...outs, b.makeTensorInfo(x.shape, 'float32', dres)] : outs;
    },
  };
  return [bnTrain, bnTrainGrad];
}

/** The fused kernels, registered for the native backend only. */
export function nativeGradKernelConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  const bnGrad: KernelConfig = {
    kernelName: BN_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x, mean, variance, scale } = inputs as Inputs;
      const b = backend as MathBackendCPU;
      countNative(BN_GRAD);
      const c = mean.shape[0];
      const dx = alloc(tf.util.sizeFromShape(x.shape));
      const [dm, dv, ds, doff] = [0, 1, 2, 3].map(() => new Float32Array(c));
      const eps = (attrs as NamedAttrMap).varianceEpsilon as number;
      addon.batchNormGrad(
        values(b, dy),
        values(b, x),
        values(b, mean),
        values(b, variance),
        scale ? values(b, scale) : null,
        eps,
        c,
        dx,
        dm,
        dv,
        ds,
        doff,
      );
      return [b.makeTensorInfo(x.shape, 'float32', dx), ...[dm, dv, ds, doff].map((v) => b.makeTensorInfo([c], 'float32', v))];
    },
  };
  const binaryGrad = (kernelName: string, op: string): KernelConfig => ({
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as Inputs;
      const b = backend as MathBackendCPU;
      countNative(kernelName);
      const out = alloc(tf.util.sizeFromShape(x.shape));
      addon.binary(op, values(b, dy), 0, values(b, x), 0, out, 1, out.length);
      return b.makeTensorInfo(x.shape, 'float32', out);
    },
  });
  // Without these two kernels (RESNET_TS_NATIVE_DISABLE=ResnetBatchNormTrain when the engine is set up),
  // core's BatchNorm2d composes train-mode batch norm from tfjs ops, as on other backends.
  const train = nativeDisabled.has(BATCH_NORM_TRAIN) ? [] : batchNormTrainConfigs(backendName, addon);
  return [bnGrad, ...train, binaryGrad(RELU_GRAD, 'ReluGrad'), binaryGrad(SQUARE_GRAD, 'SquareGrad')];
}

const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const isF32 = (...ts: (tf.Tensor | undefined)[]): boolean => ts.every((t) => t == null || t.dtype === 'float32');

function wrap(kernelName: string, isNative: () => boolean, fused: (original: GradConfig) => GradConfig['gradFunc']): void {
  const original = tf.getGradient(kernelName);
  if (!original || (original as { __native?: boolean }).__native) return;
  const fast = fused(original);
  const config: GradConfig & { __native: boolean } = {
    ...original,
    __native: true,
    gradFunc: (dy, saved, attrs) =>
      isNative() && !nativeDisabled.has(`grad:${kernelName}`) ? fast(dy, saved, attrs) : original.gradFunc(dy, saved, attrs),
  };
  tf.registerGradient(config);
}

/** Wraps the gradients of FusedBatchNorm, Relu, Square and Mean (idempotent). */
export function registerNativeGradients(backendName: string): void {
  const isNative = (): boolean => tf.getBackend() === backendName;

  wrap('FusedBatchNorm', isNative, (original) => (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved;
    const dyT = dy as tf.Tensor;
    const c = x.shape[x.shape.length - 1];
    const vec = (t: tf.Tensor | undefined): boolean => t == null || (t.rank === 1 && t.shape[0] === c);
    if (
      mean.rank !== 1 ||
      !vec(mean) ||
      !vec(variance) ||
      !vec(scale) ||
      !isF32(dyT, x, mean, variance, scale) ||
      !sameShape(dyT.shape, x.shape)
    ) {
      return original.gradFunc(dy, saved, attrs);
    }
    // Run now, not inside the per-input closures: the tape runs each closure in its own tidy, which
    // would dispose the outputs the other closures return. Unused outputs are disposed by the
    // enclosing gradient scope.
    const outs = tf.engine().runKernel(BN_GRAD, scale ? { dy: dyT, x, mean, variance, scale } : { dy: dyT, x, mean, variance }, {
      varianceEpsilon: (attrs as NamedAttrMap).varianceEpsilon,
    } as unknown as NamedAttrMap) as tf.Tensor[];
    const get = (i: number): tf.Tensor => outs[i];
    return { x: () => get(0), mean: () => get(1), variance: () => get(2), scale: () => get(3), offset: () => get(4) };
  });

  wrap('Relu', isNative, (original) => (dy, saved, attrs) => {
    const [x] = saved;
    const dyT = dy as tf.Tensor;
    if (!isF32(dyT, x) || !sameShape(dyT.shape, x.shape)) return original.gradFunc(dy, saved, attrs);
    return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: dyT, x }) as tf.Tensor };
  });

  wrap('Square', isNative, (original) => (dy, saved, attrs) => {
    const [x] = saved;
    const dyT = dy as tf.Tensor;
    if (!isF32(dyT, x) || !sameShape(dyT.shape, x.shape)) return original.gradFunc(dy, saved, attrs);
    return { x: () => tf.engine().runKernel(SQUARE_GRAD, { dy: dyT, x }) as tf.Tensor };
  });

  // tfjs: div(mul(reshape(dy), ones(x.shape)), n) — three full-size passes. Same values, one pass:
  // broadcast(div(reshape(dy), n)) (dy * 1 is exact, so the division sees the same operands).
  wrap('Mean', isNative, (original) => (dy, saved, attrs) => {
    const [x] = saved;
    const dyT = dy as tf.Tensor;
    if (!isF32(dyT, x)) return original.gradFunc(dy, saved, attrs);
    const axes = tf.util.parseAxisParam((attrs as NamedAttrMap).axis as number | number[], x.shape);
    const expanded = x.shape.slice();
    for (const a of axes) expanded[a] = 1;
    const n = axes.reduce((p, a) => p * x.shape[a], 1);
    return { x: () => tf.broadcastTo(tf.div(tf.reshape(dyT, expanded), n), x.shape) };
  });
}
