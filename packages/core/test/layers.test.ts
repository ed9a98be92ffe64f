import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, GlobalAvgPool, Tracer, ShapeError } from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('BatchNorm2d matches torch.nn.BatchNorm2d semantics', () => {
  test('train mode normalises with batch stats and updates running averages with the unbiased variance', () => {
    const bn = new BatchNorm2d(2); // momentum 0.1, eps 1e-5
    // channel 0 values 1..8, channel 1 values 10*(1..8), as [2, 2, 2, 2] NHWC
    const c0 = [1, 2, 3, 4, 5, 6, 7, 8];
    const data: number[] = [];
    c0.forEach((v) => data.push(v, 10 * v));
    const x = tf.tensor4d(data, [2, 2, 2, 2]);
    const y = bn.forward(x, { training: true });
    const mean0 = 4.5;
    const var0 = c0.reduce((s, v) => s + (v - mean0) ** 2, 0) / 8; // biased, used to normalise
    const expected0 = c0.map((v) => (v - mean0) / Math.sqrt(var0 + 1e-5));
    const got = y.arraySync() as number[][][][];
    const got0 = got.flat(2).map((px) => px[0]);
    got0.forEach((v, i) => expect(v).toBeCloseTo(expected0[i], 4));
    const unbiased0 = (var0 * 8) / 7;
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(0.1 * mean0, 5);
    expect(bn.runningVar.dataSync()[0]).toBeCloseTo(0.9 * 1 + 0.1 * unbiased0, 5);
    expect(bn.runningMean.dataSync()[1]).toBeCloseTo(0.1 * 45, 4);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(1);
    tf.dispose([x, y]);
  });

  test('eval mode uses the running statistics and does not update them', () => {
    const bn = new BatchNorm2d(1);
    bn.runningMean.assign(tf.tensor1d([2]));
    bn.runningVar.assign(tf.tensor1d([4]));
    bn.weight.assign(tf.tensor1d([3]));
    bn.bias.assign(tf.tensor1d([1]));
    const x = tf.tensor4d([2, 4, 6, 8], [1, 2, 2, 1]);
    const y = bn.forward(x, { training: false });
    const expected = [2, 4, 6, 8].map((v) => ((v - 2) / Math.sqrt(4 + 1e-5)) * 3 + 1);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    expect(bn.runningMean.dataSync()[0]).toBe(2);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(0);
  });
});

describe('Conv2d', () => {
  test('padding and stride follow PyTorch (floor((H + 2p - k) / s) + 1) and the describe() shape matches forward', () => {
    for (const [k, s, p, h] of [
      [7, 2, 3, 224],
      [3, 2, 1, 56],
      [1, 2, 0, 56],
      [3, 1, 1, 9],
      [3, 2, 1, 7],
    ]) {
      const conv = new Conv2d(2, 3, k, { stride: s, padding: p });
      const x = tf.zeros([1, h, h, 2]);
      const y = conv.forward(x);
      const t = new Tracer();
      const described = conv.describe([h, h, 2], t);
      expect(y.shape.slice(1)).toEqual(described);
      expect(t.rows[0].macs).toBe(described[0] * described[1] * 3 * 2 * k * k);
      tf.dispose([x, y]);
      conv.dispose();
    }
  });

  test('initialisation is Kaiming normal, fan_out: std close to sqrt(2 / (out * k * k))', () => {
    const conv = new Conv2d(64, 128, 3);
    const w = conv.weight.dataSync();
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeCloseTo(Math.sqrt(2 / (128 * 9)), 3);
    conv.dispose();
  });

  test('a 1x1 conv computes the channel mixing it should', () => {
    const conv = new Conv2d(2, 1, 1, { padding: 0 });
    conv.weight.assign(tf.tensor4d([2, -1], [1, 1, 2, 1]));
    const x = tf.tensor4d([1, 3, 5, 7], [1, 1, 2, 2]);
    expect(Array.from(conv.forward(x).dataSync())).toEqual([2 * 1 - 3, 2 * 5 - 7]);
  });

  test('wrong rank or channel count is a clear ShapeError', () => {
    const conv = new Conv2d(3, 8, 3);
    expect(() => conv.forward(tf.zeros([32, 32, 3]))).toThrow(/4-D NHWC tensor.*expandDims/);
    expect(() => conv.forward(tf.zeros([1, 3, 32, 32]))).toThrow(/NCHW \(PyTorch order\)/);
    expect(() => conv.forward(tf.zeros([1, 32, 32, 4]))).toThrow(ShapeError);
  });
});

test('MaxPool2d 3x3/2 pad 1 ignores the padding; GlobalAvgPool averages; Linear is x W + b', () => {
  const x = tf.tensor4d([-1, -2, -3, -4], [1, 2, 2, 1]);
  const y = new MaxPool2d(3, 2, 1).forward(x);
  expect(y.shape).toEqual([1, 1, 1, 1]);
  expect(y.dataSync()[0]).toBe(-1); // zero padding would have given 0
  expect(new GlobalAvgPool().forward(x).dataSync()[0]).toBe(-2.5);
  const lin = new Linear(2, 1);
  lin.weight.assign(tf.tensor2d([[3], [4]]));
  lin.bias!.assign(tf.tensor1d([0.5]));
  expect(lin.forward(tf.tensor2d([[1, 2]])).dataSync()[0]).toBe(11.5);
  expect(() => lin.forward(tf.zeros([1, 3]))).toThrow(/Linear\(2->1\) expects \[batch, 2\]/);
});
