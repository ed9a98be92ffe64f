/** Core's fused SGD update (`ResnetSgdStep`, core's kernels/sgd-step.ts) as one native loop per parameter. */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { SGD_STEP } from '@resnet-ts/core';
import type { NativeAddon } from './addon.js';
import { alloc, f32, out, type Args } from './kernel-args.js';
import { countNative, nativeDisabled } from './kernels.js';

interface SgdAttrs {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** The kernel configs (none when `RESNET_TS_NATIVE_DISABLE` names ResnetSgdStep: core then composes tfjs ops). */
export function optimizerKernelConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  if (nativeDisabled.has(SGD_STEP)) return [];
  const sgdStep: KernelConfig = {
    kernelName: SGD_STEP,
    backendName,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as Args;
      const { param, grad, buf } = inputs;
      const { lr, momentum, dampening, weightDecay, nesterov } = attrs as unknown as SgdAttrs;
      const [p, g] = [f32(backend, param), f32(backend, grad)];
      // core checks dtypes and shapes before it calls the kernel; a non-float32 store here is a bug.
      if (!p || !g) throw new Error(`${SGD_STEP}: float32 param and grad expected`);
      countNative(SGD_STEP);
      const n = tf.util.sizeFromShape(param.shape);
      const nextParam = alloc(n);
      const nextBuf = momentum !== 0 ? alloc(n) : null;
      addon.sgdStep(p, g, buf ? f32(backend, buf) : null, nextParam, nextBuf, lr, momentum, dampening, weightDecay, nesterov);
      const outs = [out(backend, param.shape, nextParam)];
      if (nextBuf) outs.push(out(backend, param.shape, nextBuf));
      return outs;
    },
  };
  return [sgdStep];
}
