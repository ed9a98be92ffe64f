/**
 * The conformance suite every engine runs (Node engines in packages/backend-node/test, browser
 * engines in packages/backend-web/test/chromium.test.ts, the native engine's own tests): the ops a
 * ResNet uses, forward AND backward, plus a whole resnet20 training step, each compared with the
 * tfjs cpu backend.
 *
 * This module depends on @tensorflow/tfjs-core only (no Node APIs, no model package), so it bundles
 * for the browser; the model for the resnet20 case is passed in (`createModel` from @resnet-ts/zoo).
 *
 * ## Tolerances (why these numbers)
 * An engine is compared with cpu per output tensor by
 *     error = max |engine - cpu| / max |cpu|        (max-abs error relative to the tensor's scale)
 * Both compute in float32 (eps = 1.2e-7) but sum in a different order (XNNPACK/oneDNN tiling,
 * im2col vs direct, GPU workgroup reductions, fused multiply-add). A sum of K float32 products
 * differs between orders by about sqrt(K)·eps relative to the sum of magnitudes (K·eps worst case);
 * our op cases reduce over at most K ≈ 2·16·16·8 = 4096 terms (filter gradients), so the expected
 * relative error is ~1e-6..1e-5 (measured: 2e-6 wasm, 1.4e-6 webgpu). OP_TOLERANCE = 1e-4 leaves a
 * 10x margin over that, while a real bug (a wrong pad/stride mapping, a missing gradient term, an
 * off-by-one window) gives errors of 1e-2..1.
 * The resnet20 step chains ~60 ops and divides by batch standard deviations in 19 batch norms
 * (batch 4, so some statistics come from few values), which amplifies rounding differences layer
 * by layer: MODEL_TOLERANCE = 1e-3 (still 10-100x below what a wrong kernel anywhere produces).
 *
 * ## The cpu reference of the resnet20 step
 * tfjs-backend-cpu's Conv2DBackpropFilter is a naive 7-deep loop, ~150x slower than its forward
 * convolution: the batch-4 resnet20 step takes ~4 minutes on cpu with it. For that one case the
 * reference runs with the filter gradient expressed as a forward convolution (core's kernels/portable.ts,
 * on cpu's own Conv2D/Transpose/Slice kernels), which the conv op cases above check against
 * tfjs's stock cpu kernel for 1x1/3x3/7x7, stride 1/2, same/explicit/asymmetric padding and odd
 * sizes. Every other op of the reference is stock tfjs cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { makeConv2DBackpropFilter } from '@resnet-ts/core';
import { MODEL_TOLERANCE, OP_TOLERANCE, conformanceCases, opCases, resnet20Case, resnet20EvalCase, seeded } from './conformance-cases.js';

export { MODEL_TOLERANCE, OP_TOLERANCE, conformanceCases, opCases, resnet20Case, resnet20EvalCase, seeded };

/** A case: computes, on the current backend, the tensors to compare (forward values, then gradients). */
export interface ConformanceCase {
  name: string;
  /** Largest allowed error (see the module comment for the metric). */
  tolerance: number;
  /** Returns new tensors the caller disposes. Must not leak other tensors. */
  run(): tf.Tensor[] | Promise<tf.Tensor[]>;
  /**
   * What the reference backend runs instead of `run` (same outputs), e.g. the layer-by-layer path
   * that a fused engine path must equal. Default: `run`.
   */
  runReference?(): tf.Tensor[] | Promise<tf.Tensor[]>;
  /** Compute the cpu reference with the fast filter gradient (see the module comment). */
  fastReferenceFilterGradient?: boolean;
  /** Names of the outputs (for messages), when the case knows them after a run. */
  outputLabels?: string[];
}

/** The minimum a model must offer for the resnet20 case (a core ResNet does). */
export interface ConformanceModel {
  /** Logits for an NHWC batch `x`; `ctx.training` selects train-mode batch norm. */
  forward(x: tf.Tensor, ctx?: { training: boolean }): tf.Tensor;
  /** The trainable variables (those the training step differentiates). */
  parameters(): tf.Variable[];
  /** The trainable variables with their names, used to label the gradients in messages. */
  namedParameters?(): [string, tf.Variable][];
  /** Frees the model's variables. */
  dispose(): void;
}

/** Builds a named model, e.g. @resnet-ts/zoo's `createModel`. */
export type ModelFactory = (name: string, overrides: { seed: number }) => ConformanceModel;

/** The outcome of one case on one engine. */
export interface CaseResult {
  name: string;
  backend: string;
  reference: string;
  /** Worst error over the case's tensors. */
  error: number;
  /** Which tensor had it (0 = first output). */
  worstOutput: number;
  /** Its name, when the case names its outputs. */
  worstLabel?: string;
  tolerance: number;
  pass: boolean;
  /** Seconds the case took on the engine. */
  seconds: number;
  /** Set when the engine threw instead of producing values. */
  failure?: string;
}
// ---------------------------------------------------------------------------------------------
// Running

/** Switches the tfjs backend; in Node pass core's `useBackend` so plug-ins do their setup. */
export type BackendSwitch = (name: string) => Promise<unknown>;

const defaultSwitch: BackendSwitch = async (name) => {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
};

/**
 * Max |a-b| / max |ref| over the finite reference values (absolute when those are all zeros).
 * A non-finite reference value must be matched exactly (NaN by NaN, +Inf by +Inf, -Inf by -Inf),
 * and a non-finite value where the reference is finite is an error too: both give Infinity.
 */
export function relativeError(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  if (ref.length !== got.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i])) {
      if (!Object.is(ref[i], got[i]) && !(Number.isNaN(ref[i]) && Number.isNaN(got[i]))) return Infinity;
      continue;
    }
    const d = Math.abs(ref[i] - got[i]);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

async function download(tensors: tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  try {
    const out = [];
    for (const t of tensors) out.push({ shape: t.shape, data: Float32Array.from(await t.data()) });
    return out;
  } finally {
    tf.dispose(tensors);
  }
}

/** Runs `fn` with the forward-conv filter gradient registered for `backendName`, then restores. */
export async function withFastFilterGradient<T>(backendName: string, fn: () => Promise<T>): Promise<T> {
  const saved = tf.getKernel('Conv2DBackpropFilter', backendName);
  if (saved) tf.unregisterKernel('Conv2DBackpropFilter', backendName);
  tf.registerKernel(makeConv2DBackpropFilter(backendName));
  try {
    return await fn();
  } finally {
    tf.unregisterKernel('Conv2DBackpropFilter', backendName);
    if (saved) tf.registerKernel(saved);
  }
}

const referenceCache = new Map<string, Promise<{ shape: number[]; data: Float32Array }[]>>();

/**
 * Runs `c` on `reference` (cached per case) and on `backend`, and compares. The engine is left
 * current afterwards. Throws nothing: a failing engine is a failed result with `failure` set.
 */
export async function runCase(
  c: ConformanceCase,
  backend: string,
  options: { reference?: string; switchBackend?: BackendSwitch } = {},
): Promise<CaseResult> {
  const reference = options.reference ?? 'cpu';
  const switchTo = options.switchBackend ?? defaultSwitch;
  const key = `${reference}\u0000${c.name}`;
  let ref = referenceCache.get(key);
  if (!ref) {
    ref = (async () => {
      await switchTo(reference);
      const run = async () => download(await (c.runReference ? c.runReference() : c.run()));
      if (!c.fastReferenceFilterGradient) return run();
      return withFastFilterGradient(reference, run);
    })();
    referenceCache.set(key, ref);
    ref.catch(() => referenceCache.delete(key));
  }
  const expected = await ref;
  const base = { name: c.name, backend, reference, tolerance: c.tolerance };
  await switchTo(backend);
  const t0 = Date.now();
  let got: { shape: number[]; data: Float32Array }[];
  try {
    got = await download(await c.run());
  } catch (e) {
    return { ...base, error: Infinity, worstOutput: -1, pass: false, seconds: (Date.now() - t0) / 1000, failure: (e as Error).message };
  }
  const seconds = (Date.now() - t0) / 1000;
  if (got.length !== expected.length) {
    return {
      ...base,
      error: Infinity,
      worstOutput: -1,
      pass: false,
      seconds,
      failure: `${got.length} outputs, the reference has ${expected.length}`,
    };
  }
  let error = 0;
  let worstOutput = 0;
  for (let i = 0; i < got.length; i++) {
    const shapeOk = got[i].shape.join(',') === expected[i].shape.join(',');
    const e = shapeOk ? relativeError(expected[i].data, got[i].data) : Infinity;
    if (!(e <= error)) {
      error = e;
      worstOutput = i;
    }
  }
  return { ...base, error, worstOutput, worstLabel: c.outputLabels?.[worstOutput], pass: error <= c.tolerance, seconds };
}

/** Runs every case on `backend`; one result per case. */
export async function runConformance(
  backend: string,
  cases: ConformanceCase[],
  options: { reference?: string; switchBackend?: BackendSwitch } = {},
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(c, backend, options));
  return results;
}

/** One line per result, for logs. */
export function formatResults(results: CaseResult[]): string {
  return results
    .map(
      (r) =>
        `${r.pass ? 'ok  ' : 'FAIL'} ${r.backend.padEnd(8)} ${r.error.toExponential(2)} <= ${r.tolerance.toExponential(0)}  ${r.seconds.toFixed(2)}s  ${r.name}` +
        (r.failure ? `  (${r.failure})` : r.pass ? '' : `  (worst: output #${r.worstOutput}${r.worstLabel ? ` ${r.worstLabel}` : ''})`),
    )
    .join('\n');
}
