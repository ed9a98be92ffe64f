/**
 * The two sides of the benchmark page on one network: resnet-ts (a seeded zoo model on the current
 * tfjs backend) and onnxruntime-web (the ONNX bytes @resnet-ts/onnx's `exportOnnx` makes from that same
 * model, batch norm folded), fed the same input. Each side is a `Runner` whose `run()` does one forward
 * pass and reads the logits back into JavaScript, which is what is timed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-web';
import type { ResNet } from '@resnet-ts/core';
import { exportOnnx } from '@resnet-ts/onnx';
import { createModel } from '@resnet-ts/zoo';

/** The seed of every benchmarked model (as `resnet bench` in Node). */
export const SEED = 1;

/** One benchmarked network and batch. */
export interface BenchWork {
  model: 'resnet20' | 'resnet50';
  batch: number;
}

/** Parses `resnet20:64,resnet50:1`; throws a one-line error on anything else. */
export function parseWorks(text: string): BenchWork[] {
  if (text.trim() === '' || text === 'none') return [];
  return text.split(',').map((part) => {
    const m = /^(resnet20|resnet50):([1-9]\d{0,3})$/.exec(part.trim());
    if (!m) throw new Error(`'${part}' is not a work: write model:batch with model resnet20 or resnet50, e.g. resnet20:64,resnet50:1.`);
    return { model: m[1] as BenchWork['model'], batch: Number(m[2]) };
  });
}

/** `resnet20 batch 64`. */
export const workLabel = (w: BenchWork) => `${w.model} batch ${w.batch}`;

/** NCHW input shape of a work: 3x32x32 for the CIFAR ResNet-20, 3x224x224 for ResNet-50. */
export function inputDims(w: BenchWork): [number, number, number, number] {
  const size = w.model === 'resnet50' ? 224 : 32;
  return [w.batch, 3, size, size];
}

/** The same deterministic input for both sides (NCHW values; resnet-ts gets them transposed to NHWC). */
export function inputData(dims: number[]): Float32Array {
  return new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
}

/** One side of a comparison. */
export interface Runner {
  /** One forward pass, logits read back to JavaScript. */
  run(): Promise<Float32Array>;
  dispose(): Promise<void> | void;
}

/** The seeded zoo model in eval mode, on the current tfjs backend. */
export function seededModel(w: BenchWork): ResNet {
  const model = createModel(w.model, { seed: SEED });
  model.eval();
  return model;
}

/** resnet-ts on the current tfjs backend: the model and its NHWC input stay resident between runs. */
export function oursRunner(model: ResNet, w: BenchWork, nchw: Float32Array): Runner {
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, inputDims(w)), [0, 2, 3, 1]));
  return {
    run: async () => {
      const y = model.forward(x, { training: false });
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    },
    dispose: () => x.dispose(),
  };
}

/** The ONNX bytes of `model`, exported by @resnet-ts/onnx (batch norm folded), as `resnet bench --compare onnxruntime` does. */
export function onnxBytes(model: ResNet): Uint8Array {
  return exportOnnx(model);
}

/** onnxruntime-web on the ONNX bytes of a work's model, with the given execution provider. */
export async function ortRunner(ort: typeof Ort, bytes: Uint8Array, w: BenchWork, nchw: Float32Array, provider = 'wasm'): Promise<Runner> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: [provider], graphOptimizationLevel: 'all' });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', nchw, inputDims(w)) };
  return {
    run: async () => {
      const out = await session.run(feeds);
      const logits = out[session.outputNames[0]];
      const data = (await logits.getData()) as Float32Array;
      logits.dispose();
      return data;
    },
    dispose: () => session.release(),
  };
}

/** How close two sets of logits are: the same test as @resnet-ts/onnx's tests (1e-4 of the output scale). */
export interface Agreement {
  maxAbsDiff: number;
  /** max(1, largest |logit| of the reference). */
  scale: number;
  agree: boolean;
}

/** Compares `a` with the reference `ref` element by element (a NaN anywhere never agrees). */
export function agreement(a: Float32Array, ref: Float32Array): Agreement {
  let maxAbsDiff = a.length === ref.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, ref.length); i++) {
    const d = Math.abs(a[i] - ref[i]);
    if (Number.isNaN(d)) {
      maxAbsDiff = NaN;
      break;
    }
    if (d > maxAbsDiff) maxAbsDiff = d;
  }
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  return { maxAbsDiff, scale, agree: maxAbsDiff <= 1e-4 * scale };
}

/** Median of `xs` (mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds of one `run()`. */
export async function timeOnce(r: Runner): Promise<number> {
  const t0 = performance.now();
  await r.run();
  return performance.now() - t0;
}

/**
 * Interleaved rounds: each round times every runner once, the order alternating from round to
 * round, so that a slow spell of a shared machine falls on both sides. Returns each runner's times.
 */
export async function interleaved(runners: Runner[], rounds: number): Promise<number[][]> {
  const times = runners.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = runners.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) times[i].push(await timeOnce(runners[i]));
  }
  return times;
}
