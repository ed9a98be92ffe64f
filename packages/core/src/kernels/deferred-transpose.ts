/**
 * A transpose whose copy a backend may put off until the values are first read: the kernel
 * `ResnetDeferredTranspose`. Loading PyTorch weights reorders every conv filter OIHW -> HWIO (tfjs's
 * layout); for ResNet-50 that is 100 MB written, ~80 ms and a second copy of the weights in memory,
 * although a compiled inference plan (the native engine's) reads the filters in PyTorch's layout just
 * as well and copies them into its own anyway. A backend that registers this kernel returns a tensor
 * that remembers its source and transposes on first read; its plan reads the source instead.
 *
 * Kernel contract: as tfjs's `Transpose({x}, {perm})` for float32 x; the values of x never change
 * afterwards (tfjs tensors are immutable), so reading them later gives the same result.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';

/** Kernel name of the deferred transpose. */
export const DEFERRED_TRANSPOSE = 'ResnetDeferredTranspose';

/**
 * `tf.transpose(t, perm)` through the current backend's deferred transpose, or null where the backend
 * has none (or `t` is not float32): the caller then transposes now.
 */
export function deferredTranspose(t: tf.Tensor, perm: number[]): tf.Tensor | null {
  if (t.dtype !== 'float32' || tf.getKernel(DEFERRED_TRANSPOSE, tf.getBackend()) == null) return null;
  return tf.engine().runKernel(DEFERRED_TRANSPOSE, { x: t } as unknown as NamedTensorMap, { perm } as unknown as NamedAttrMap) as tf.Tensor;
}

/** Registers the gradient of {@link DEFERRED_TRANSPOSE}, a transpose's (once; runs when core is imported). */
export function registerDeferredTransposeGradient(): void {
  if (tf.getGradient(DEFERRED_TRANSPOSE)) return;
  tf.registerGradient({
    kernelName: DEFERRED_TRANSPOSE,
    gradFunc: (dy, _saved, attrs) => {
      const perm = (attrs as unknown as { perm: number[] }).perm;
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return { x: () => tf.transpose(dy as tf.Tensor, inverse) };
    },
  });
}

registerDeferredTransposeGradient();
