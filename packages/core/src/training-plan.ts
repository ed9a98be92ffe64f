/**
 * Compiled training: a backend may run a train-mode ResNet forward pass, and the backward pass the
 * gradient tape asks of it, as one prebuilt program instead of one tfjs kernel per layer (the native
 * engine's training plan: the same kernels, called without tfjs's tape and dispatch between them).
 *
 * A backend registers a {@link TrainingCompiler} under its tfjs name; `ResNet.forward` in training
 * mode asks {@link compiledTrainingForward} first. The plan must give the logits, the gradients of
 * every parameter and the running statistics the layers would give. It reads the weights afresh on
 * every run (an optimizer step replaces them), so it is cached per model structure and input shape
 * only: rebuilt when the module tree, a block's lesion switches or a batch norm's frozen statistics
 * change. A model or case the compiler cannot express runs the layers one by one, as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext, Module } from './module.js';
import { PlanCache, structureKey } from './plan-cache.js';
import { BatchNorm2d } from './layers/batchnorm.js';

/** A compiled train-mode forward pass (and its gradient) for one input shape. */
export interface CompiledTraining {
  /**
   * Logits [N, classes] for `x`, recorded on the gradient tape as one op whose inputs are `x` and
   * the model's parameters; updates the batch norms' running statistics as the layers would. Null to
   * run the layers instead.
   */
  run(x: tf.Tensor4D): tf.Tensor2D | null;
  /** Frees what the plan holds. */
  dispose(): void;
}

/** Builds a {@link CompiledTraining} for `model` and NHWC input shape `inputShape`, or null when it cannot express the model. */
export type TrainingCompiler = (model: Module, inputShape: readonly number[]) => CompiledTraining | null;

const compilers = new Map<string, TrainingCompiler>();

/** Registers the training compiler of the tfjs backend `backendName` (re-registering replaces). */
export function registerTrainingCompiler(backendName: string, compiler: TrainingCompiler): void {
  compilers.set(backendName, compiler);
}

let planEnabled = !(typeof process !== 'undefined' && process.env?.RESNET_TS_TRAINING_PLAN === '0');

/**
 * Turns compiled training plans on (the default) or off, e.g. to compare with the layer-by-layer
 * path; $RESNET_TS_TRAINING_PLAN=0 starts with them off. Returns the previous setting.
 */
export function setTrainingPlan(enabled: boolean): boolean {
  const previous = planEnabled;
  planEnabled = enabled;
  return previous;
}

/** What a training plan is built from: the module tree, lesion switches and frozen batch statistics (not the weights). */
function trainingKey(model: Module): unknown[] {
  const key = structureKey(model);
  for (const [, m] of model.namedModules()) if (m instanceof BatchNorm2d) key.push(m.frozenStatistics);
  return key;
}

const plans = new PlanCache<CompiledTraining>(trainingKey);

/** Frees the training plans cached for `model` (rebuilt when next needed). */
export function clearTrainingPlans(model: Module): void {
  plans.clear(model);
}

/**
 * Train-mode logits from the compiled training plan of the current backend, or null when none
 * applies (then the caller runs the layers). Called by `ResNet.forward` after its input checks.
 */
export function compiledTrainingForward(model: Module, x: tf.Tensor, ctx: ForwardContext): tf.Tensor2D | null {
  if (!planEnabled || !ctx.training || x.rank !== 4 || x.dtype !== 'float32') return null;
  const compiler = compilers.get(tf.getBackend());
  if (!compiler) return null;
  const plan = plans.get(model, x.shape, () => compiler(model, x.shape));
  return plan ? plan.run(x as tf.Tensor4D) : null;
}
