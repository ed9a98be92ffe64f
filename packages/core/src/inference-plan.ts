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
import { ResidualBlock } from './block.js';

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

/** Plans kept per model (one per input shape, the most recent few). */
const MAX_SHAPES = 4;

interface PlanCache {
  key: unknown[];
  byShape: Map<string, CompiledInference | null>;
}

const caches = new WeakMap<Module, PlanCache>();

/** Everything a plan is built from: the module tree, lesion switches and the storage of every tensor. */
function stateKey(model: Module): unknown[] {
  const key: unknown[] = [];
  for (const [, m] of model.namedModules()) {
    key.push(m);
    if (m instanceof ResidualBlock) key.push(m.branchEnabled, m.branchScale);
  }
  for (const [, v] of model.namedParameters()) key.push(v.dataId);
  for (const [, v] of model.namedBuffers()) key.push(v.dataId);
  return key;
}

const sameKey = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/** Frees the plans cached for `model` (they are rebuilt when next needed). */
export function clearInferencePlans(model: Module): void {
  const cache = caches.get(model);
  if (!cache) return;
  caches.delete(model);
  for (const plan of cache.byShape.values()) plan?.dispose();
}

/** The plan for `model` and `shape`, built (or rebuilt after a change) when needed; null when none applies. */
function planFor(model: Module, compiler: InferenceCompiler, shape: number[]): CompiledInference | null {
  const key = stateKey(model);
  let cache = caches.get(model);
  if (cache && !sameKey(cache.key, key)) {
    clearInferencePlans(model);
    cache = undefined;
  }
  if (!cache) {
    cache = { key, byShape: new Map() };
    caches.set(model, cache);
  }
  const shapeKey = `${tf.getBackend()}:${shape.join('x')}`;
  if (!cache.byShape.has(shapeKey)) {
    if (cache.byShape.size >= MAX_SHAPES) {
      const [oldest, plan] = cache.byShape.entries().next().value as [string, CompiledInference | null];
      plan?.dispose();
      cache.byShape.delete(oldest);
    }
    cache.byShape.set(shapeKey, compiler(model, shape));
  }
  return cache.byShape.get(shapeKey) ?? null;
}

/**
 * Logits from the compiled plan of the current backend, or null when no plan applies (then the
 * caller runs the layers). Called by `ResNet.forward`.
 */
export function compiledForward(model: Module, x: tf.Tensor, ctx: ForwardContext): tf.Tensor2D | null {
  if (!planEnabled || !canFuse(ctx) || x.rank !== 4 || x.dtype !== 'float32') return null;
  const compiler = compilers.get(tf.getBackend());
  if (!compiler) return null;
  const plan = planFor(model, compiler, x.shape);
  return plan ? plan.run(x as tf.Tensor4D) : null;
}
