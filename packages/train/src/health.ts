/**
 * Whether a training run is still healthy: a finite loss is not enough. With a learning rate far
 * too high, batch norm keeps the training loss finite while the weights, batch-norm running
 * statistics or momentum buffers overflow to Inf and NaN; such a model evaluates to garbage and a
 * checkpoint of it is not a "good" one. The trainer checks every tensor it would save with
 * {@link checkRunHealth} before each checkpoint (and before the end-of-epoch evaluation), and the
 * model's outputs in eval mode with {@link outputsDiverged} before each checkpoint too: through the
 * epoch's evaluation, or a probe of a few images for the others (`checkpointEvery`, epochs without
 * an evaluation set); it stops the run as diverged instead of writing it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NonFiniteTally, type Module } from '@resnet-ts/core';
import type { Preprocessing } from './batches.js';
import type { Dataset } from './data/dataset.js';
import { DIVERGED_TRAIN_LOSS_TIMES, EXPLODED_LOSS_TIMES, uniformLoss } from './epoch-report.js';

/**
 * Counts NaN and ±Inf in the model's parameters and buffers (running mean and variance included)
 * and in the optimizer's momentum buffers (by parameter name, reported as `optimizer.momentum.<name>`
 * as in a checkpoint). Returns a tally named after `label`; its `found` list is empty when everything
 * is finite.
 */
export function checkRunHealth(model: Module, momenta: Map<string, tf.Tensor> = new Map(), label = 'the weights'): NonFiniteTally {
  const tally = new NonFiniteTally(label, 'warn');
  for (const [name, values] of floatTensors(model, momenta)) tally.add(name, values);
  return tally;
}

/** The float32 values a checkpoint of the run holds: parameters, buffers and momenta (named as saved). */
function floatTensors(model: Module, momenta: Map<string, tf.Tensor> = new Map()): [string, Float32Array][] {
  const all: [string, tf.Tensor][] = [
    ...model.namedParameters(),
    ...model.namedBuffers(),
    ...[...momenta].map(([name, t]): [string, tf.Tensor] => [`optimizer.momentum.${name}`, t]),
  ];
  return all.filter(([, t]) => t.dtype === 'float32').map(([name, t]) => [name, t.dataSync() as Float32Array]);
}

/** A learning rate as the messages show it: 1 rather than 1.0000000000000002 (a schedule's product). */
const lrText = (lr: number) => String(+lr.toPrecision(6));

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
    `Training diverged at step ${at.step} (epoch ${at.epoch + 1}, lr ${lrText(at.lr)}): ${tally.summary()} in the weights and optimizer state; ` +
    `nothing was saved from it. ${lastGoodText(last)} Try a lower learning rate or a warm-up.`
  );
}

/**
 * The one-line message of a run that ended with its loss exploded in eval mode (on `loss.set`; see
 * `lossExploded`) and far off in training (`DIVERGED_TRAIN_LOSS_TIMES`) although its weights and
 * outputs stayed finite: its weights are no result.
 */
export function explodedLossMessage(
  loss: { train: number; eval: number; set: string },
  numClasses: number,
  at: { step: number; epoch: number; lr: number },
  last: LastGood,
): string {
  const uniform = uniformLoss(numClasses);
  return (
    `Training diverged: its last epoch (epoch ${at.epoch + 1}, step ${at.step}, lr ${lrText(at.lr)}) ended with a mean training loss of ${loss.train.toExponential(2)} ` +
    `(over ${DIVERGED_TRAIN_LOSS_TIMES} times a uniform guess's ${uniform.toFixed(2)}) and a ${loss.set} loss of ${loss.eval.toExponential(2)} in eval mode (over ${EXPLODED_LOSS_TIMES} times), although the weights stayed finite; ` +
    'model.safetensors was not written and nothing was saved from it. ' +
    `${lastGoodText(last)} Try a lower learning rate or a warm-up.`
  );
}

/** What an evaluation in eval mode measured, as far as the run's health goes (see `EvalResult`). */
export interface OutputsCheck {
  /** Which images: 'validation', 'test' or 'training' (a probe of the first training images). */
  set: string;
  n: number;
  /** Images whose logits hold NaN or ±Inf. */
  nonFinite: number;
  loss: number;
}

/**
 * Whether the model's outputs show a diverged run although its weights are finite: with a learning
 * rate far too high, weights and batch-norm statistics can grow huge (1e19) yet stay finite while
 * every eval-mode forward overflows to NaN (the training loss stays finite: batch norm in training
 * mode normalises by each batch's own statistics). Such weights must not be saved as a result.
 */
export function outputsDiverged(check: OutputsCheck): boolean {
  return check.nonFinite > 0 || !Number.isFinite(check.loss);
}

/** The largest magnitude among the model's parameters and buffers (for the message of a diverged run). */
export function largestMagnitude(model: Module): number {
  let max = 0;
  for (const [, values] of floatTensors(model)) for (const v of values) if (Math.abs(v) > max) max = Math.abs(v);
  return max;
}

/**
 * The one-line message of a run whose weights are finite but whose outputs are not (see
 * {@link outputsDiverged}). `last` names the last good checkpoint; a string there replaces the
 * sentences on what was saved (e.g. when a checkpoint already holds these very weights).
 */
export function outputsDivergedMessage(
  check: OutputsCheck,
  at: { step: number; epoch: number; lr: number },
  largest: number,
  last: LastGood | string,
): string {
  const saved = typeof last === 'string' ? last : `nothing was saved from it. ${lastGoodText(last)}`;
  return (
    `Training diverged at step ${at.step} (epoch ${at.epoch + 1}, lr ${lrText(at.lr)}): the weights are finite (largest magnitude ${largest.toExponential(1)}) ` +
    `but the model's outputs in eval mode are not (${check.nonFinite} of ${check.n} ${check.set} images give NaN or Inf logits, loss ${check.loss}); ` +
    `${saved} Try a lower learning rate or a warm-up.`
  );
}

/** The images of `set` that hold NaN or ±Inf (float data only; 8-bit pixels are always finite), and how many such values. */
function nonFiniteImages(set: Dataset): { images: number[]; values: number } {
  const out = { images: [] as number[], values: 0 };
  if (!(set.images instanceof Float32Array)) return out;
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  for (let i = 0; i < set.labels.length; i++) {
    let k = 0;
    for (let j = i * per; j < (i + 1) * per; j++) if (!Number.isFinite(set.images[j])) k++;
    if (k) out.images.push(i);
    out.values += k;
  }
  return out;
}

/**
 * Why the inputs of a step cannot give a finite loss, in words (for the message of a NaN loss, so
 * that it is not blamed on the learning rate), or undefined when they can: NaN or ±Inf in the
 * training images of `batch` (float data), or a normalisation that is not finite or divides by 0
 * (given so, or computed from such images).
 */
export function nonFiniteInputs(set: Dataset, prep: Preprocessing, batch: ArrayLike<number>): string | undefined {
  const badStats = [...prep.mean, ...prep.std].some((v) => !Number.isFinite(v)) || prep.std.some((v) => v === 0);
  const bad = nonFiniteImages(set);
  const inBatch = Array.from(batch).filter((i) => bad.images.includes(i)).length;
  if (!inBatch && !badStats) return undefined;
  const stats = `the normalisation (mean ${prep.mean.join(', ')}, std ${prep.std.join(', ')}) is not finite or divides by 0`;
  if (!bad.images.length) return `${stats}: give a finite mean and a non-zero std`;
  const n = bad.images.length;
  const where =
    `the training images hold ${bad.values} NaN or Inf value${bad.values > 1 ? 's' : ''} in ${n} image${n > 1 ? 's' : ''} ` +
    `(the first is image ${bad.images[0]}${inBatch ? `; ${inBatch} in this step's batch` : ''})`;
  return `${where}${badStats ? `, and ${stats}` : ''}: fix or remove those images`;
}
