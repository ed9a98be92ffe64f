/**
 * Measuring gradient flow (see gradflow.ts): the variants compared, the conv/linear weights in
 * depth order, and one forward and backward pass that yields every layer's weight-gradient norm and
 * every block input's gradient norm.
 *
 * The block inputs are captured without re-implementing the model: the forward pass runs the
 * model's own modules (stem, each block's `forward`, pool, classifier) and passes each block's input
 * through an identity tap (`tf.customGrad`) whose backward pass records the norm of the gradient
 * arriving there. One backward pass yields the weight gradients and every block-input norm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { headForward } from './blocks.js';
import { lossAndGradients, type ResNet } from '@resnet-ts/core';
import { Batcher, Dataset, Preprocessing } from '@resnet-ts/train';
/**
 * The variants measured, each for plain and residual nets:
 * - `bn`: batch norm after every conv, ordinary initialisation (the baseline, as in the paper);
 * - `no-bn`: no batch norm (convs get biases): the regime BN hides;
 * - `zero-init`: batch norm, and the last BN gamma of every residual branch starts at zero
 *   (`zeroInitResidual`: each residual block starts as the identity);
 * - `no-bn-zero-init`: no batch norm, and the last conv of every residual branch starts at zero.
 * Zero-init applies to residual nets only: in a plain net it would zero every block's output and
 * with it every gradient below the last block, so the plain net of a zero-init setting is the plain
 * net of the same BN setting (measured once and shared).
 */
export type GradFlowSetting = 'bn' | 'no-bn' | 'zero-init' | 'no-bn-zero-init';

/** What each {@link GradFlowSetting} switches. */
export const GRADFLOW_SETTINGS: Record<GradFlowSetting, { batchNorm: boolean; zeroInitResidual: boolean; label: string }> = {
  bn: { batchNorm: true, zeroInitResidual: false, label: 'with BN' },
  'no-bn': { batchNorm: false, zeroInitResidual: false, label: 'without BN' },
  'zero-init': { batchNorm: true, zeroInitResidual: true, label: 'with BN and zeroInitResidual' },
  'no-bn-zero-init': { batchNorm: false, zeroInitResidual: true, label: 'without BN, with zeroInitResidual' },
};

/** Whether `s` names a {@link GradFlowSetting}. */
export function isGradFlowSetting(s: string): s is GradFlowSetting {
  return Object.prototype.hasOwnProperty.call(GRADFLOW_SETTINGS, s);
}

/**
 * The conv and linear weights of `model` in depth order (stem conv, each block's convs, classifier),
 * with their dotted names; shortcut projections (`downsample`, options B/C) are left out so that the
 * i-th entry is the i-th layer of the net's depth. BN parameters and biases are not layers.
 */
export function layerWeights(model: ResNet): [string, tf.Variable][] {
  return model.namedParameters().filter(([name, v]) => name.endsWith('.weight') && v.rank >= 2 && !name.includes('downsample'));
}

/**
 * The Euclidean (Frobenius) norm of `t`, robust to float32 over- and underflow (scaled by the
 * largest magnitude first): finite gradients of 1e25 or 1e-25 get their true norm instead of inf or 0.
 * Infinite entries give Infinity, NaN entries NaN. Returns a scalar tensor.
 */
export function robustNorm(t: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const m = tf.max(tf.abs(t));
    const safe = tf.where(tf.greater(m, 0), m, tf.onesLike(m));
    const n = tf.mul(m, tf.sqrt(tf.sum(tf.square(tf.div(t, safe)))));
    return tf.where(tf.isInf(m), m, n) as tf.Scalar;
  });
}

/** An identity in the forward pass whose backward pass hands the incoming gradient to `record` (which must not dispose it). */
function gradientTap(record: (dy: tf.Tensor) => void): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(((x: tf.Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor) => {
      record(dy);
      return dy;
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
}

/**
 * Logits of `model` computed by its own modules (stem, every block's `forward`, then
 * {@link headForward}: the same sequence as `ResNet.forward`), with `tap(i, h)` applied to the input
 * of block i. Its intermediates are freed (inside a gradient they stay as long as the tape needs them).
 */
export function tappedForward(
  model: ResNet,
  x: tf.Tensor,
  training: boolean,
  tap: (i: number, h: tf.Tensor) => tf.Tensor = (_, h) => h,
): tf.Tensor2D {
  const ctx = { training };
  return tf.tidy(() => {
    let y = x;
    for (const m of model.stem) y = m.forward(y, ctx);
    model.blocks().forEach((b, i) => {
      y = b.forward(tap(i, y), ctx);
    });
    return headForward(model, y, ctx);
  });
}

/** Gradient norms of one batch (see {@link gradientNorms}). */
export interface GradNorms {
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** ‖∂L/∂W‖ per conv/linear layer, in depth order ({@link layerWeights}). */
  layers: number[];
  /** ‖∂L/∂h_i‖ for the input h_i of every block i (stem output first). */
  blockInputs: number[];
}

/**
 * One forward and backward pass on a batch: the loss L is the batch's mean softmax cross-entropy
 * (what SGD minimises), the norms are Frobenius norms of the whole gradient tensors (for a block
 * input: over the batch). `training` (default true) runs batch norm on batch statistics, as in a
 * training step; the BN running statistics are restored afterwards, so measuring changes nothing.
 * Leaves no tensors behind.
 */
export function gradientNorms(model: ResNet, x: tf.Tensor, labels: tf.Tensor1D, training = true): GradNorms {
  const weights = layerWeights(model);
  const saved = model.namedBuffers().map(([, v]) => tf.clone(v));
  const nBlocks = model.blocks().length;
  const tapped: (tf.Scalar | undefined)[] = new Array(nBlocks).fill(undefined);
  const taps = Array.from({ length: nBlocks }, (_, i) =>
    gradientTap((dy) => {
      tapped[i]?.dispose();
      tapped[i] = tf.keep(robustNorm(dy));
    }),
  );
  try {
    const { loss: value, grads } = lossAndGradients(model, x, labels, {
      training,
      params: weights.map(([, v]) => v),
      forward: (input, ctx) => tappedForward(model, input, ctx.training, (i, h) => taps[i](h)),
    });
    const norms = tf.tidy(() => tf.stack(weights.map(([, v]) => robustNorm(grads[v.name]))));
    const layers = Array.from(norms.dataSync());
    const loss = value.dataSync()[0];
    tf.dispose([value, norms, ...Object.values(grads)]);
    const blockInputs = tapped.map((t) => (t ? t.dataSync()[0] : 0)); // no tap call: no gradient reached that block
    return { loss, layers, blockInputs };
  } finally {
    tf.dispose(tapped.filter((t): t is tf.Scalar => t !== undefined));
    model.namedBuffers().forEach(([, v], i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/** A batch held as tensors (the caller disposes them). */
export interface GradFlowBatch {
  x: tf.Tensor4D;
  labels: tf.Tensor1D;
}

/** The element-wise mean of {@link gradientNorms} over `batches`. */
export function meanGradientNorms(model: ResNet, batches: GradFlowBatch[], training = true): GradNorms {
  if (batches.length === 0) throw new Error('meanGradientNorms needs at least one batch.');
  const all = batches.map((b) => gradientNorms(model, b.x, b.labels, training));
  const mean = (pick: (g: GradNorms) => number[]) => pick(all[0]).map((_, i) => all.reduce((s, g) => s + pick(g)[i], 0) / all.length);
  return {
    loss: all.reduce((s, g) => s + g.loss, 0) / all.length,
    layers: mean((g) => g.layers),
    blockInputs: mean((g) => g.blockInputs),
  };
}

/**
 * The first `count` batches of `batchSize` images of `data`, prepared as the trainer prepares them
 * (normalisation, padding; no augmentation): the fixed batches every net is measured on.
 */
export function fixedBatches(data: Dataset, prep: Preprocessing, batchSize: number, count: number): GradFlowBatch[] {
  const N = data.labels.length;
  const out: GradFlowBatch[] = [];
  const batcher = new Batcher(data, batchSize, prep);
  for (let b = 0; b < count && b * batchSize < N; b++) {
    const n = Math.min(batchSize, N - b * batchSize);
    const { x, labels } = batcher.fill(Int32Array.from({ length: n }, (_, i) => b * batchSize + i));
    out.push({
      x: tf.tensor4d(Float32Array.from(x), [n, batcher.outH, batcher.outW, batcher.channels]),
      labels: tf.tensor1d(Int32Array.from(labels), 'int32'),
    });
  }
  return out;
}
