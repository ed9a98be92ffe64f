/**
 * Child process of `resnet bench --memory`: peak resident memory of one ResNet-50 forward (eval,
 * 224x224x3) on one engine, in a fresh process so nothing else inflates the peak. With the engine
 * `onnxruntime` and a third argument, the .onnx file of the same network is run by onnxruntime-node
 * instead (session created from the file, as an onnxruntime user does).
 * Prints JSON {baselineKB, peakKB}: peak RSS after loading the engine, and after the forward.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';

/**
 * This process's own peak RSS in KB (VmHWM). `process.resourceUsage().maxRSS` is not used: on Linux
 * it includes the parent's peak, inherited at fork.
 */
function peakRssKB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : process.resourceUsage().maxRSS;
}

/** The same forward in onnxruntime-node, from the .onnx file `file`. */
async function runOnnxruntime(batch: number, file: string): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const baselineKB = peakRssKB();
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const dims = [batch, 3, 224, 224];
  await session.run({ input: new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224), dims) });
  process.stdout.write(JSON.stringify({ engine: 'onnxruntime', baselineKB, peakKB: peakRssKB() }) + '\n');
}

async function run(): Promise<void> {
  const [engine = 'auto', batchText = '1', onnxFile] = process.argv.slice(2);
  if (engine === 'onnxruntime' && onnxFile) return runOnnxruntime(Number(batchText), onnxFile);
  const name = await useBackend(engine);
  const baselineKB = peakRssKB();
  const model = createModel('resnet50').eval();
  const y = model.forward(tf.zeros([Number(batchText), 224, 224, 3]));
  await y.data();
  process.stdout.write(JSON.stringify({ engine: name, baselineKB, peakKB: peakRssKB() }) + '\n');
}

run().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
