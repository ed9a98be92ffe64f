/**
 * Compiled inference: a backend may turn an eval-mode {@link ResNet} into one prebuilt program (e.g.
 * the native engine's sequence of oneDNN primitives) that runs a whole forward pass in one call.
 *
 * A backend registers an {@link InferenceCompiler} under its tfjs name; `ResNet.forward` then asks
 * {@link compiledForward} first. The plan is used only when {@link canFuse} holds (eval mode, fusion
 * on, no gradient tape), the plan switch is on ({@link setInferencePlan}, $RESNET_TS_INFERENCE_PLAN),
 * the input is float32, and the compiler accepted the model; anything else runs the layers as before.
 *
 * Plans are cached per model and input shape and rebuilt when anything they were built from changes:
 * a parameter or buffer given new storage (`Variable.assign`, `loadStateDict`), a block's
 * `branchEnabled` / `branchScale` (lesions), or the module tree itself.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext, Module } from './module.js';
import { canFuse } from './layers/fuse.js';
import { PlanCache, structureKey } from './plan-cache.js';

/** A compiled forward pass for one input shape. */
export interface CompiledInference {
  /** Logits [N, classes] for `x` (the shape the plan was built for), or null to run the layers instead. */
  run(x: tf.Tensor4D): tf.Tensor2D | null;
  /** Frees what the plan holds (native memory, primitives). */
  dispose(): void;
}

/**
 * Builds a {@link CompiledInference} for `model` and input shape `inputShape` ([N, H, W, C]), or
 * returns null when it cannot express the model (the layers then run one by one).
 */
export type InferenceCompiler = (model: Module, inputShape: readonly number[]) => CompiledInference | null;

const compilers = new Map<string, InferenceCompiler>();

/** Registers the inference compiler of the tfjs backend `backendName` (re-registering replaces). */
export function registerInferenceCompiler(backendName: string, compiler: InferenceCompiler): void {
  compilers.set(backendName, compiler);
}

let planEnabled = !(typeof process !== 'undefined' && process.env?.RESNET_TS_INFERENCE_PLAN === '0');

/**
 * Turns compiled inference plans on (the default) or off, e.g. to compare with the kernel-by-kernel
 * path; $RESNET_TS_INFERENCE_PLAN=0 starts with them off. Returns the previous setting.
 */
export function setInferencePlan(enabled: boolean): boolean {
  const previous = planEnabled;
  planEnabled = enabled;
  return previous;
}

/** Everything a plan is built from: the module tree, lesion switches and the storage of every tensor. */
function stateKey(model: Module): unknown[] {
  const key = structureKey(model);
  for (const [, v] of model.namedParameters()) key.push(v.dataId);
  for (const [, v] of model.namedBuffers()) key.push(v.dataId);
  return key;
}

const plans = new PlanCache<CompiledInference>(stateKey);

/** Frees the plans cached for `model` (they are rebuilt when next needed). */
export function clearInferencePlans(model: Module): void {
  plans.clear(model);
}

/**
 * Logits from the compiled plan of the current backend, or null when no plan applies (then the
 * caller runs the layers). Called by `ResNet.forward`.
 */
export function compiledForward(model: Module, x: tf.Tensor, ctx: ForwardContext): tf.Tensor2D | null {
  if (!planEnabled || !canFuse(ctx) || x.rank !== 4 || x.dtype !== 'float32') return null;
  const compiler = compilers.get(tf.getBackend());
  if (!compiler) return null;
  const plan = plans.get(model, x.shape, () => compiler(model, x.shape));
  return plan ? plan.run(x as tf.Tensor4D) : null;
}
