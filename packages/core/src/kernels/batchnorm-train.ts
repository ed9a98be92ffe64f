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
 * The kernel also takes what follows a batch norm in a ResNet: a residual added to its output and a
 * ReLU (`y = relu(bn(x) + residual)`, each optional), so that a training step makes one pass over
 * the activation where tfjs makes three (batch norm, Add, Relu) and one pass back where it makes two
 * (ReluGrad, the batch norm's gradient). Same float32 operations in the same order: the results are
 * those of the separate ops.
 *
 * Kernel contract (float32; x [..., C]; scale and offset [C]; residual shaped like x):
 * - `ResnetBatchNormTrain({x, scale, offset, residual?}, {varianceEpsilon, relu, residual})` -> [y,
 *   mean [C], variance [C]] (attribute `residual`: whether the input is given).
 * - `ResnetBatchNormTrainGrad({dy, dmean, dvariance, x, scale, mean, variance, y?}, {varianceEpsilon,
 *   relu, residual})` -> [dx, dscale [C], doffset [C], dresidual (only with `residual`)]: with `relu`,
 *   dy is first masked as tfjs's ReLU gradient does (`dy * step(y)`, NaN where y is NaN; `y` is the
 *   forward output), and that masked dy is the residual's gradient. The batch statistics' own
 *   gradients (dmean, dvariance; zeros unless a caller differentiates through them) are folded into dx.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { ShapeError, fmtShape } from '../errors.js';

/** Kernel name of the fused train-mode batch norm forward. */
export const BATCH_NORM_TRAIN = 'ResnetBatchNormTrain';
/** Kernel name of its backward pass. */
export const BATCH_NORM_TRAIN_GRAD = 'ResnetBatchNormTrainGrad';

/** Whether the current backend registered `kernelName`. */
function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) != null;
}

/** What follows a train-mode batch norm in the same kernel: `relu(bn(x) + residual)`, each part optional. */
export interface BatchNormEpilogue {
  /** Added to the normalised output (shaped like x): a residual block's shortcut. */
  residual?: tf.Tensor;
  /** Apply tfjs's ReLU last (NaN stays NaN). */
  relu?: boolean;
}

/** `relu(y + residual)` as separate tfjs ops (the composite path, and eval mode). */
export function applyEpilogue(y: tf.Tensor, epilogue: BatchNormEpilogue = {}): tf.Tensor {
  const { residual, relu } = epilogue;
  if (!residual && !relu) return y;
  return tf.tidy(() => {
    const sum = residual ? tf.add(y, residual) : y;
    return relu ? tf.relu(sum) : sum;
  });
}

/**
 * Throws a {@link ShapeError} when `x` holds exactly one value per channel (N * H * W = 1, e.g. one
 * image whose feature maps are 1x1): its batch variance is 0 whatever the input, so the output is
 * the same for every image, nothing flows back, and the running variance is pulled toward 0.
 * PyTorch refuses it the same way ("Expected more than 1 value per channel when training").
 */
function assertBatchStatistics(x: tf.Tensor): void {
  const c = x.shape[x.rank - 1];
  if (c > 0 && x.size === c) {
    throw new ShapeError(
      `Batch norm in training got input ${fmtShape(x.shape)} (NHWC), one value per channel, and needs more than one to compute a batch variance; ` +
        'train with a batch of at least 2 images, or with larger images (eval mode takes this input).',
    );
  }
}

/**
 * Batch norm with batch statistics over all axes but the last (channels), as in training:
 * `y = (x - mean) / sqrt(variance + eps) * scale + offset`, with the biased batch variance, then the
 * optional {@link BatchNormEpilogue}. Returns the output and the statistics (for running averages).
 * One fused kernel where the backend has it, else `tf.moments` + `tf.batchNorm` (+ Add, Relu); both
 * are differentiable. Throws a `ShapeError` for an input with one value per channel (N * H * W = 1),
 * whose batch variance means nothing, as PyTorch does; the caller's running statistics are then untouched.
 */
export function batchNormTrain(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  eps: number,
  epilogue: BatchNormEpilogue = {},
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  assertBatchStatistics(x);
  const c = x.shape[x.rank - 1];
  const { residual, relu = false } = epilogue;
  const fusable =
    hasKernel(BATCH_NORM_TRAIN) &&
    x.dtype === 'float32' &&
    x.rank >= 2 &&
    x.size > 0 &&
    [scale, offset].every((t) => t.dtype === 'float32' && t.rank === 1 && t.shape[0] === c) &&
    (!residual || (residual.dtype === 'float32' && tf.util.arraysEqual(residual.shape, x.shape)));
  if (fusable) {
    const inputs = residual ? { x, scale, offset, residual } : { x, scale, offset };
    const [y, mean, variance] = tf.engine().runKernel(
      BATCH_NORM_TRAIN,
      inputs as unknown as NamedTensorMap,
      {
        varianceEpsilon: eps,
        relu,
        residual: residual != null,
      } as unknown as NamedAttrMap,
    ) as tf.Tensor[];
    return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  return tf.tidy(() => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    const y = applyEpilogue(tf.batchNorm(x, mean, variance, offset, scale, eps), epilogue);
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

/** tfjs's ReLU gradient, `dy * step(y)` (NaN where y is NaN), where the kernel applied a ReLU. */
function maskedByRelu(dy: tf.Tensor, y: tf.Tensor, relu: boolean): tf.Tensor {
  return relu ? tf.mul(dy, tf.step(y)) : dy;
}

/** Registers the gradient of {@link BATCH_NORM_TRAIN} (once; runs when core is imported). */
export function registerBatchNormTrainGradient(): void {
  if (registered || tf.getGradient(BATCH_NORM_TRAIN)) return;
  registered = true;
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAIN,
    inputsToSave: ['x', 'scale'],
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [dy, dmean, dvar] = dys as tf.Tensor[];
      const [x, scale, y, mean, variance] = saved;
      const {
        varianceEpsilon: eps,
        relu = false,
        residual = false,
      } = attrs as unknown as { varianceEpsilon: number; relu?: boolean; residual?: boolean };
      // Run once, now: the tape runs each closure below in its own tidy.
      let grads: tf.Tensor[];
      if (hasKernel(BATCH_NORM_TRAIN_GRAD)) {
        const inputs = { dy, dmean, dvariance: dvar, x, scale, mean, variance, ...(relu ? { y } : {}) };
        grads = tf.engine().runKernel(
          BATCH_NORM_TRAIN_GRAD,
          inputs as unknown as NamedTensorMap,
          {
            varianceEpsilon: eps,
            relu,
            residual,
          } as unknown as NamedAttrMap,
        ) as tf.Tensor[];
      } else {
        const g = maskedByRelu(dy, y, relu);
        grads = [...compositeGrad(g, dmean, dvar, x, scale, mean, variance, eps), g];
      }
      const out: Record<string, () => tf.Tensor> = { x: () => grads[0], scale: () => grads[1], offset: () => grads[2] };
      if (residual) out.residual = () => grads[3];
      return out;
    },
  });
}

registerBatchNormTrainGradient();
