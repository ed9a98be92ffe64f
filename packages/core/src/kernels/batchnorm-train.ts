/**
 * Train-mode batch norm as ONE kernel: `ResnetBatchNormTrain` computes the batch mean and (biased)
 * variance over every axis but the last and normalises with them; its registered gradient runs
 * `ResnetBatchNormTrainGrad` (two passes over dy and x: PyTorch's formula). tfjs composes the same
 * thing from ~5 ops forward (Mean, SquaredDifference, Mean, FusedBatchNorm) and many more backward.
 *
 * Core registers the gradient; a backend that wants the speed registers both kernels under these
 * names (the `native` engine of @resnet-ts/backend-node does). On every other backend
 * {@link batchNormTrain} is the portable composite (`tf.moments` + `tf.batchNorm`), as before.
 *
 * Kernel contract (float32; x [..., C]; scale and offset [C]):
 * - `ResnetBatchNormTrain({x, scale, offset}, {varianceEpsilon})` -> [y, mean [C], variance [C]].
 * - `ResnetBatchNormTrainGrad({dy, dmean, dvariance, x, scale, mean, variance}, {varianceEpsilon})`
 *   -> [dx, dscale [C], doffset [C]], with the batch statistics' own gradients (dmean, dvariance;
 *   zeros unless a caller differentiates through them) folded into dx.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';

/** Kernel name of the fused train-mode batch norm forward. */
export const BATCH_NORM_TRAIN = 'ResnetBatchNormTrain';
/** Kernel name of its backward pass. */
export const BATCH_NORM_TRAIN_GRAD = 'ResnetBatchNormTrainGrad';

/** Whether the current backend registered `kernelName`. */
function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) != null;
}

/**
 * Batch norm with batch statistics over all axes but the last (channels), as in training:
 * `y = (x - mean) / sqrt(variance + eps) * scale + offset`, with the biased batch variance.
 * Returns y and the statistics (for running averages). One fused kernel where the backend has it,
 * else `tf.moments` + `tf.batchNorm`; both are differentiable.
 */
export function batchNormTrain(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  eps: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const c = x.shape[x.rank - 1];
  const fusable =
    hasKernel(BATCH_NORM_TRAIN) &&
    x.dtype === 'float32' &&
    x.rank >= 2 &&
    x.size > 0 &&
    [scale, offset].every((t) => t.dtype === 'float32' && t.rank === 1 && t.shape[0] === c);
  if (fusable) {
    const [y, mean, variance] = tf.engine().runKernel(
      BATCH_NORM_TRAIN,
      { x, scale, offset } as unknown as NamedTensorMap,
      {
        varianceEpsilon: eps,
      } as unknown as NamedAttrMap,
    ) as tf.Tensor[];
    return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  return tf.tidy(() => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    const y = tf.batchNorm(x, mean, variance, offset, scale, eps);
    return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  });
}

/**
 * The gradient in tfjs ops, for a backend that registers the forward kernel but not the backward
 * one. With xhat = (x - mean) * r, r = 1 / sqrt(variance + eps), N = size / C:
 *   doffset = sum dy, dscale = sum dy * xhat,
 *   dx = scale * r * (dy - doffset / N - xhat * dscale / N) + dmean / N + dvariance * 2 (x - mean) / N.
 */
function compositeGrad(
  dy: tf.Tensor,
  dmean: tf.Tensor,
  dvar: tf.Tensor,
  x: tf.Tensor,
  scale: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps: number,
): tf.Tensor[] {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = x.size / x.shape[x.rank - 1];
  const r = tf.rsqrt(tf.add(variance, eps));
  const centered = tf.sub(x, mean);
  const xhat = tf.mul(centered, r);
  const doffset = tf.sum(dy, axes);
  const dscale = tf.sum(tf.mul(dy, xhat), axes);
  const inner = tf.sub(tf.sub(dy, tf.div(doffset, n)), tf.mul(xhat, tf.div(dscale, n)));
  let dx = tf.mul(inner, tf.mul(scale, r));
  dx = tf.add(dx, tf.add(tf.div(dmean, n), tf.mul(centered, tf.mul(dvar, 2 / n))));
  return [dx, dscale, doffset];
}

let registered = false;

/** Registers the gradient of {@link BATCH_NORM_TRAIN} (once; runs when core is imported). */
export function registerBatchNormTrainGradient(): void {
  if (registered || tf.getGradient(BATCH_NORM_TRAIN)) return;
  registered = true;
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAIN,
    inputsToSave: ['x', 'scale'],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [dy, dmean, dvar] = dys as tf.Tensor[];
      const [x, scale, mean, variance] = saved;
      const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
      // Run once, now: the tape runs each closure below in its own tidy.
      const grads = hasKernel(BATCH_NORM_TRAIN_GRAD)
        ? (tf.engine().runKernel(
            BATCH_NORM_TRAIN_GRAD,
            { dy, dmean, dvariance: dvar, x, scale, mean, variance } as unknown as NamedTensorMap,
            {
              varianceEpsilon: eps,
            } as unknown as NamedAttrMap,
          ) as tf.Tensor[])
        : compositeGrad(dy, dmean, dvar, x, scale, mean, variance, eps);
      return { x: () => grads[0], scale: () => grads[1], offset: () => grads[2] };
    },
  });
}

registerBatchNormTrainGradient();
