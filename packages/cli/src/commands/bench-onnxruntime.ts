/**
 * The onnxruntime-node peer of `resnet bench`: the same network (same seed, exported by
 * @resnet-ts/onnx with batch norm folded) run by onnxruntime in this process, in rounds interleaved
 * with ours, so that a forward row reads "ours vs the runtime a Node user would otherwise pick". onnxruntime-node is an optional peer
 * dependency: when it is not installed the bench says so and goes on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bench } from '@resnet-ts/backend-node';
import { saveCheckpoint } from '@resnet-ts/core/node';
import { exportOnnx } from '@resnet-ts/onnx';
import { createModel } from '@resnet-ts/zoo';

/** The subset of onnxruntime-node's API the bench uses. */
export interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  env?: { versions?: { common?: string } };
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
  release?(): Promise<void>;
}

/** onnxruntime-node, or why it cannot be loaded (not installed, or its native part fails to load). */
export function loadOnnxruntime(): { ort?: OrtModule; reason?: string } {
  try {
    return { ort: require('onnxruntime-node') as OrtModule };
  } catch (e) {
    const code = (e as { code?: string }).code;
    return {
      reason:
        code === 'MODULE_NOT_FOUND'
          ? 'onnxruntime-node is not installed (npm install onnxruntime-node)'
          : `onnxruntime-node does not load: ${(e as Error).message.split('\n')[0]}`,
    };
  }
}

/** The input a work feeds: NCHW, 3 channels, 32x32 for resnet20 and 224x224 for resnet18 and resnet50. */
function inputDims(w: bench.BenchWork): number[] {
  const size = bench.workModel(w) === 'resnet20' ? 32 : 224;
  return [w.batch, 3, size, size];
}

/** The ONNX bytes of zoo network `name` with seed 1 (the network our rows time), batch norm folded. */
export function benchOnnx(name: string): Uint8Array {
  const model = createModel(name, { seed: 1 });
  try {
    return exportOnnx(model.eval());
  } finally {
    model.dispose();
  }
}

/**
 * The seeded ResNet-50 our rows time, written to `dir` as the files each runtime's user loads: a
 * resnet-ts checkpoint (`resnet forward --weights`) and, with `onnx`, its ONNX export (batch norm
 * folded) for onnxruntime-node. For the fresh-process parts of the bench (`--memory`, `--cold-start`).
 */
export async function writeResnet50Files(dir: string, onnx: boolean): Promise<{ checkpoint: string; onnxFile: string }> {
  const files = { checkpoint: path.join(dir, 'resnet50.safetensors'), onnxFile: path.join(dir, 'resnet50.onnx') };
  const model = createModel('resnet50', { seed: 1 });
  try {
    await saveCheckpoint(files.checkpoint, model);
    if (onnx) fs.writeFileSync(files.onnxFile, exportOnnx(model.eval()));
  } finally {
    model.dispose();
  }
  return files;
}

/**
 * `w` (a forward work) in onnxruntime-node with `threads` intra-op threads, ready to run again and
 * again next to ours ({@link bench.timeInterleaved}): the same zoo network and seed as our row,
 * exported by @resnet-ts/onnx, fed the same kind of input. Throws when onnxruntime refuses the model
 * (a failing peer is an error, not a footnote).
 */
export async function prepareOnnxruntime(ort: OrtModule, w: bench.BenchWork, threads = 2): Promise<bench.PreparedWork> {
  const session = await ort.InferenceSession.create(benchOnnx(bench.workModel(w)), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const dims = inputDims(w);
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
  const feeds = { input: new ort.Tensor('float32', data, dims) };
  return {
    run: async () => {
      await session.run(feeds);
    },
    dispose: () => void session.release?.(),
  };
}
