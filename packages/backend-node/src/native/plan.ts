/**
 * The native engine's compiled inference plan: an eval-mode ResNet forward as one native call over
 * a prebuilt sequence of oneDNN primitives (native/plan.cc), registered with core's
 * `registerInferenceCompiler` so that `ResNet.forward` on the `native` backend uses it without any
 * change to the caller's code.
 *
 * The model is described through core's graph exporters (plan-graph.ts), lowered with fusions
 * (plan-lower.ts) and built natively. A model the plan cannot express (a module without an exporter,
 * an operator the lowering does not know) gets no plan: the tfjs kernels run it as before. Core keys
 * the plan on the weights' storage and the blocks' lesion switches, so `loadStateDict`,
 * `Variable.assign` and `branchEnabled` rebuild it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { GraphExportError, Module, ResNet, type CompiledInference } from '@resnet-ts/core';
import type { NativeAddon, NativePlanHandle, NativePlanInfo } from './addon.js';
import { f32 } from './kernel-args.js';
import { collectPlanGraph } from './plan-graph.js';
import { PlanUnsupportedError, lowerPlanGraph, type LoweredPlan } from './plan-lower.js';
import { releaseFileBackedSources } from './deferred-transpose.js';

/**
 * A built plan for one input shape (see {@link compileNativePlan}).
 *
 * Built first with its Winograd convs deferred (direct instead): oneDNN transforms a filter into the
 * Winograd layout serially and slowly (ResNet-50: ~230 ms for its 11 such convs, a sixth of
 * `resnet forward`'s cold start) and, in a first run, a Winograd conv is no faster than the direct
 * one. When the plan runs a second time, it is being reused, so it is rebuilt with them (see
 * {@link NativePlan.run}).
 */
export class NativePlan implements CompiledInference {
  private handle: NativePlanHandle | null;
  private runs = 0;

  constructor(
    private readonly addon: NativeAddon,
    handle: NativePlanHandle,
    /** The NHWC input shape the plan was built for. */
    readonly inputShape: readonly number[],
    /** The logits shape [N, classes]. */
    readonly outputShape: readonly [number, number],
    /** How to build the plan with the Winograd convs that `handle` deferred; null when it deferred none. */
    private withWinograd: WinogradRebuild | null = null,
  ) {
    this.handle = handle;
  }

  run(x: tf.Tensor4D): tf.Tensor2D | null {
    const backend = tf.backend() as MathBackendCPU;
    const input = f32(backend, x);
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    if (!this.handle || !input || input.length !== size || !x.shape.every((d, i) => d === this.inputShape[i])) return null;
    if (++this.runs === 2 && this.withWinograd) this.rebuildWithWinograd();
    if (!this.handle) return null;
    const out = new Float32Array(this.outputShape[0] * this.outputShape[1]);
    this.addon.planRun(this.handle, input, out);
    return tf.tensor2d(out, [...this.outputShape]);
  }

  /**
   * Replaces the plan by one with its deferred Winograd convs. The weights are read first (released
   * ones from their file): if that fails (the file changed since the model was loaded), this plan keeps
   * running the weights it copied, as it would have without the rebuild. Then the old plan goes, so
   * that the new weights replace its copies instead of adding to them at the peak. If the build itself
   * fails the plan is gone and `run` answers null: the layers run through the tfjs kernels.
   * {@link lastPlanFallback} says what failed.
   */
  private rebuildWithWinograd(): void {
    const { lower, create } = this.withWinograd!;
    this.withWinograd = null;
    let lowered: LoweredPlan;
    try {
      lowered = lower();
    } catch (e) {
      lastFallback = `native plan kept without Winograd convs: ${(e as Error).message}`;
      return;
    }
    this.addon.planDispose(this.handle!);
    this.handle = null;
    try {
      this.handle = create(lowered);
    } catch (e) {
      lastFallback = `native plan rebuild with Winograd convs failed: ${(e as Error).message}`;
    }
  }

  /** The oneDNN primitives, activation reorders per run and buffer bytes of the plan. */
  info(): NativePlanInfo {
    if (!this.handle) throw new Error('the native plan was disposed');
    return this.addon.planInfo(this.handle);
  }

  dispose(): void {
    if (this.handle) this.addon.planDispose(this.handle);
    this.handle = null;
  }
}

let lastFallback: string | null = null;
let winograd: boolean | undefined;

/**
 * Whether plans built from now on may run 3x3 stride-1 convs of 32+ channels as Winograd convs (on by
 * default where oneDNN has them, i.e. AVX-512: about half the time of a direct conv, logits as close to
 * a float64 reference as the direct convs'). `undefined`: the engine's default, which
 * `RESNET_TS_WINOGRAD=0` turns off (the training kernels follow only that). Returns the previous
 * setting. Plans already built keep theirs.
 */
export function setNativeWinograd(enabled: boolean | undefined): boolean | undefined {
  const previous = winograd;
  winograd = enabled;
  return previous;
}

/** Why the last {@link compileNativePlan} built no plan (null when it built one); for tests and diagnostics. */
export function lastPlanFallback(): string | null {
  return lastFallback;
}

/** The two steps of a plan's rebuild with its Winograd convs (see {@link NativePlan}). */
interface WinogradRebuild {
  /** The model's op list, its weights read (released ones from their file); throws when they cannot be. */
  lower(): LoweredPlan;
  /** The plan of `lowered` with its Winograd convs; lets go of the file-backed weights again. */
  create(lowered: LoweredPlan): NativePlanHandle;
}

function createPlan(addon: NativeAddon, model: ResNet, inputShape: readonly number[]): NativePlan {
  const settings = { winograd };
  const lower = () => lowerPlanGraph(collectPlanGraph(model), inputShape);
  const create = (lowered: LoweredPlan, deferWinograd: boolean) =>
    addon.planCreate([...inputShape], lowered.numValues, lowered.ops, lowered.output, { ...settings, deferWinograd });
  const first = lower();
  const handle = create(first, true);
  const rebuild: WinogradRebuild = {
    lower,
    create: (lowered) => {
      const full = create(lowered, false);
      releaseFileBackedSources(addon, model.parameters());
      return full;
    },
  };
  const deferred = addon.planInfo(handle).winogradDeferred > 0;
  return new NativePlan(addon, handle, [...inputShape], first.outputShape, deferred ? rebuild : null);
}

/**
 * Builds the native plan of `model` for an NHWC float32 input of `inputShape`, or null (with the
 * reason in {@link lastPlanFallback}) when the plan cannot express the model or oneDNN
 * cannot build it: then the layers run through the tfjs kernels.
 */
export function compileNativePlan(addon: NativeAddon, model: Module, inputShape: readonly number[]): NativePlan | null {
  lastFallback = null;
  if (!(model instanceof ResNet)) {
    lastFallback = `${model.typeName} is not a ResNet`;
    return null;
  }
  try {
    const plan = createPlan(addon, model, inputShape);
    // The plan holds its own copy of every weight now (and the graph that lent it them is gone).
    releaseFileBackedSources(addon, model.parameters());
    return plan;
  } catch (e) {
    // Unsupported graphs, modules without exporters, and anything oneDNN refuses: the tfjs path runs.
    const kind = e instanceof PlanUnsupportedError ? 'unsupported: ' : e instanceof GraphExportError ? '' : 'native plan failed: ';
    lastFallback = kind + (e as Error).message;
    return null;
  }
}
