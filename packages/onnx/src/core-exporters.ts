/**
 * Helpers the ONNX writer shares. The graph form of core's own layers is registered by core itself
 * (core's layers/graph-exporters.ts); blocks and shortcuts register theirs next to their classes
 * (@resnet-ts/blocks, @resnet-ts/shortcuts); a module type nobody registered is refused by name.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The values of `v` transposed by `perm` (to PyTorch's layout). */
export function readTransposed(v: tf.Tensor, perm: number[]): Float32Array {
  const t = tf.transpose(v, perm);
  try {
    return new Float32Array(t.dataSync() as Float32Array);
  } finally {
    t.dispose();
  }
}
