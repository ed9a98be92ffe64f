import * as tf from '@tensorflow/tfjs-core';
import { BackendError, useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { bench, describeBackends, probeEngines, isSoftwareAdapter, WEBGPU_SOFTWARE_PRIORITY } from '@resnet-ts/backend-node';

test('describeBackends lists every engine, why, and which auto picks', async () => {
  const text = await describeBackends();
  for (const name of ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'native', 'wasm', 'cpu']) expect(text).toContain(name);
  expect(text).toMatch(/auto picks: \S+/);
  expect(text).toContain('@tensorflow/tfjs-node is not installed');
});

test('asking for an engine that cannot run says why and what to install', async () => {
  const rows = await probeEngines();
  const missing = rows.find((r) => r.name === 'tfjs-node');
  if (missing?.available) return; // tfjs-node really installed here: nothing to check
  await expect(useBackend('tfjs-node')).rejects.toThrow(BackendError);
  await expect(useBackend('tfjs-node')).rejects.toThrow(/tfjs-node is not installed.*npm install @tensorflow\/tfjs-node/);
});

test('a software WebGPU adapter ranks below wasm', () => {
  expect(isSoftwareAdapter({ description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' })).toBe(true);
  expect(isSoftwareAdapter({ vendor: 'google', device: 'swiftshader' })).toBe(true);
  expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ada', description: 'NVIDIA RTX 4090' })).toBe(false);
  expect(WEBGPU_SOFTWARE_PRIORITY).toBeLessThan(30);
});

test('the cpu engine does not print the tfjs "running in Node.js" banner', async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    await useBackend('cpu');
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync());
    expect(warn.mock.calls.flat().join(' ')).not.toMatch(/looks like you are running TensorFlow\.js in Node/);
  } finally {
    warn.mockRestore();
  }
});

test('a resnet20 SGD step runs on wasm (filter gradient registered) without leaking tensors', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const times = await bench.timeWork({ kind: 'resnet20-train', batch: 2 }, createModel, { repeats: 1, warmup: 0 });
  expect(times).toHaveLength(1);
  expect(tf.memory().numTensors).toBe(before);
});

test('wasm filter gradient matches cpu on a ResNet-sized layer (stride 2, batch 8)', async () => {
  const x = tf.randomUniform([8, 16, 16, 16], -1, 1, 'float32', 3);
  const dy = tf.randomUniform([8, 8, 8, 32], -1, 1, 'float32', 4);
  const xd = await x.data();
  const dyd = await dy.data();
  tf.dispose([x, dy]);
  const run = async (engine: string) => {
    await useBackend(engine);
    return tf
      .tidy(
        () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xd, [8, 16, 16, 16]), dy: tf.tensor4d(dyd, [8, 8, 8, 32]) }, {
            strides: 2,
            pad: 'same',
            dataFormat: 'NHWC',
            filterShape: [3, 3, 16, 32],
          } as never) as tf.Tensor,
      )
      .data();
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ref[i] - got[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  expect(err / scale).toBeLessThan(1e-5);
});
