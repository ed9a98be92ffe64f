/**
 * The onnxruntime-node peer of `resnet bench`: the same network (same seed, exported by
 * @resnet-ts/onnx with batch norm folded) run by onnxruntime in this process, so that a forward row
 * reads "ours vs the runtime a Node user would otherwise pick". onnxruntime-node is an optional peer
 * dependency: when it is not installed the bench says so and goes on.
 */
import { bench } from '@resnet-ts/backend-node';
import { exportOnnx } from '@resnet-ts/onnx';
import { createModel } from '@resnet-ts/zoo';

/** The subset of onnxruntime-node's API the bench uses. */
interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  env?: { versions?: { common?: string } };
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
  release?(): Promise<void>;
}

/** One forward work timed by onnxruntime. */
export interface OnnxruntimeResult {
  kind: bench.WorkKind;
  batch: number;
  /** Median ms of the timed runs. */
  ms: number;
}

/** onnxruntime-node, or why it cannot be loaded (not installed, or its native part fails to load). */
export function loadOnnxruntime(): { ort?: OrtModule; reason?: string } {
  try {
    return { ort: require('onnxruntime-node') as OrtModule };
  } catch (e) {
    const code = (e as { code?: string }).code;
    return { reason: code === 'MODULE_NOT_FOUND' ? 'onnxruntime-node is not installed (npm install onnxruntime-node)' : `onnxruntime-node does not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The input a work feeds: NCHW, 3 channels, 32x32 for resnet20 and 224x224 for resnet50. */
function inputDims(w: bench.BenchWork): number[] {
  const size = w.kind === 'resnet50-forward' ? 224 : 32;
  return [w.batch, 3, size, size];
}

/**
 * Times every forward work in `works` (training rows have no onnxruntime counterpart) with
 * `threads` intra-op threads: one warm-up run, then `repeats` timed runs; the median is reported.
 * Throws when onnxruntime fails on a model (a failing peer is an error, not a footnote).
 */
export async function runOnnxruntimePeer(ort: OrtModule, works: bench.BenchWork[], repeats: number, threads = 2): Promise<OnnxruntimeResult[]> {
  const results: OnnxruntimeResult[] = [];
  for (const w of works) {
    if (w.kind === 'resnet20-train') continue;
    const model = createModel(w.kind === 'resnet50-forward' ? 'resnet50' : 'resnet20', { seed: 1 });
    let bytes: Uint8Array;
    try {
      bytes = exportOnnx(model.eval());
    } finally {
      model.dispose();
    }
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const dims = inputDims(w);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
    const feeds = { input: new ort.Tensor('float32', data, dims) };
    const times: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      if (r > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    await session.release?.();
    results.push({ kind: w.kind, batch: w.batch, ms: bench.median(times) });
  }
  return results;
}
