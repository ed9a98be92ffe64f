/**
 * Whether a training run is still healthy: a finite loss is not enough. With a learning rate far
 * too high, batch norm keeps the training loss finite while the weights, batch-norm running
 * statistics or momentum buffers overflow to Inf and NaN; such a model evaluates to garbage and a
 * checkpoint of it is not a "good" one. The trainer checks every tensor it would save with
 * {@link checkRunHealth} before each checkpoint (and before the end-of-epoch evaluation), and stops
 * the run as diverged instead of writing it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NonFiniteTally, type Module } from '@resnet-ts/core';

/**
 * Counts NaN and ±Inf in the model's parameters and buffers (running mean and variance included)
 * and in the optimizer's momentum buffers (by parameter name, reported as `optimizer.momentum.<name>`
 * as in a checkpoint). Returns a tally named after `label`; its `found` list is empty when everything
 * is finite.
 */
export function checkRunHealth(model: Module, momenta: Map<string, tf.Tensor> = new Map(), label = 'the weights'): NonFiniteTally {
  const tally = new NonFiniteTally(label, 'warn');
  const all: [string, tf.Tensor][] = [
    ...model.namedParameters(),
    ...model.namedBuffers(),
    ...[...momenta].map(([name, t]): [string, tf.Tensor] => [`optimizer.momentum.${name}`, t]),
  ];
  for (const [name, t] of all) {
    if (t.dtype === 'float32') tally.add(name, t.dataSync() as Float32Array);
  }
  return tally;
}

/** Where a run can be picked up after it diverged: the last checkpoint written (every one is checked). */
export interface LastGood {
  file?: string;
  step?: number;
}

/** The sentence naming the last good checkpoint, for the messages of a run that stopped. */
export function lastGoodText(last: LastGood): string {
  if (!last.file) return 'No checkpoint was written yet.';
  return `The last good checkpoint is ${last.file}${last.step !== undefined ? ` (step ${last.step})` : ''}.`;
}

/** The one-line message of a run whose weights went non-finite (see {@link checkRunHealth}). */
export function divergedMessage(tally: NonFiniteTally, at: { step: number; epoch: number; lr: number }, last: LastGood): string {
  return (
    `Training diverged at step ${at.step} (epoch ${at.epoch + 1}, lr ${at.lr}): ${tally.summary()} in the weights and optimizer state; ` +
    `nothing was saved from it. ${lastGoodText(last)} Try a lower learning rate or a warm-up.`
  );
}
