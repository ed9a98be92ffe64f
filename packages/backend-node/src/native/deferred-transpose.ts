/**
 * Core's deferred transpose (`ResnetDeferredTranspose`, core's kernels/deferred-transpose.ts) on the
 * native engine: the output tensor's storage entry keeps the source values and the permutation, and
 * runs the oneDNN reorder the first time anything reads `values` (a kernel, `dataSync`, a move to
 * another backend). Weights loaded from PyTorch's layout that only ever feed the compiled plan are
 * never reordered: the plan reads their source ({@link deferredSource}) in PyTorch's layout.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataId, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { DEFERRED_TRANSPOSE, rereaderOf, type Rereader } from '@resnet-ts/core';
import type { NativeAddon } from './addon.js';
import { f32, type Args } from './kernel-args.js';
import { pool } from './pool.js';
import { countNative, nativeDisabled } from './kernels.js';

/** A tensor's values, transposed from `source` when first read. */
export class DeferredTransposeValues {
  readonly dtype = 'float32' as const;
  refCount = 1;
  private result: Float32Array | null = null;
  private pendingSource: Float32Array | null;
  /** Set while the source has been let go ({@link releaseSource}): reads it back from its file. */
  private reread: Rereader | null = null;

  constructor(
    private readonly addon: NativeAddon,
    source: Float32Array,
    /** The source's shape; the tensor's is `perm` applied to it. */
    readonly sourceShape: readonly number[],
    readonly perm: readonly number[],
  ) {
    this.pendingSource = source;
  }

  /**
   * The source values while the transpose has not run (null afterwards: the source is let go);
   * read back from its file if it was released.
   */
  get source(): Float32Array | null {
    if (!this.result && !this.pendingSource && this.reread) {
      const again = this.reread();
      if (again.length !== this.sourceShape.reduce((a, b) => a * b, 1))
        throw new Error(`${DEFERRED_TRANSPOSE}: a re-read source has ${again.length} values`);
      this.pendingSource = again;
    }
    return this.pendingSource;
  }

  /**
   * Lets the source go if it can be read again from its file (core's `rereaderOf`) and the
   * transpose has not run; returns the bytes let go (0 if kept). A later read reads it back.
   */
  releaseSource(): number {
    if (this.result || !this.pendingSource) return 0;
    const reread = this.reread ?? rereaderOf(this.pendingSource);
    if (!reread) return 0;
    const bytes = this.pendingSource.byteLength;
    this.reread = reread;
    this.pendingSource = null;
    return bytes;
  }

  /** True while the source has been let go and would be read back from its file. */
  get released(): boolean {
    return !this.result && !this.pendingSource && this.reread !== null;
  }

  get values(): Float32Array {
    if (!this.result) {
      const source = this.source!;
      const y = new Float32Array(source.length);
      this.addon.transpose(source, [...this.sourceShape], [...this.perm], y);
      this.result = y;
      this.pendingSource = null;
      this.reread = null;
    }
    return this.result;
  }

  set values(v: Float32Array) {
    this.result = v;
    this.pendingSource = null;
    this.reread = null;
  }
}

/** Below this many bytes let go, a forced garbage collection costs more than the memory is worth. */
const COLLECT_MIN_BYTES = 16 * 1024 * 1024;

/**
 * After the compiled plan has copied a model's weights: lets go of every deferred source that can
 * be read again from its weights file, and has V8 collect them at once when they add up to enough
 * to matter, so that a model loaded from a file holds its weights once (in the plan) rather than
 * twice. Anything that later reads such a weight (training, another input shape's plan, `dataSync`)
 * reads it back from the file, or gets a one-line error if the file has changed since. Returns
 * the bytes let go.
 */
export function releaseFileBackedSources(addon: NativeAddon, weights: readonly tf.Tensor[]): number {
  let bytes = 0;
  for (const t of weights) bytes += deferredEntry(t)?.releaseSource() ?? 0;
  if (bytes >= COLLECT_MIN_BYTES) addon.collectGarbage();
  return bytes;
}

/** The storage entry of `t` on the current (native) backend if it is a deferred transpose, else null. */
function deferredEntry(t: tf.Tensor): DeferredTransposeValues | null {
  const backend = tf.backend() as MathBackendCPU;
  const entry = backend.data?.has(t.dataId) ? (backend.data.get(t.dataId) as unknown) : null;
  return entry instanceof DeferredTransposeValues ? entry : null;
}

/**
 * The source of a tensor whose transpose has not run yet on the current (native) backend, else null.
 * `values` is in the layout `shape`, and the tensor is `perm` applied to it.
 */
export function deferredSource(t: tf.Tensor): { values: Float32Array; shape: readonly number[]; perm: readonly number[] } | null {
  const entry = deferredEntry(t);
  if (!entry?.source) return null;
  return { values: entry.source, shape: entry.sourceShape, perm: entry.perm };
}

/** The kernel config (none when `RESNET_TS_NATIVE_DISABLE` names it: core then transposes at once). */
export function deferredTransposeKernelConfigs(backendName: string, addon: NativeAddon): KernelConfig[] {
  if (nativeDisabled.has(DEFERRED_TRANSPOSE)) return [];
  const kernelFunc = (args: unknown): TensorInfo => {
    const { inputs, backend, attrs } = args as Args;
    const { x } = inputs;
    const perm = (attrs as unknown as { perm: number[] }).perm;
    const source = f32(backend, x);
    // core calls this for float32 tensors only; anything else here is a bug.
    if (!source) throw new Error(`${DEFERRED_TRANSPOSE}: a float32 input expected`);
    countNative(DEFERRED_TRANSPOSE);
    // Kept for a later read: the buffer pool must never hand the source's memory to another kernel.
    pool.onRead(source);
    // A data id as the cpu backend makes one (its write(): an empty array stored, then replaced).
    const dataId: DataId = backend.write(new Float32Array(0), [0], 'float32');
    backend.data.set(dataId, new DeferredTransposeValues(addon, source, x.shape, perm) as never);
    return { dataId, shape: perm.map((p) => x.shape[p]), dtype: 'float32' };
  };
  return [{ kernelName: DEFERRED_TRANSPOSE, backendName, kernelFunc: kernelFunc as KernelConfig['kernelFunc'] }];
}
