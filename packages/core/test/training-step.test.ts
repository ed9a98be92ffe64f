import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, GlobalAvgPool, Linear, ReLU, Rng, Sequential, lossAndGradients, softmaxCrossEntropyLoss } from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

// A tiny conv-bn-relu-pool-fc net from core's own layers (no plug-ins needed).
function tinyNet(seed = 3): Sequential {
  const rng = new Rng(seed);
  return new Sequential(new Conv2d(2, 4, 3, { rng }), new BatchNorm2d(4), new ReLU(), new GlobalAvgPool(), new Linear(4, 5, { rng }));
}

/** The step written out by hand: what lossAndGradients must reproduce. */
function byHand(model: Sequential, x: tf.Tensor, labels: tf.Tensor1D) {
  return tf.tidy(() =>
    tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 5), model.forward(x, { training: true })) as tf.Scalar, model.parameters()),
  );
}

test('lossAndGradients gives the hand-written step: same loss, same gradient for every parameter, labels as indices or one-hot', () => {
  const model = tinyNet();
  const x = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 7);
  const labels = tf.tensor1d([0, 4, 2], 'int32');
  const saved = model.namedBuffers().map(([, v]) => tf.clone(v));
  const restore = () => model.namedBuffers().forEach(([, v], i) => v.assign(saved[i]));
  const ref = byHand(model, x, labels);
  restore();
  const got = lossAndGradients(model, x, labels);
  restore();
  const oneHot = tf.oneHot(labels, 5);
  const got2 = lossAndGradients(model, x, oneHot);
  expect(Object.keys(got.grads).sort()).toEqual(model.parameters().map((p) => p.name).sort());
  for (const g of [got, got2]) {
    expect(g.loss.dataSync()[0]).toBeCloseTo(ref.value.dataSync()[0], 6);
    for (const p of model.parameters()) {
      const a = g.grads[p.name].dataSync();
      const b = ref.grads[p.name].dataSync();
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-6);
      expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0); // a real gradient, not zeros
    }
    expect(g.logits).toBeUndefined();
  }
  tf.dispose([x, labels, oneHot, got.loss, got2.loss, ref.value, ...saved, ...Object.values(got.grads), ...Object.values(got2.grads), ...Object.values(ref.grads)]);
  model.dispose();
});

test('lossAndGradients leaves only what it returns: no tensor leaks across steps', () => {
  const model = tinyNet();
  const x = tf.randomNormal([2, 5, 5, 2], 0, 1, 'float32', 1);
  const labels = tf.tensor1d([1, 3], 'int32');
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { loss, grads, logits } = lossAndGradients(model, x, labels, { keepLogits: true });
    expect(logits!.shape).toEqual([2, 5]);
    tf.dispose([loss, logits!, ...Object.values(grads)]);
    counts.push(tf.memory().numTensors);
  }
  expect(new Set(counts).size).toBe(1);
  tf.dispose([x, labels]);
  model.dispose();
});

test('options: a subset of parameters, a custom loss, a replaced forward, eval-mode batch norm', () => {
  const model = tinyNet();
  const x = tf.randomNormal([2, 5, 5, 2], 0, 1, 'float32', 2);
  const labels = tf.tensor1d([1, 3], 'int32');
  const fc = model.parameters().slice(-2);
  const sub = lossAndGradients(model, x, labels, { params: fc });
  expect(Object.keys(sub.grads).sort()).toEqual(fc.map((p) => p.name).sort());
  // A sum-reduced loss is N times the mean one, and so are its gradients.
  const running = model.namedBuffers().map(([, v]) => v.dataSync().slice());
  const mean = lossAndGradients(model, x, labels, { training: false });
  const summed = lossAndGradients(model, x, labels, { training: false, loss: (l, t) => tf.mul(softmaxCrossEntropyLoss(l, t), 2) as tf.Scalar });
  // eval mode does not touch the batch-norm running statistics
  model.namedBuffers().forEach(([, v], i) => expect(Array.from(v.dataSync())).toEqual(Array.from(running[i])));
  expect(summed.loss.dataSync()[0]).toBeCloseTo(2 * mean.loss.dataSync()[0], 5);
  let calls = 0;
  const replaced = lossAndGradients(model, x, labels, { training: false, forward: (input, ctx) => (calls++, model.forward(input, ctx)) });
  expect(calls).toBe(1);
  expect(replaced.loss.dataSync()[0]).toBeCloseTo(mean.loss.dataSync()[0], 6);
  // A NaN input gives a NaN loss, never a finite number.
  const bad = tf.fill([2, 5, 5, 2], NaN);
  const nan = lossAndGradients(model, bad, labels, { training: false });
  expect(Number.isNaN(nan.loss.dataSync()[0])).toBe(true);
  for (const r of [sub, mean, summed, replaced, nan]) tf.dispose([r.loss, ...Object.values(r.grads)]);
  tf.dispose([x, labels, bad]);
  model.dispose();
});
