/**
 * Core's deferred transpose on the native engine (src/native/deferred-transpose.ts): weights loaded
 * in PyTorch's layout are reordered to tfjs's only when something reads them; the compiled plan reads
 * them in PyTorch's layout instead (no reorder at all on the inference path) with the same logits; a
 * read, training, or the source's buffer being recycled all give the right values.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fromTorchLayout, setInferencePlan, useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import '../src/index.js';
import { deferredSource } from '../src/native/deferred-transpose.js';
import { loadAddon } from '../src/native/index.js';
import { describeNative, expectSameValues, input, logits, planRuns, randomizeBatchNorms, uniform } from './plan-helpers.js';

const convWeights = (model: ReturnType<typeof createModel>) =>
  [...model.namedParameters()].filter(([, v]) => v.rank === 4).map(([, v]) => v);

describeNative('deferred transpose of loaded weights (native)', () => {
  beforeAll(async () => {
    await useBackend('native');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  test('fromTorchLayout defers the reorder until a read, then gives tf.transpose’s values', () => {
    const oihw = tf.tensor4d(uniform(16 * 8 * 3 * 3, 3), [16, 8, 3, 3]);
    const hwio = fromTorchLayout(oihw, 'conv2d');
    expect(hwio.shape).toEqual([3, 3, 8, 16]);
    expect(deferredSource(hwio)?.perm).toEqual([2, 3, 1, 0]);
    const expected = tf.transpose(oihw, [2, 3, 1, 0]);
    expect(Array.from(hwio.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(deferredSource(hwio)).toBeNull();
    tf.dispose([oihw, hwio, expected]);
  });

  test('its gradient is the inverse transpose (fromTorchLayout under a gradient tape)', () => {
    const oihw = tf.tensor4d(uniform(4 * 3 * 2 * 2, 8), [4, 3, 2, 2]);
    const weights = tf.tensor4d(uniform(48, 9), [2, 2, 3, 4]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fromTorchLayout(t, 'conv2d'), weights)))(oihw);
    expect(Array.from(grad.dataSync())).toEqual(Array.from(tf.transpose(weights, [3, 2, 0, 1]).dataSync()));
    tf.dispose([oihw, weights, grad]);
  });

  test('a source in a recycled kernel buffer keeps its values after the source tensor is freed', () => {
    const base = tf.tensor4d(uniform(32 * 16 * 3 * 3, 4), [3, 3, 16, 32]);
    const oihw = tf.transpose(base, [3, 2, 0, 1]); // a native kernel output: a pooled buffer
    const expected = Array.from(base.dataSync());
    const hwio = fromTorchLayout(oihw, 'conv2d');
    oihw.dispose();
    // Kernel outputs of the same size would reuse a freed pooled buffer.
    const others = [1, 2, 3].map(() => tf.transpose(tf.fill(oihw.shape, 9), [0, 1, 2, 3]));
    expect(Array.from(hwio.dataSync())).toEqual(expected);
    tf.dispose([base, hwio, ...others]);
  });

  test('freeing a deferred tensor that was never read runs no reorder and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const reorders = jest.spyOn(loadAddon().addon!, 'transpose');
    try {
      const oihw = tf.tensor4d(uniform(64 * 64 * 3 * 3, 5), [64, 64, 3, 3]);
      tf.dispose([oihw, fromTorchLayout(oihw, 'conv2d')]);
      expect(reorders).not.toHaveBeenCalled();
    } finally {
      reorders.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a PyTorch-layout load feeds the plan unreordered, with the logits of reordered weights', () => {
    const source = createModel('resnet20', { seed: 3 }).eval();
    randomizeBatchNorms(source, 4);
    const dict = source.stateDict({ layout: 'torch' });
    const deferred = createModel('resnet20').eval();
    deferred.loadStateDict(dict, { layout: 'torch' });
    tf.dispose([...dict.values()]);
    const x = input([2, 32, 32, 3]);
    const before = tf.memory().numTensors;

    let planned = new Float32Array();
    expect(planRuns(() => (planned = logits(deferred, x, true)))).toBe(1);
    // The plan read every conv filter (and the classifier) in PyTorch's layout: none was reordered.
    expect(convWeights(deferred).every((w) => deferredSource(w) !== null)).toBe(true);
    expect(deferredSource(deferred.fc.weight)?.perm).toEqual([1, 0]);
    expect(tf.memory().numTensors).toBe(before);

    // The same weights as the source model holds them (tfjs's layout, plan and kernels).
    expectSameValues(planned, logits(source, x, true), 0);
    expectSameValues(logits(deferred, x, false), logits(source, x, false), 0);
    tf.dispose(x);
    source.dispose();
    deferred.dispose();
  });

  test('training a PyTorch-layout load reads the reordered weights (the same loss as the source model)', () => {
    const source = createModel('resnet20', { seed: 6 });
    const dict = source.stateDict({ layout: 'torch' });
    const deferred = createModel('resnet20');
    deferred.loadStateDict(dict, { layout: 'torch' });
    tf.dispose([...dict.values()]);
    const x = input([2, 32, 32, 3]);
    const previous = setInferencePlan(false);
    try {
      const loss = (m: typeof source) => tf.tidy(() => tf.sum(m.forward(x, { training: true })).dataSync()[0]);
      expect(loss(deferred)).toBe(loss(source));
      expect(convWeights(deferred).every((w) => deferredSource(w) === null)).toBe(true);
    } finally {
      setInferencePlan(previous);
      tf.dispose(x);
      source.dispose();
      deferred.dispose();
    }
  });
});
