/**
 * The wasm engine's non-finite handling (core's kernels/nonfinite.ts) skips its JavaScript scans where
 * value bounds prove them unneeded, and still gives the cpu reference's result wherever NaN or Inf
 * appears: a NaN filter deep in the net, an overflow to Inf from finite but huge weights, NaN pixels
 * through the stem's max pooling.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Conv2d, ResNet, nonFiniteScans, useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import '../src/index.js';
import { expectSameValues, input, randomizeBatchNorms } from './plan-helpers.js';

async function logitsOn(backend: string, model: ResNet, x: tf.Tensor4D): Promise<{ values: Float32Array; scans: number }> {
  await useBackend(backend);
  nonFiniteScans.count = 0;
  const values = tf.tidy(() => model.forward(x, { training: false }).dataSync() as Float32Array);
  return { values, scans: nonFiniteScans.count };
}

/** The model's convs in order (stem first). */
const convs = (model: ResNet): Conv2d[] => [...model.namedModules()].map(([, m]) => m).filter((m): m is Conv2d => m instanceof Conv2d);

afterAll(async () => {
  await useBackend('cpu');
});

test.each([
  ['resnet20', [4, 32, 32, 3]],
  ['resnet18', [2, 32, 32, 3]],
])('%s on wasm: the cpu logits with at most two scans per forward (the stem conv and the head)', async (name, shape) => {
  const model = createModel(name as string).eval();
  randomizeBatchNorms(model, 4);
  const x = input(shape as number[]);
  const cpu = await logitsOn('cpu', model, x);
  const wasm = await logitsOn('wasm', model, x);
  expectSameValues(wasm.values, cpu.values);
  expect(wasm.scans).toBeLessThanOrEqual(2);
  x.dispose();
  model.dispose();
});

test('a NaN in a deep filter, an overflow to Inf, and NaN pixels through the max pooling give the cpu result on wasm', async () => {
  const cases: [string, (m: ResNet, values: Float32Array) => void][] = [
    [
      'NaN weight in the last stage',
      (m) => {
        const w = convs(m).at(-2)!.weight;
        const v = w.dataSync().slice();
        v[Math.floor(v.length / 2)] = NaN; // the centre tap: the last stage is 1x1 here
        w.assign(tf.tensor(v, w.shape));
      },
    ],
    [
      'finite weights that overflow',
      (m) => {
        const w = convs(m)[3].weight;
        w.assign(tf.mul(w, 3e38)); // |w| up to ~3e37: sums of a few products overflow
      },
    ],
    [
      'NaN pixels',
      (_m, values) => {
        values[3 * (32 * 9 + 20)] = NaN;
        values[32 * 32 * 3 + 5] = NaN;
      },
    ],
  ];
  for (const [label, spoil] of cases) {
    const model = createModel('resnet18').eval();
    randomizeBatchNorms(model, 6);
    const values = input([2, 32, 32, 3]).dataSync() as Float32Array;
    await useBackend('cpu');
    spoil(model, values);
    const x = tf.tensor4d(values, [2, 32, 32, 3]);
    const cpu = await logitsOn('cpu', model, x);
    const wasm = await logitsOn('wasm', model, x);
    expect([label, cpu.values.some((v) => !Number.isFinite(v))]).toEqual([label, true]);
    expectSameValues(wasm.values, cpu.values);
    x.dispose();
    model.dispose();
  }
});
