/**
 * NaN and Inf through tfjs's wasm kernels, exactly as on the cpu reference.
 *
 * XNNPACK (under tfjs-backend-wasm) clamps every convolution, matrix product and pooling output to
 * [output_min, output_max] with min/max instructions that drop a NaN operand: a linear conv turns
 * NaN into -Inf, a fused ReLU (clamp to [0, +Inf]) turns it into 0, and max pooling may skip it.
 * A network with a NaN weight or input then gives finite, plausible logits.
 *
 * The wrapped kernels keep XNNPACK's speed for the normal case and hand the rare case to the cpu
 * kernel of the same name:
 * - sums (Conv2D, FusedConv2D, BatchMatMul, _FusedMatMul, AvgPool): run with a linear activation,
 *   then scan the output. A clamped NaN is ±Inf, so an all-finite output means no NaN or Inf was
 *   involved and the result is exact; the ReLU (if asked for) is then applied in the same scan. Any
 *   non-finite output value: the cpu kernel recomputes the whole output from the inputs.
 * - MaxPool: a skipped NaN leaves no trace in the output, so the input is scanned instead.
 * - Relu: XNNPACK's is an integer max on the float bits, which keeps a NaN with the sign bit clear
 *   and zeroes one with it set (the NaN that x86 and wasm arithmetic produce, e.g. sqrt(-1)). The
 *   input is scanned and every NaN copied to the output.
 *
 * The scans are JavaScript, one thread, while XNNPACK runs on all of them: in a browser they were a
 * tenth of a ResNet's forward. So each scan that finds a tensor finite also records a bound on its
 * values (max |x|), and bounds travel through the kernels: a conv of a bounded input with a finite
 * filter is bounded by max|x| * (largest per-output-channel L1 norm of the filter) + max|bias|, a ReLU
 * or pooling by its input's bound, an Add by the sum of its inputs'. A kernel whose output bound is
 * known and far below the float32 maximum cannot meet NaN or Inf (every partial sum is bounded too),
 * so it runs as XNNPACK does, ReLU fused, without a scan; only where a bound is missing (the network's
 * input, a filter with NaN or Inf, a possible overflow) does a scan run as above.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** The kernels {@link makeNonFiniteFaithful} wraps on the wasm backend (Add only carries bounds). */
export const NON_FINITE_WRAPPED_KERNELS = [
  'Conv2D',
  'FusedConv2D',
  'BatchMatMul',
  '_FusedMatMul',
  'AvgPool',
  'MaxPool',
  'Relu',
  'Add',
] as const;

/** Largest bound a kernel may run unscanned with: far below float32's 3.4e38, so rounding cannot overflow. */
const SAFE_BOUND = 1e37;
/** Bounds on max |x| of tensors known to hold only finite values, by data id. */
const bounds = new WeakMap<object, number>();
/** Largest per-output-channel L1 norm of a filter (HWIO), or Infinity when it holds NaN or Inf, by data id. */
const filterNorms = new WeakMap<object, number>();
/** How many scans the wrapped kernels ran (for tests: the bounds must make them rare). */
export const nonFiniteScans = { count: 0 };

const boundOf = (t: TensorInfo | undefined): number | undefined => (t ? bounds.get(t.dataId as object) : undefined);
function setBound(t: TensorInfo, bound: number): void {
  if (bound >= 0 && bound < SAFE_BOUND) bounds.set(t.dataId as object, bound);
}

type KernelArgs = { inputs: Record<string, TensorInfo | undefined>; backend: KernelBackend; attrs?: NamedAttrMap };

/** A backend whose float32 tensors can be viewed in place (tfjs-backend-wasm's heap). */
interface HeapBackend extends KernelBackend {
  typedArrayFromHeap?(t: TensorInfo): Float32Array;
}

/** The values of `t`, viewed in place in the wasm heap (scans and the in-place ReLU need a view, not a copy). */
function values(backend: HeapBackend, t: TensorInfo): Float32Array {
  if (!backend.typedArrayFromHeap)
    throw new Error('makeNonFiniteFaithful: the backend cannot view tensor memory in place (tfjs-backend-wasm can).');
  return backend.typedArrayFromHeap(t);
}

/**
 * The float32 values of `v` as their int32 bit patterns: integer tests of the exponent run about
 * 1 ns per value in V8, and without branches on the sign (a mispredicted branch per random sign
 * would cost 5 ns).
 */
function bits(v: Float32Array): Int32Array {
  return new Int32Array(v.buffer, v.byteOffset, v.length);
}

const EXPONENT = 0x7f800000;

const asFloat = (b: number): number => new Float32Array(new Int32Array([b]).buffer)[0];

/** max |v| when every value is finite, else -1. */
function maxAbsIfFinite(v: Float32Array): number {
  nonFiniteScans.count++;
  const u = bits(v);
  let bad = 0;
  let max = 0;
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    bad |= ((x & EXPONENT) + 0x00800000) & 0x80000000; // bit 31 set exactly when the exponent is all ones
    max = Math.max(max, x & 0x7fffffff); // for finite floats the magnitude's bits order like the magnitude
  }
  return bad === 0 ? asFloat(max) : -1;
}

/** max |v| over a 1-D or HWIO filter's output channels (the last axis): the largest L1 norm; Infinity if not finite. */
function filterNorm(backend: HeapBackend, t: TensorInfo): number {
  const key = t.dataId as object;
  const known = filterNorms.get(key);
  if (known !== undefined) return known;
  // A filter not yet on this backend moves to it on first access, which can grow the wasm heap and
  // detach the buffer tfjs-backend-wasm's typedArrayFromHeap read just before: the second try views
  // the new heap.
  let v: Float32Array;
  try {
    v = values(backend, t);
  } catch {
    v = values(backend, t);
  }
  const co = t.shape[t.shape.length - 1];
  const sums = new Float64Array(co);
  for (let i = 0; i < v.length; i++) sums[i % co] += Math.abs(v[i]);
  let norm = 0;
  for (const x of sums) norm = Math.max(norm, x);
  norm = Number.isFinite(norm) ? norm : Infinity; // NaN or Inf in the filter: no bound
  filterNorms.set(key, norm);
  return norm;
}

/** A bound on a conv's output from its input's (undefined when there is none). */
function convBound(backend: HeapBackend, inputs: KernelArgs['inputs']): number | undefined {
  const { x, filter, bias } = inputs;
  const bx = boundOf(x);
  if (bx === undefined || !filter) return undefined;
  const b = bx * filterNorm(backend, filter) + (bias ? filterNorm(backend, bias) : 0);
  return b < SAFE_BOUND ? b : undefined;
}

/** Writes every NaN of `from` to the same place in `to`. */
function copyNaNs(from: Float32Array, to: Float32Array): void {
  const u = bits(from);
  for (let i = 0; i < u.length; i++) if ((u[i] & 0x7fffffff) > EXPONENT) to[i] = from[i];
}

/**
 * Applies ReLU in place (negatives and -0 become +0, as tfjs's relu gives) and returns the max of the
 * result when every value was finite, else -1 (`v` is then garbage and the caller recomputes it).
 */
function reluIfFinite(v: Float32Array): number {
  nonFiniteScans.count++;
  const u = bits(v);
  let bad = 0;
  let max = 0;
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    bad |= ((x & EXPONENT) + 0x00800000) & 0x80000000; // bit 31 set exactly when the exponent is all ones
    const y = x & ~(x >> 31); // sign bit set -> 0
    u[i] = y;
    max = Math.max(max, y);
  }
  return bad === 0 ? asFloat(max) : -1;
}

/**
 * Runs kernel `name` of the cpu backend on copies of `inputs` and writes its result into `out`
 * (a tensor of `backend` with the same shape). Frees every cpu tensor it made.
 */
function recomputeOnCpu(name: string, args: KernelArgs, out: TensorInfo): void {
  const cpu = tf.findBackend('cpu');
  const kernel = tf.getKernel(name, 'cpu');
  if (!cpu || !kernel) {
    throw new Error(
      `${name}: the result holds NaN or Inf, and computing it exactly needs the tfjs cpu backend (import '@tensorflow/tfjs-backend-cpu').`,
    );
  }
  const made: TensorInfo[] = [];
  try {
    const inputs: Record<string, TensorInfo> = {};
    for (const [key, t] of Object.entries(args.inputs)) {
      if (!t) continue;
      const copy = { dataId: cpu.write(args.backend.readSync(t.dataId), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
      made.push(copy);
      inputs[key] = copy;
    }
    const result = kernel.kernelFunc({ inputs, backend: cpu, attrs: args.attrs ?? {} }) as TensorInfo;
    made.push(result);
    values(args.backend as HeapBackend, out).set(cpu.readSync(result.dataId) as Float32Array);
  } finally {
    for (const t of made) cpu.disposeData(t.dataId);
  }
}

/**
 * `original` (a wasm kernel named in {@link NON_FINITE_WRAPPED_KERNELS}) made to give the cpu
 * backend's result whenever NaN or Inf is involved; see the module comment. For backends whose
 * tensor memory can be viewed in place (`typedArrayFromHeap`, as tfjs-backend-wasm's).
 */
export function makeNonFiniteFaithful(original: KernelConfig): KernelConfig {
  const name = original.kernelName;
  const run = original.kernelFunc;
  const kernelFunc: KernelFunc = (a) => {
    const args = a as unknown as KernelArgs;
    const backend = args.backend as HeapBackend;
    const floats = Object.values(args.inputs).every((t) => !t || t.dtype === 'float32');
    if (!floats) return run(a);
    if (name === 'Add') {
      const out = run(a) as TensorInfo;
      const [ba, bb] = [boundOf(args.inputs.a), boundOf(args.inputs.b)];
      if (ba !== undefined && bb !== undefined) setBound(out, ba + bb);
      return out;
    }
    if (name === 'Relu' || name === 'MaxPool' || name === 'AvgPool') {
      const x = args.inputs.x as TensorInfo;
      const bx = boundOf(x);
      const out = run(a) as TensorInfo;
      if (bx !== undefined) {
        setBound(out, bx); // finite input: XNNPACK's result is exact
      } else if (name === 'Relu') {
        copyNaNs(values(backend, x), values(backend, out));
      } else {
        // MaxPool may have skipped a NaN of its input; AvgPool's clamp shows in its output.
        const max = maxAbsIfFinite(values(backend, name === 'MaxPool' ? x : out));
        if (max < 0) recomputeOnCpu(name, args, out);
        else setBound(out, max);
      }
      return out;
    }
    const activation = args.attrs?.activation;
    if (activation !== undefined && activation !== 'linear' && activation !== 'relu') {
      // Activations a ResNet does not use: the output scan below still catches a clamped NaN.
      const out = run(a) as TensorInfo;
      if (maxAbsIfFinite(values(backend, out)) < 0) recomputeOnCpu(name, args, out);
      return out;
    }
    const isConv = name === 'Conv2D' || name === 'FusedConv2D';
    const bound = isConv ? convBound(backend, args.inputs) : undefined;
    if (bound !== undefined) {
      const out = run(a) as TensorInfo; // no NaN or Inf can arise: XNNPACK's fused ReLU is exact
      setBound(out, bound);
      return out;
    }
    const linear = activation === 'relu' ? { ...a, attrs: { ...args.attrs, activation: 'linear' } } : a;
    const out = run(linear as typeof a) as TensorInfo;
    const v = values(backend, out);
    const max = activation === 'relu' ? reluIfFinite(v) : maxAbsIfFinite(v);
    if (max < 0) recomputeOnCpu(name, args, out);
    else setBound(out, max);
    return out;
  };
  return { ...original, kernelFunc };
}

/**
 * Sets each output of a max pooling (NHWC `y` of `x`, window geometry `info`) whose window holds a
 * NaN to that NaN: core's max pooling rule (kernels/max-pool.ts) on top of a kernel that drops NaN.
 */
function propagatePoolNaN(x: Float32Array, y: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isNaN(x[i])) continue;
    const ch = i % c;
    const ix = Math.floor(i / c) % w;
    const iy = Math.floor(i / (c * w)) % h;
    const b = Math.floor(i / (c * w * h));
    // Outputs whose window [o*s - pad, o*s - pad + k) holds the pixel.
    for (let oy = Math.max(0, Math.ceil((iy + top - kh + 1) / sh)); oy <= Math.min(oh - 1, Math.floor((iy + top) / sh)); oy++) {
      for (let ox = Math.max(0, Math.ceil((ix + left - kw + 1) / sw)); ox <= Math.min(ow - 1, Math.floor((ix + left) / sw)); ox++) {
        y[((b * oh + oy) * ow + ox) * c + ch] = x[i];
      }
    }
  }
}

/**
 * Core's NaN-keeping max pooling (`ResnetMaxPool`, kernels/max-pool.ts) on a heap backend, from its
 * faithful `MaxPool` (see {@link makeNonFiniteFaithful}): when that found the input finite (its output
 * then has a bound) nothing is left to do; otherwise it gave the cpu kernel's result, and each window
 * holding a NaN is set to it.
 */
export function makeNanMaxPool(faithfulMaxPool: KernelConfig, kernelName: string): KernelConfig {
  const kernelFunc: KernelFunc = (a) => {
    const args = a as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const out = faithfulMaxPool.kernelFunc(a) as TensorInfo;
    if (boundOf(out) !== undefined || x.dtype !== 'float32') return out;
    const attrs = args.attrs as unknown as {
      filterSize: number;
      strides: number;
      pad: number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const backend = args.backend as HeapBackend;
    propagatePoolNaN(values(backend, x), values(backend, out), info);
    return out;
  };
  return { kernelName, backendName: faithfulMaxPool.backendName, kernelFunc };
}
