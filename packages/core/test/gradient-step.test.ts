import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@resnet-ts/zoo';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

function loss(model: ReturnType<typeof createModel>, x: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const logits = model.forward(x, { training: true });
  return tf.losses.softmaxCrossEntropy(tf.oneHot(labels as tf.Tensor1D, 10), logits) as tf.Scalar;
}

// 8x8 inputs keep the pure-JS reference backend quick; the architecture is the full ResNet-20.
test('SGD steps on resnet20 (batch 2, 8x8) change every trainable weight and lower the loss on a fixed batch', () => {
  const model = createModel('resnet20', { seed: 5 });
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 11);
  const labels = tf.tensor1d([3, 7], 'int32');
  const params = model.parameters();
  const before = params.map((p) => p.dataSync().slice());
  const losses: number[] = [];
  const numTensors: number[] = [];
  for (let step = 0; step < 4; step++) {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => loss(model, x, labels), params);
      losses.push(value.dataSync()[0]);
      for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name], 0.05)));
    });
    numTensors.push(tf.memory().numTensors);
  }
  expect(losses[3]).toBeLessThan(losses[0] * 0.8);
  params.forEach((p, i) => {
    const changed = p.dataSync().some((v, j) => v !== before[i][j]);
    expect(changed).toBe(true);
  });
  // No tensor leaks across steps.
  expect(new Set(numTensors).size).toBe(1);
  tf.dispose([x, labels]);
  model.dispose();
});
