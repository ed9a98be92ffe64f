/**
 * A model that images cannot feed (4 input channels: RGB-D, multispectral) works where tensors go
 * in: `forward` on .npy, `export-onnx` and `summary` (through the built CLI; `npx tsc -b packages/cli`
 * first). They were refused with "Images can feed 1- or 3-channel models ... pass tensors instead",
 * which `forward` already takes. `predict`, which decodes images, still refuses it in one line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadNpy, saveCheckpoint, saveNpy } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { refusal, runCli } from './cli-run.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-tensor-only-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a 4-channel model: forward gives its logits, export-onnx and summary work, predict refuses images in one line', async () => {
  const model = createModel('resnet20', { inChannels: 4, numClasses: 5 });
  await saveCheckpoint(path.join(dir, 'rgbd.safetensors'), model);
  const x = tf.randomUniform([2, 4, 16, 16], -1, 1, 'float32', 7);
  await saveNpy(path.join(dir, 'x.npy'), x);
  const expected = tf.tidy(() => model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false }).arraySync() as number[][]);
  const r = await runCli(['forward', '--weights', 'rgbd.safetensors', '--input', 'x.npy', '--out', 'y.npy'], dir);
  expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
  const y = loadNpy(path.join(dir, 'y.npy'));
  expect(y.shape).toEqual([2, 5]);
  const got = y.arraySync() as number[][];
  got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 4)));
  const onnx = await runCli(['export-onnx', '--weights', 'rgbd.safetensors', '--out', 'rgbd.onnx'], dir);
  expect(onnx.status).toBe(0);
  expect(fs.statSync(path.join(dir, 'rgbd.onnx')).size).toBeGreaterThan(100_000);
  const summary = await runCli(['summary', 'rgbd.safetensors'], dir);
  expect(summary.status).toBe(0);
  expect(summary.stdout).toMatch(/Input shape \(per image, HWC\): \[32, 32, 4\]\s+Output: \[5\]/);
  fs.copyFileSync(path.join(__dirname, '..', '..', 'zoo', 'samples', 'resnet20-fashion-mnist', '7-Sneaker.png'), path.join(dir, 'a.png'));
  expect(await refusal(['predict', '--weights', 'rgbd.safetensors', 'a.png'], dir)).toBe(
    'Images can feed 1- or 3-channel models; this one takes 4: give it tensors instead (resnet forward --input x.npy, or modelFromPretrained and model.forward).',
  );
  tf.dispose([x, y]);
  model.dispose();
}, 120_000);
