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
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** The kernels {@link makeNonFiniteFaithful} wraps on the wasm backend. */
export const NON_FINITE_WRAPPED_KERNELS = ['Conv2D', 'FusedConv2D', 'BatchMatMul', '_FusedMatMul', 'AvgPool', 'MaxPool', 'Relu'] as const;

type KernelArgs = { inputs: Record<string, TensorInfo | undefined>; backend: KernelBackend; attrs?: NamedAttrMap };

/** A backend whose float32 tensors can be viewed in place (tfjs-backend-wasm's heap). */
interface HeapBackend extends KernelBackend {
  typedArrayFromHeap?(t: TensorInfo): Float32Array;
}

/** The values of `t`, viewed in place in the wasm heap (scans and the in-place ReLU need a view, not a copy). */
function values(backend: HeapBackend, t: TensorInfo): Float32Array {
  if (!backend.typedArrayFromHeap) throw new Error('makeNonFiniteFaithful: the backend cannot view tensor memory in place (tfjs-backend-wasm can).');
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

/** Whether any value is NaN or ±Inf (exponent bits all set). */
function hasNonFinite(v: Float32Array): boolean {
  const u = bits(v);
  for (let i = 0; i < u.length; i++) if ((u[i] & EXPONENT) === EXPONENT) return true;
  return false;
}

/** Writes every NaN of `from` to the same place in `to`. */
function copyNaNs(from: Float32Array, to: Float32Array): void {
  const u = bits(from);
  for (let i = 0; i < u.length; i++) if ((u[i] & 0x7fffffff) > EXPONENT) to[i] = from[i];
}

/**
 * Applies ReLU in place (negatives and -0 become +0, as tfjs's relu gives) and says whether every
 * value was finite; when one was not, `v` is garbage and the caller recomputes it.
 */
function reluIfFinite(v: Float32Array): boolean {
  const u = bits(v);
  let bad = 0;
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    bad |= ((x & EXPONENT) + 0x00800000) & 0x80000000; // bit 31 set exactly when the exponent is all ones
    u[i] = x & ~(x >> 31); // sign bit set -> 0
  }
  return bad === 0;
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
    if (name === 'Relu') {
      const out = run(a) as TensorInfo;
      copyNaNs(values(backend, args.inputs.x as TensorInfo), values(backend, out));
      return out;
    }
    if (name === 'MaxPool') {
      const out = run(a) as TensorInfo;
      if (hasNonFinite(values(backend, args.inputs.x as TensorInfo))) recomputeOnCpu(name, args, out);
      return out;
    }
    const activation = args.attrs?.activation;
    if (activation !== undefined && activation !== 'linear' && activation !== 'relu') {
      // Activations a ResNet does not use: the output scan below still catches a clamped NaN.
      const out = run(a) as TensorInfo;
      if (hasNonFinite(values(backend, out))) recomputeOnCpu(name, args, out);
      return out;
    }
    const linear = activation === 'relu' ? { ...a, attrs: { ...args.attrs, activation: 'linear' } } : a;
    const out = run(linear as typeof a) as TensorInfo;
    const v = values(backend, out);
    const finite = activation === 'relu' ? reluIfFinite(v) : !hasNonFinite(v);
    if (!finite) recomputeOnCpu(name, args, out);
    return out;
  };
  return { ...original, kernelFunc };
}
