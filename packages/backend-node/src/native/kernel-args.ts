/** What every native kernel shares: its arguments, the float32 view of a tensor, and recycled output buffers. */
import type {
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon.js';
import { pool as bufferPool } from './pool.js';


// Inputs typed as present; optional ones (bias, offset, ...) are checked before use.
export type Args = { inputs: Record<string, TensorInfo>; backend: MathBackendCPU; attrs?: NamedAttrMap };
/** A native kernel: returns null when the case is not handled (the cpu kernel then runs). */
export type NativeImpl = (args: Args, addon: NativeAddon) => TensorInfo | null;

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** The Float32Array storing a tensor, or null when it is not a plain float32 tensor. */
export function f32(backend: MathBackendCPU, t: TensorInfo | undefined | null): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** A Float32Array for a kernel output that the kernel fully overwrites (recycled: see pool.ts). */
export function alloc(n: number): Float32Array {
  return bufferPool.alloc(n);
}

export function out(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}
