/**
 * Test helpers shared by the ONNX tests: run an exported model in onnxruntime-node (in a child
 * process, see ort-run.js) and compare logits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResNet, Rng } from '@resnet-ts/core';

let work = '';
let jobs = 0;

/** A scratch folder for the ONNX files and tensors of this test file (removed by {@link cleanOrtWork}). */
function workDir(): string {
  if (!work) work = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-onnx-run-'));
  return work;
}

/** Removes the scratch folder; call from afterAll. */
export function cleanOrtWork(): void {
  if (work) fs.rmSync(work, { recursive: true, force: true });
  work = '';
}

/** Runs the model in onnxruntime-node in a child process (jest's vm sandbox breaks onnxruntime's output check). */
export async function runOrt(bytes: Uint8Array, x: tf.Tensor, inputName = 'input', outputName = 'logits'): Promise<tf.Tensor> {
  const dir = workDir();
  const id = jobs++;
  const model = path.join(dir, `m${id}.onnx`);
  const input = path.join(dir, `x${id}.bin`);
  fs.writeFileSync(model, bytes);
  fs.writeFileSync(input, new Uint8Array(new Float32Array(x.dataSync() as Float32Array).buffer));
  const job = path.join(dir, `job${id}.json`);
  fs.writeFileSync(job, JSON.stringify({ inputName, outputName, dims: x.shape, input }));
  const r = spawnSync(process.execPath, [path.join(__dirname, 'ort-run.js'), model, job], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`onnxruntime failed: ${r.stderr}`);
  const { dims, output } = JSON.parse(r.stdout) as { dims: number[]; output: string };
  const raw = fs.readFileSync(output);
  return tf.tensor(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), dims);
}

/** resnet-ts's eval-mode logits for an NCHW batch. */
export function ours(model: ResNet, nchw: tf.Tensor): tf.Tensor {
  return tf.tidy(() => model.forward(tf.transpose(nchw, [0, 2, 3, 1]), { training: false }));
}

/** Expects `a` to match `ref` within 1e-4 of the output scale; logs and returns the max abs diff. */
export function check(name: string, a: tf.Tensor, ref: tf.Tensor): number {
  const { maxAbs, scale } = tf.tidy(() => ({
    maxAbs: tf.max(tf.abs(tf.sub(a, ref))).dataSync()[0],
    scale: Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]),
  }));
  console.log(`onnx ${name}: max abs diff ${maxAbs.toExponential(2)} (scale ${scale.toFixed(2)})`);
  expect(a.shape).toEqual(ref.shape);
  expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
  return maxAbs;
}

/** Random but fixed batch-norm statistics and affine parameters, so folding is really tested. */
export function randomizeBatchNorm(model: ResNet, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, v] of model.namedBuffers()) {
    if (name.endsWith('running_mean')) v.assign(tf.tensor(rng.normalArray(v.size, 0.1), v.shape));
    if (name.endsWith('running_var')) v.assign(tf.tensor(rng.uniformArray(v.size, 0.5, 1.5), v.shape));
  }
  for (const [name, v] of model.namedParameters()) {
    if (/bn\d?\.weight$|downsample\.\d\.weight$/.test(name) && v.rank === 1) v.assign(tf.tensor(rng.uniformArray(v.size, 0.5, 1.5), v.shape));
    if (/bn\d?\.bias$|downsample\.\d\.bias$/.test(name) && v.rank === 1) v.assign(tf.tensor(rng.normalArray(v.size, 0.1), v.shape));
  }
}

/** A seeded normal input of `shape`. */
export function randomInput(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1), 1), shape);
}
