/** One optimisation step of the trainer: forward in train mode, softmax cross-entropy, gradients, SGD update. */
import * as tf from '@tensorflow/tfjs-core';
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
 * Runs the model on the batch in train mode, takes the gradients of the mean softmax cross-entropy
 * with respect to `params` only (frozen parameters are left out), and applies `opt` at `lr` when the
 * loss is finite. Every tensor is freed before it returns.
 */
export async function sgdStep(model: Module, batch: StepBatch, numClasses: number, params: tf.Variable[], opt: SGD, lr: number): Promise<StepOutcome> {
  let correctT: tf.Tensor | undefined;
  const out = tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const labels = tf.tensor1d(batch.labels, 'int32');
    const y = tf.oneHot(labels, numClasses);
    return tf.variableGrads(() => {
      const logits = model.forward(x, { training: true });
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')));
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    }, params);
  });
  try {
    const loss = (await out.value.data())[0];
    const correct = correctT ? (await correctT.data())[0] : 0;
    if (!Number.isFinite(loss)) return { loss, correct, applied: false };
    opt.step(out.grads, lr);
    return { loss, correct, applied: true };
  } finally {
    tf.dispose([out.value, ...Object.values(out.grads)]);
    correctT?.dispose();
  }
}
