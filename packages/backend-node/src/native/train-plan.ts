/**
 * The native engine's compiled training plan: a train-mode ResNet forward pass, and its backward
 * pass, as one op on the gradient tape (tfjs's custom-gradient op; inputs: the images and every parameter)
 * that calls the same native kernels the layers call in training, in the same order, without tfjs's
 * tape bookkeeping and kernel dispatch around each of them (~20-27 ms of a ~150 ms ResNet-20 step at
 * batch 128 on two cores). Registered with core's `registerTrainingCompiler`, so `ResNet.forward`
 * in training mode uses it with no change to the caller; a model it cannot express (train-plan-lower.ts)
 * runs the layers one by one, and `setTrainingPlan(false)` / $RESNET_TS_TRAINING_PLAN=0 turns it off.
 *
 * The weights are read afresh on every run (an optimizer step replaces them). Activations live in
 * buffers from the engine's pool, held from the forward pass until its backward pass has run (or
 * released at once when no gradient is being recorded). The images' gradient (a conv pass nobody
 * needs in training) is computed only when the tape asks for it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  GraphExportError,
  Module,
  ResNet,
  graphIsSameInTraining,
  type BatchNorm2d,
  type CompiledTraining,
} from '@resnet-ts/core';
import { nativeDisabled } from './kernels.js';
import type { NativeAddon } from './addon.js';
import { f32, size } from './kernel-args.js';
import { pool } from './pool.js';
import { PlanUnsupportedError } from './plan-lower.js';
import { GradientSums } from './train-plan-grads.js';
import { lowerTrainingGraph, type TrainOp, type TrainPlanOps } from './train-plan-lower.js';
import { PlanLayouts } from './train-plan-layout.js';

/** tfjs's engine method behind tf.customGrad (private in its typings). */
interface CustomOpRunner {
  runKernelFunc(op: {
    forwardFunc: () => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/** Adds a parameter's gradient (summed when the parameter is used twice). */
type AddParamGrad = (p: tf.Variable, g: Float32Array) => void;

/** What each op's backward step works with; `g` is the gradient of the op's output. */
interface BackwardStep {
  backend: MathBackendCPU;
  s: Saved;
  grads: GradientSums;
  addParam: AddParamGrad;
  g: Float32Array;
  /** A second gradient of the output, not added to `g` (a batch norm that adds it itself; else null). */
  g2: Float32Array | null;
}

/** One forward pass's activations (index: value id; 0 is the input's own storage) and batch statistics (by op index). */
interface Saved {
  acts: Float32Array[];
  stats: Map<number, { mean: Float32Array; variance: Float32Array }>;
}

const fround = Math.fround;

/**
 * Sets each running statistic of `bn` exactly as core's BatchNorm2d does after a train-mode pass over
 * `n` rows (call inside a tf.tidy: one for all the plan's batch norms, ~1 ms a ResNet-20 step less than one each).
 */
function updateRunningStats(backend: MathBackendCPU, bn: BatchNorm2d, mean: Float32Array, variance: Float32Array, n: number): void {
  const m = fround(bn.momentum),
    keep = fround(1 - bn.momentum),
    unbias = fround(n / (n - 1));
  const rm = f32(backend, bn.runningMean)!,
    rv = f32(backend, bn.runningVar)!;
  const newMean = new Float32Array(mean.length),
    newVar = new Float32Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    const unbiased = n > 1 ? fround(variance[c] * unbias) : variance[c];
    newMean[c] = fround(fround(rm[c] * keep) + fround(mean[c] * m));
    newVar[c] = fround(fround(rv[c] * keep) + fround(unbiased * m));
  }
  bn.runningMean.assign(tf.tensor1d(newMean));
  bn.runningVar.assign(tf.tensor1d(newVar));
  // The count + 1 as core's tf.add gives it (int32 wraps the same way), without a kernel dispatch.
  const tracked = bn.numBatchesTracked;
  tracked.assign(tf.scalar(tracked.dataSync()[0] + 1, tracked.dtype));
}

/** The float32 storage of parameter `v` (its own, read in place). */
function valuesOf(backend: MathBackendCPU, v: tf.Variable): Float32Array {
  const a = f32(backend, v);
  if (!a) throw new PlanUnsupportedError(`parameter '${v.name}' is not float32`);
  return a;
}

/** A built training plan for one input shape (see the file comment). */
export class NativeTrainingPlan implements CompiledTraining {
  /** The parameters, in the order of the op's inputs after the images. */
  private readonly params: tf.Variable[];
  /** Releases of backward passes whose images' gradient may still be asked for. */
  private readonly held = new Set<() => void>();
  /** Which activations stay channel-blocked between Winograd convs and batch norms. */
  private readonly layouts: PlanLayouts;
  /** Outputs of residual, ReLU-ending batch norms: their gradient kernel adds a second gradient itself (no Add pass). */
  private readonly pairable: ReadonlySet<number>;

  constructor(
    private readonly addon: NativeAddon,
    private readonly plan: TrainPlanOps,
    private readonly inputShape: readonly number[],
  ) {
    const params = new Set<tf.Variable>();
    for (const op of plan.ops) {
      if (op.kind === 'conv' && op.weight) [op.weight, op.bias].forEach((p) => p && params.add(p));
      if (op.kind === 'bn') [op.bn.weight, op.bn.bias].forEach((p) => params.add(p));
      if (op.kind === 'gemm') [op.fc.weight, op.fc.bias].forEach((p) => p && params.add(p));
    }
    this.params = [...params];
    const notFloat = this.params.find((p) => p.dtype !== 'float32');
    if (notFloat) throw new PlanUnsupportedError(`parameter '${notFloat.name}' is ${notFloat.dtype}, not float32`);
    // The forward primitive the plan will run (with its bias, if any): built now, used from the first step.
    this.layouts = new PlanLayouts(plan, (op) => addon.convImpl(op.params, 'fwd', op.bias !== null).includes('wino'));
    this.pairable = new Set(plan.ops.filter((o) => o.kind === 'bn' && o.relu && o.residual >= 0).map((o) => o.out));
  }

  run(x: tf.Tensor4D): tf.Tensor2D | null {
    const backend = tf.backend() as MathBackendCPU;
    const input = f32(backend, x);
    if (!input || !x.shape.every((d, i) => d === this.inputShape[i])) return null;
    this.releaseHeld();
    const recording = tf.engine().isTapeOn();
    let saved: Saved | null = null;
    const inputs: Record<string, tf.Tensor> = { 0: x };
    this.params.forEach((p, i) => (inputs[i + 1] = p));
    // tfjs's own custom-gradient op (what tf.customGrad calls), whose gradient is a map of getters:
    // the tape asks only for the gradients it needs, so the images' (a conv pass) is computed on demand.
    const logits = (tf.engine() as unknown as CustomOpRunner).runKernelFunc({
      forwardFunc: () => {
        saved = this.forward(backend, input);
        const [n, k] = this.plan.shapes[this.plan.output];
        return tf.tensor2d(saved.acts[this.plan.output].slice(), [n, k]);
      },
      backwardsFunc: (dy: tf.Tensor) => this.backward(backend, saved!, f32(backend, dy)!, x.shape),
      inputs,
    }) as tf.Tensor2D;
    planRuns++;
    const s = saved as Saved | null;
    if (s) tf.tidy(() => this.plan.ops.forEach((o, i) => o.kind === 'bn' && this.updateStats(backend, o.bn, s, i, o.x)));
    if (!recording && s) this.release(s);
    return logits;
  }

  /** Frees the buffers that backward passes kept for a gradient of the images nobody asked for. */
  private releaseHeld(): void {
    for (const release of this.held) release();
    this.held.clear();
  }

  private updateStats(backend: MathBackendCPU, bn: BatchNorm2d, s: Saved, i: number, x: number): void {
    const { mean, variance } = s.stats.get(i)!;
    const shape = this.plan.shapes[x];
    updateRunningStats(backend, bn, mean, variance, size(shape) / shape[shape.length - 1]);
  }

  private release(s: Saved): void {
    s.acts.forEach((a, v) => v > 0 && pool.release(a));
    s.acts.length = 0;
  }

  /** Runs every op in order; the activations and batch statistics, for the backward pass. */
  private forward(backend: MathBackendCPU, input: Float32Array): Saved {
    const { shapes } = this.plan;
    const acts: Float32Array[] = shapes.map((s, v) => (v === 0 ? input : pool.alloc(size(s))));
    const stats = new Map<number, { mean: Float32Array; variance: Float32Array }>();
    const a = this.addon;
    this.plan.ops.forEach((op, i) => {
      const y = acts[op.out];
      switch (op.kind) {
        case 'conv': {
          const w = op.weight ? valuesOf(backend, op.weight) : op.filter!;
          const bias = op.bias ? valuesOf(backend, op.bias) : null;
          return a.conv2dForward(acts[op.x], w, bias, y, op.params, false, false, this.layouts.conv(op));
        }
        case 'bn': {
          const c = op.bn.numFeatures;
          const st = { mean: new Float32Array(c), variance: new Float32Array(c) };
          stats.set(i, st);
          const res = op.residual >= 0 ? acts[op.residual] : null;
          const [g, b] = [op.bn.weight, op.bn.bias].map((p) => valuesOf(backend, p));
          const [hw, layout] = this.layouts.batchNorm(op);
          return a.batchNormTrain(acts[op.x], g, b, op.bn.eps, c, y, st.mean, st.variance, res, op.relu, hw, layout);
        }
        case 'relu':
          return a.unary('Relu', acts[op.x], y);
        case 'maxpool':
          a.poolForward(acts[op.x], y, op.params, true);
          return a.maxPoolPropagateNaN(acts[op.x], y, op.geometry);
        case 'add':
          a.binary('Add', acts[op.a], 0, acts[op.b], 0, y, 1, y.length);
          return op.relu ? a.unary('Relu', y, y) : undefined;
        case 'gap': {
          const [n, h, w, c] = shapes[op.x];
          return a.reduce('Mean', acts[op.x], y, n, h * w, c);
        }
        case 'gemm':
          return this.gemmForward(backend, op, acts[op.x], y, shapes[op.x]);
      }
    });
    return { acts, stats };
  }

  /** Linear's forward as the layer runs it: matMul, then the bias added. */
  private gemmForward(
    backend: MathBackendCPU,
    op: Extract<TrainOp, { kind: 'gemm' }>,
    x: Float32Array,
    y: Float32Array,
    shape: number[],
  ): void {
    const [n, k] = shape;
    const o = op.fc.outFeatures;
    this.addon.matmul(x, valuesOf(backend, op.fc.weight), null, y, [1, 1, n, k, o, 0, 0], false);
    if (!op.fc.bias) return;
    const b = valuesOf(backend, op.fc.bias);
    for (let i = 0; i < n; i++) for (let j = 0; j < o; j++) y[i * o + j] = fround(y[i * o + j] + b[j]);
  }

  /**
   * The gradient getters of the images (input '0') and of every parameter, from `dy`, the logits'
   * gradient. The parameters' are computed now; the images' only when the tape asks for it (tf.grad of
   * the images; never in training), so the buffers it needs are kept until then, until this plan's next
   * forward pass or until the event loop next turns, whichever comes first.
   */
  private backward(backend: MathBackendCPU, s: Saved, dy: Float32Array, xShape: number[]): Record<string, () => tf.Tensor> {
    if (s.acts.length === 0) throw new Error('the native training plan ran its backward pass twice for one forward pass');
    const grads = new GradientSums(this.addon, this.plan.shapes, s.acts, dy, this.plan.output, this.pairable);
    const paramGrads = new Map<tf.Variable, Float32Array>();
    const addParam = (p: tf.Variable, g: Float32Array) => {
      const prev = paramGrads.get(p);
      if (prev) for (let i = 0; i < g.length; i++) prev[i] = fround(prev[i] + g[i]);
      else paramGrads.set(p, g);
    };
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.held.delete(release);
      grads.release();
      this.release(s);
    };
    try {
      for (let i = this.plan.ops.length - 1; i >= 0; i--) this.backwardOp(backend, this.plan.ops[i], i, s, grads, addParam);
    } catch (e) {
      release();
      throw e;
    }
    const getters: Record<string, () => tf.Tensor> = {};
    this.params.forEach((p, i) => {
      const g = tf.tensor(paramGrads.get(p) ?? new Float32Array(size(p.shape)), p.shape, 'float32');
      getters[i + 1] = () => g;
    });
    if (!grads.hasDeferredInput()) {
      const dx = tf.tensor(grads.take(0), xShape, 'float32');
      release();
      getters[0] = () => dx;
      return getters;
    }
    this.held.add(release);
    setImmediate(release);
    getters[0] = () => {
      if (released) throw new Error('the native training plan was asked for the gradient of its input after it let go of what that needs');
      const dx = tf.tensor(grads.inputGradient(), xShape, 'float32');
      release();
      return dx;
    };
    return getters;
  }

  private backwardOp(backend: MathBackendCPU, op: TrainOp, i: number, s: Saved, grads: GradientSums, addParam: AddParamGrad): void {
    const a = this.addon;
    const { acts } = s;
    const [g, g2] = this.pairable.has(op.out) ? grads.pairOf(op.out) : [grads.of(op.out), null];
    if (!g) return; // the value does not reach the logits
    const at: BackwardStep = { backend, s, grads, addParam, g, g2 };
    switch (op.kind) {
      case 'conv':
        return this.convBackward(at, op);
      case 'bn':
        return this.batchNormBackward(at, op, i);
      case 'relu':
        return grads.add(op.x, (dx) => a.binary('ReluGrad', g, 0, acts[op.x], 0, dx, 1, dx.length));
      case 'maxpool':
        return grads.add(op.x, (dx) => a.poolBackward(g, acts[op.x], dx, op.params, true));
      case 'add': {
        let gm = g;
        if (op.relu) {
          gm = pool.alloc(g.length);
          a.binary('ReluGrad', g, 0, acts[op.out], 0, gm, 1, gm.length);
          grads.keep(gm);
        }
        grads.alias(op.a, gm);
        return grads.alias(op.b, gm);
      }
      case 'gap':
        return this.meanBackward(at, op);
      case 'gemm':
        return this.gemmBackward(at, op);
    }
  }

  private convBackward({ backend, s, grads, addParam, g }: BackwardStep, op: Extract<TrainOp, { kind: 'conv' }>): void {
    if (op.weight) {
      const dw = pool.alloc(size(op.weight.shape));
      const db = op.bias ? new Float32Array(size(op.bias.shape)) : null;
      this.addon.conv2dBackwardFilter(s.acts[op.x], g, dw, db, op.params, this.layouts.conv(op));
      addParam(op.weight, dw);
      if (op.bias && db) addParam(op.bias, db);
    }
    const w = op.weight ? valuesOf(backend, op.weight) : op.filter!;
    grads.add(op.x, (dx) => this.addon.conv2dBackwardData(g, w, dx, op.params, this.layouts.conv(op)));
  }

  /** The batch norm's gradient (its epilogue's ReLU mask and residual included); mean and variance get none. */
  private batchNormBackward({ backend, s, grads, addParam, g, g2 }: BackwardStep, op: Extract<TrainOp, { kind: 'bn' }>, i: number): void {
    const c = op.bn.numFeatures;
    const { mean, variance } = s.stats.get(i)!;
    const zeros = new Float32Array(c);
    const dscale = new Float32Array(c),
      doffset = new Float32Array(c);
    const dres = op.residual >= 0 ? pool.alloc(g.length) : null;
    // A ReLU without a residual: its mask recomputed from x (the forward's float ops), not read from y.
    const fromX = op.relu && op.residual < 0;
    const y = op.relu && !fromX ? s.acts[op.out] : null;
    const offset = fromX ? valuesOf(backend, op.bn.bias) : null;
    const scale = valuesOf(backend, op.bn.weight);
    const [hw, layout] = this.layouts.batchNorm(op);
    const x = s.acts[op.x];
    grads.add(op.x, (dx) =>
      this.addon.batchNormTrainGrad(
        g,
        zeros,
        zeros,
        x,
        scale,
        mean,
        variance,
        op.bn.eps,
        c,
        dx,
        dscale,
        doffset,
        y,
        dres,
        hw,
        layout,
        offset,
        g2,
      ),
    );
    addParam(op.bn.weight, dscale);
    addParam(op.bn.bias, doffset);
    if (dres) grads.addOwned(op.residual, dres);
  }

  /** The mean over H and W: each pixel gets dy / (H W), as tfjs's Mean gradient (dy tiled, then divided). */
  private meanBackward({ grads, g }: BackwardStep, op: Extract<TrainOp, { kind: 'gap' }>): void {
    const [n, h, w, c] = this.plan.shapes[op.x];
    grads.add(op.x, (dx) => {
      this.addon.tile(g, [n, 1, c], [1, h * w, 1], dx);
      this.addon.binary('RealDiv', dx, 0, Float32Array.of(h * w), 1, dx, 1, dx.length);
    });
  }

  /** Linear's gradients as tfjs's MatMul and Add give them: x^T dy, dy summed over the batch, dy W^T. */
  private gemmBackward({ backend, s, grads, addParam, g }: BackwardStep, op: Extract<TrainOp, { kind: 'gemm' }>): void {
    const [n, k] = this.plan.shapes[op.x];
    const o = op.fc.outFeatures;
    const dw = new Float32Array(k * o);
    this.addon.matmul(s.acts[op.x], g, null, dw, [1, 1, k, n, o, 1, 0], false);
    addParam(op.fc.weight, dw);
    if (op.fc.bias) {
      const db = new Float32Array(o);
      this.addon.reduce('Sum', g, db, 1, n, o);
      addParam(op.fc.bias, db);
    }
    const w = valuesOf(backend, op.fc.weight);
    grads.add(op.x, (dx) => this.addon.matmul(g, w, null, dx, [1, 1, n, o, k, 0, 1], false));
  }

  dispose(): void {
    // Nothing native: the activations go back to the pool after each backward pass.
    this.releaseHeld();
  }
}

let lastFallback: string | null = null;
let planRuns = 0;

/** How many train-mode forward passes the training plans have run in this process; for tests and diagnostics. */
export function trainingPlanRuns(): number {
  return planRuns;
}

/** The native kernels the plan calls: with any of them disabled ($RESNET_TS_NATIVE_DISABLE) the layers run, as asked. */
const KERNELS_USED = [
  'Conv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  'Relu',
  'Add',
  'Mean',
  'BatchMatMul',
];

/** Why the last {@link compileTrainingPlan} built no plan (null when it built one); for tests and diagnostics. */
export function lastTrainingPlanFallback(): string | null {
  return lastFallback;
}

/**
 * The native training plan of `model` for an NHWC float32 input of `inputShape`, or null (with the
 * reason in {@link lastTrainingPlanFallback}) when it cannot express the model: the layers then run one by one.
 */
export function compileTrainingPlan(addon: NativeAddon, model: Module, inputShape: readonly number[]): NativeTrainingPlan | null {
  lastFallback = null;
  const disabled = KERNELS_USED.find((k) => nativeDisabled.has(k));
  if (disabled) {
    lastFallback = `the native ${disabled} kernel is disabled`;
    return null;
  }
  if (!(model instanceof ResNet) || !graphIsSameInTraining(model)) {
    lastFallback = `${model.typeName} is not a ResNet declared the same in training as exported`;
    return null;
  }
  try {
    return new NativeTrainingPlan(addon, lowerTrainingGraph(model, inputShape), inputShape);
  } catch (e) {
    // What the plan cannot express, a module without an exporter, an exporter that refuses (a tensor
    // branchScale): the layers run.
    const kind = e instanceof PlanUnsupportedError ? 'unsupported: ' : e instanceof GraphExportError ? '' : 'not planned: ';
    lastFallback = kind + (e as Error).message;
    return null;
  }
}
