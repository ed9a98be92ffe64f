/**
 * Child process of `resnet bench --memory`: peak resident memory of a ResNet-50 forward (eval,
 * 224x224x3) on one engine, in a fresh process so nothing else inflates the peak. The third argument is
 * the network's file: a resnet-ts checkpoint loaded as `resnet forward` loads one (without it, the
 * zoo's ResNet-50 with its own initialisation) or, with the engine `onnxruntime`, its .onnx run by
 * onnxruntime-node (session created from the file, as an onnxruntime user does).
 * Prints JSON {baselineKB, peakKB, reusedPeakKB}: peak RSS after loading the engine, after the first
 * forward, and after {@link FORWARDS} of them (a process that keeps running the model: our native plan
 * adds its Winograd filters at the second run).
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';

/**
 * This process's own peak RSS in KB (VmHWM). `process.resourceUsage().maxRSS` is not used: on Linux
 * it includes the parent's peak, inherited at fork.
 */
function peakRssKB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : process.resourceUsage().maxRSS;
}

/** Forwards run in all: the peak after the first and after the last are reported. */
const FORWARDS = 3;

/** Runs `forward` FORWARDS times; the peak RSS after the first and after the last, as the JSON's fields. */
async function peaks(forward: () => Promise<void>): Promise<{ peakKB: number; reusedPeakKB: number }> {
  await forward();
  const peakKB = peakRssKB();
  for (let i = 1; i < FORWARDS; i++) await forward();
  return { peakKB, reusedPeakKB: peakRssKB() };
}

/** The same forward in onnxruntime-node, from the .onnx file `file`. */
async function runOnnxruntime(batch: number, file: string): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const baselineKB = peakRssKB();
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const dims = [batch, 3, 224, 224];
  const input = new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224), dims);
  const peak = await peaks(async () => {
    await session.run({ input });
  });
  process.stdout.write(JSON.stringify({ engine: 'onnxruntime', baselineKB, ...peak }) + '\n');
}

async function run(): Promise<void> {
  const [engine = 'auto', batchText = '1', file] = process.argv.slice(2);
  if (engine === 'onnxruntime' && file) return runOnnxruntime(Number(batchText), file);
  const name = await useBackend(engine);
  const baselineKB = peakRssKB();
  // From a file as `resnet forward` loads one (fromPretrained), else the zoo's initialisation.
  const model = file ? (await fromPretrained(file)).model : createModel('resnet50').eval();
  const x = tf.zeros([Number(batchText), 224, 224, 3]);
  const peak = await peaks(async () => {
    const y = model.forward(x);
    await y.data();
    y.dispose();
  });
  process.stdout.write(JSON.stringify({ engine: name, baselineKB, ...peak }) + '\n');
}

run().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
