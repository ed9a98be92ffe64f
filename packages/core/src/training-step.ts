/**
 * The one loss-and-gradients step: forward in training mode, softmax cross-entropy, gradients of
 * the parameters. The trainer, the lab's experiments, the benchmarks and the backend conformance
 * suite all differentiate through this function, so "a training step" means the same thing
 * everywhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext } from './module.js';

/** The least a model must offer to be differentiated (a core `Module`, e.g. a `ResNet`, does). */
export interface TrainableModel {
  /** Logits for an NHWC batch; `ctx.training` selects train-mode batch norm. */
  forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor;
  /** The trainable variables (the default set to differentiate). */
  parameters(): tf.Variable[];
}

/** A loss of the logits against the targets, reduced to one scalar. */
export type LossFn = (logits: tf.Tensor, targets: tf.Tensor) => tf.Scalar;

/** Options of {@link lossAndGradients}. */
export interface LossAndGradientsOptions {
  /** Run batch norm on batch statistics and update its running averages (default true, as in training). */
  training?: boolean;
  /** The variables to differentiate (default `model.parameters()`, every trainable one). */
  params?: tf.Variable[];
  /** The loss (default {@link softmaxCrossEntropyLoss}: mean softmax cross-entropy over the batch). */
  loss?: LossFn;
  /**
   * Replaces `model.forward(x, {training})`, e.g. to tap block inputs on the way; must compute the
   * same logits from the model's variables.
   */
  forward?: (x: tf.Tensor, ctx: ForwardContext) => tf.Tensor;
  /** Also return the logits (the caller disposes them), e.g. to count correct predictions. */
  keepLogits?: boolean;
}

/** What {@link lossAndGradients} returns; the caller disposes every tensor in it. */
export interface LossAndGradients {
  /** The scalar loss of the batch. */
  loss: tf.Scalar;
  /** ∂loss/∂v for every differentiated variable, keyed by the variable's `name`. */
  grads: tf.NamedTensorMap;
  /** The batch's logits, when `keepLogits` was set. */
  logits?: tf.Tensor;
}

/**
 * Mean softmax cross-entropy of `logits` [N, K] against `targets`: class indices [N] (int32) or
 * one-hot / soft targets [N, K]. A NaN or Inf logit gives a non-finite loss (never a silent number).
 */
export function softmaxCrossEntropyLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[logits.rank - 1];
    const oneHot = targets.rank === 1 ? tf.oneHot(tf.cast(targets, 'int32') as tf.Tensor1D, k) : targets;
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
  });
}

/**
 * One loss-and-gradients step: `model.forward(x, {training: true})`, the loss of the logits against
 * `targets` (class indices [N] or one-hot [N, K]; mean softmax cross-entropy unless `options.loss`
 * says otherwise), and `tf.variableGrads` of it with respect to the model's parameters (or
 * `options.params`), all inside `tf.tidy`: nothing but the returned tensors stays behind.
 *
 * The update itself (SGD, momentum, weight decay) is the caller's; so is `await loss.data()`.
 *
 * @example
 * ```ts
 * const { loss, grads } = lossAndGradients(model, x, labels);
 * optimizer.step(grads, lr);
 * tf.dispose([loss, ...Object.values(grads)]);
 * ```
 */
export function lossAndGradients(model: TrainableModel, x: tf.Tensor, targets: tf.Tensor, options: LossAndGradientsOptions = {}): LossAndGradients {
  const ctx: ForwardContext = { training: options.training ?? true };
  const forward = options.forward ?? ((input: tf.Tensor, c: ForwardContext) => model.forward(input, c));
  const lossFn = options.loss ?? softmaxCrossEntropyLoss;
  const params = options.params ?? model.parameters();
  let logits: tf.Tensor | undefined;
  const { value, grads } = tf.tidy(() =>
    tf.variableGrads(() => {
      const out = forward(x, ctx);
      if (options.keepLogits) logits = tf.keep(out);
      return lossFn(out, targets);
    }, params),
  );
  return options.keepLogits ? { loss: value, grads, logits } : { loss: value, grads };
}
