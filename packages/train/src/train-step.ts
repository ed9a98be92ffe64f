/** One optimisation step of the trainer: core's `lossAndGradients` (train mode, softmax cross-entropy), then the SGD update. */
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients } from '@resnet-ts/core';
import type { Module } from '@resnet-ts/core';
import type { SGD } from './optimizer.js';

/** A prepared mini-batch: NHWC float32 input of `shape` and its labels. */
export interface StepBatch {
  x: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, number];
}

/** What one step measured; `applied` is false when the loss was not finite (nothing was updated). */
export interface StepOutcome {
  loss: number;
  correct: number;
  applied: boolean;
}

/**
 * Runs core's one loss-and-gradients step on the batch (forward in train mode, mean softmax
 * cross-entropy, gradients of `params` only: frozen parameters are left out) and applies `opt` at
 * `lr` when the loss is finite. Every tensor is freed before it returns.
 */
export async function sgdStep(model: Module, batch: StepBatch, params: tf.Variable[], opt: SGD, lr: number): Promise<StepOutcome> {
  const x = tf.tensor4d(batch.x, batch.shape);
  const labels = tf.tensor1d(batch.labels, 'int32');
  const { loss: lossT, grads, logits } = lossAndGradients(model, x, labels, { params, keepLogits: true });
  const correctT = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), labels), 'int32')));
  try {
    const loss = (await lossT.data())[0];
    const correct = (await correctT.data())[0];
    if (!Number.isFinite(loss)) return { loss, correct, applied: false };
    opt.step(grads, lr);
    return { loss, correct, applied: true };
  } finally {
    tf.dispose([x, labels, lossT, correctT, logits!, ...Object.values(grads)]);
  }
}
