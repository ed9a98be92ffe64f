/**
 * Max pooling that propagates NaN, as PyTorch's `max_pool2d` does. tfjs's MaxPool kernels (cpu, wasm,
 * webgl, webgpu) keep the larger of two values, so a NaN in a window vanishes whenever another value
 * is compared after it: a NaN pixel fed to ResNet-18/50 gave finite, plausible logits. Here a window
 * holding a NaN gives that NaN.
 *
 * Kernel contract: `ResnetMaxPool({x}, {filterSize, strides, pad})` (float32 NHWC x; tfjs's MaxPool
 * attributes) -> y, with NaN where the window holds one; its gradient is tfjs's `MaxPoolGrad`. A
 * backend that registers it (the `native` engine does) runs one kernel; elsewhere {@link maxPool2d}
 * adds the NaN rule to `tf.maxPool` with a second pooling of the input's NaN mask.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';

/** Kernel name of the NaN-propagating max pooling. */
export const MAX_POOL_NAN = 'ResnetMaxPool';

/** tfjs's max pooling gradient (`MaxPoolGrad`) of dy, given the pooling's input and output. */
function maxPoolGrad(dy: tf.Tensor, x: tf.Tensor, y: tf.Tensor, attrs: object): tf.Tensor {
  return tf
    .engine()
    .runKernel('MaxPoolGrad', { dy, input: x, output: y } as unknown as NamedTensorMap, attrs as unknown as NamedAttrMap) as tf.Tensor;
}

/** Max pooling of NHWC `x` (square window `k`, stride `s`, symmetric zero-free padding `pad`) that keeps NaN. */
export function maxPool2d(x: tf.Tensor4D, k: number, s: number, pad: number): tf.Tensor4D {
  const attrs = { filterSize: k, strides: s, pad };
  if (tf.getKernel(MAX_POOL_NAN, tf.getBackend()) != null && x.dtype === 'float32') {
    return tf.engine().runKernel(MAX_POOL_NAN, { x } as unknown as NamedTensorMap, attrs as unknown as NamedAttrMap) as tf.Tensor4D;
  }
  // The NaN mask is not differentiable (Greater has no gradient): the gradient is tfjs's max pooling one.
  const withNaN = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const y = tf.maxPool(input, k, s, pad);
    const hasNaN = tf.maxPool(tf.cast(tf.isNaN(input), 'float32'), k, s, pad);
    save([input, y]);
    return {
      value: tf.where(tf.greater(hasNaN, 0), tf.fill(y.shape, NaN), y),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [xs, ys]: tf.Tensor[]) => maxPoolGrad(dy as tf.Tensor, xs, ys, attrs),
    };
  });
  return withNaN(x) as tf.Tensor4D;
}

let registered = false;

/** Registers the gradient of {@link MAX_POOL_NAN} (once; runs when core is imported). */
export function registerMaxPoolGradient(): void {
  if (registered || tf.getGradient(MAX_POOL_NAN)) return;
  registered = true;
  tf.registerGradient({
    kernelName: MAX_POOL_NAN,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved;
      return { x: () => maxPoolGrad(dy as tf.Tensor, x, y, attrs) };
    },
  });
}

registerMaxPoolGradient();
