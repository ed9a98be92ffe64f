// Option D (average pool + 1x1 conv + BN, "Bag of Tricks" ResNet-D, timm's downsample_avg): the
// ceil-mode pooling forward and backward on odd sizes, the module layout and names, bad parameters.
// (Parity with PyTorch: packages/zoo/test/plugins-parity.test.ts.)
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { Rng, SpecError, getShortcut, useBackend } from '@resnet-ts/core';
import { CeilAvgPool2d } from '@resnet-ts/shortcuts';

beforeAll(async () => {
  await useBackend('cpu');
});

const options = (o: object = {}) => ({ inChannels: 4, outChannels: 8, stride: 2, batchNorm: true, rng: new Rng(0), params: {}, ...o });

test('ceil-mode 2x2 pooling of a 5x5 input averages each window over its in-bounds pixels only', () => {
  const x = tf.tensor4d(Array.from({ length: 25 }, (_, i) => i), [1, 5, 5, 1]);
  const y = new CeilAvgPool2d(2).forward(x);
  expect(y.shape).toEqual([1, 3, 3, 1]);
  // Rows 0-1 x cols 0-1 = (0+1+5+6)/4; the last column holds one pixel per row: (4+9)/2; the corner 24 alone.
  const v = Array.from(y.dataSync());
  expect(v[0]).toBeCloseTo(3, 6);
  expect(v[2]).toBeCloseTo(6.5, 6);
  expect(v[8]).toBeCloseTo(24, 6);
  tf.dispose([x, y]);
});

test('its gradient gives each pixel 1 / (pixels in its window): 1/4 inside, 1/2 on the edge, 1 in the corner', () => {
  const x = tf.randomNormal([1, 5, 5, 1], 0, 1, 'float32', 1);
  const pool = new CeilAvgPool2d(2);
  const g = tf.grad((t: tf.Tensor) => tf.sum(pool.forward(t)))(x);
  const v = Array.from(g.dataSync());
  expect(v[0]).toBeCloseTo(0.25, 6);
  expect(v[4]).toBeCloseTo(0.5, 6); // row 0, last column
  expect(v[24]).toBeCloseTo(1, 6);
  tf.dispose([x, g]);
});

test("option D is identity where the shape is kept, else Sequential(pool, 1x1 conv, BN) with timm's names", () => {
  expect(getShortcut('D').create(options({ outChannels: 4, stride: 1 }))).toBeNull();
  const m = getShortcut('D').create(options())!;
  expect([...m.stateDict().keys()]).toEqual(['1.weight', '2.weight', '2.bias', '2.running_mean', '2.running_var', '2.num_batches_tracked']);
  const x = tf.randomNormal([2, 7, 7, 4]);
  const y = m.forward(x, { training: false });
  expect(y.shape).toEqual([2, 4, 4, 8]);
  // At stride 1 with more channels: Identity in place of the pool, the same names.
  const wide = getShortcut('D').create(options({ stride: 1 }))!;
  expect([...wide.stateDict().keys()][0]).toBe('1.weight');
  tf.dispose([x, y]);
  m.dispose();
  wide.dispose();
});

test('option D takes no parameters', () => {
  expect(() => getShortcut('D').create(options({ params: { padding: 'split' } }))).toThrow(SpecError);
});
