// The pre-activation block (`preact-basic`, He et al. 2016) in isolation: what it computes, that
// its fused eval form and the layer-by-layer path agree, that its shared pre-activation updates the
// batch-norm statistics once per step, and that it frees what it builds. (Parity with PyTorch:
// packages/zoo/test/plugins-parity.test.ts.)
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { BatchNorm2d, ResNet, Rng, getBlock, setInferenceFusion, useBackend } from '@resnet-ts/core';
import '@resnet-ts/blocks';
import type { PreActBasicBlock } from '@resnet-ts/blocks';
import '@resnet-ts/shortcuts';

beforeAll(async () => {
  await useBackend('cpu');
});
afterEach(() => setInferenceFusion(true));

const opts = (o: object = {}) => ({
  inChannels: 8,
  width: 16,
  stride: 2,
  residual: true,
  shortcut: 'B',
  strideMode: 'v1.5' as const,
  batchNorm: true,
  zeroInitResidual: false,
  rng: new Rng(1),
  ...o,
});

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

function randomizeBatchNorms(m: { namedModules(): [string, unknown][] }, seed: number): void {
  const rng = new Rng(seed);
  for (const [, bn] of m.namedModules()) {
    if (!(bn instanceof BatchNorm2d)) continue;
    const n = bn.numFeatures;
    tf.tidy(() => {
      bn.weight.assign(tf.tensor1d(rng.uniformArray(n, 0.5, 1.5)));
      bn.bias.assign(tf.tensor1d(rng.uniformArray(n, -0.3, 0.3)));
      bn.runningMean.assign(tf.tensor1d(rng.uniformArray(n, -0.5, 0.5)));
      bn.runningVar.assign(tf.tensor1d(rng.uniformArray(n, 0.5, 2)));
    });
  }
}

test('computes conv2(relu(bn2(conv1(h)))) + downsample(h) with h = relu(bn1(x)), the sum unactivated', () => {
  const block = getBlock('preact-basic').create(opts()) as PreActBasicBlock;
  randomizeBatchNorms(block, 2);
  const x = tf.randomNormal([2, 8, 8, 8], 0, 1, 'float32', 3);
  const ctx = { training: false };
  const want = tf.tidy(() => {
    const h = tf.relu(block.bn1!.forward(x, ctx));
    const f = block.conv2.forward(tf.relu(block.bn2!.forward(block.conv1.forward(h, ctx), ctx)), ctx);
    return tf.add(f, block.child('downsample')!.forward(h, ctx));
  });
  const got = block.forward(x, ctx);
  expect(got.shape).toEqual([2, 4, 4, 16]);
  expect(maxDiff(got, want)).toBeLessThan(1e-5);
  expect(tf.min(got).dataSync()[0]).toBeLessThan(0); // no ReLU after the addition
  tf.dispose([x, want, got]);
  block.dispose();
});

test('an identity-shortcut block with zero-init residual is the identity; a lesioned block passes its shortcut', () => {
  const block = getBlock('preact-basic').create(opts({ inChannels: 16, stride: 1, zeroInitResidual: true }));
  const x = tf.randomNormal([2, 6, 6, 16], 0, 1, 'float32', 4);
  const y = block.forward(x, { training: false });
  expect(maxDiff(y, x)).toBe(0);
  block.branchEnabled = false;
  const z = block.forward(x, { training: false });
  expect(maxDiff(z, x)).toBe(0);
  tf.dispose([x, y, z]);
  block.dispose();
});

test('eval mode: the fused form (conv1 + bn2 + ReLU as one conv) gives the layer-by-layer values on a whole net', () => {
  const model = new ResNet({
    stem: 'cifar',
    stemWidth: 8,
    stemNorm: 'none',
    finalNorm: 'bn-relu',
    stages: [8, 16].map((width, i) => ({ block: 'preact-basic', width, depth: 2, stride: i ? 2 : 1 })),
    shortcut: 'B',
    numClasses: 5,
  });
  randomizeBatchNorms(model, 5);
  const x = tf.randomNormal([2, 10, 10, 3], 0, 1, 'float32', 6);
  const fused = model.forward(x, { training: false });
  setInferenceFusion(false);
  const plain = model.forward(x, { training: false });
  expect(maxDiff(fused, plain)).toBeLessThan(1e-5);
  tf.dispose([x, fused, plain]);
  model.dispose();
});

test('train mode: the pre-activation shared by branch and projection updates bn1 once per forward', () => {
  const block = getBlock('preact-basic').create(opts()) as PreActBasicBlock;
  const x = tf.randomNormal([4, 8, 8, 8], 1, 1, 'float32', 7);
  const before = tf.memory().numTensors;
  const y = block.forward(x, { training: true });
  // PyTorch's update from running_mean 0: 0.9 * 0 + 0.1 * batch mean.
  const want = tf.tidy(() => tf.mul(tf.mean(x, [0, 1, 2]), 0.1));
  expect(maxDiff(block.bn1!.runningMean, want)).toBeLessThan(1e-6);
  y.dispose();
  want.dispose();
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  block.dispose();
});

test('building and disposing preact blocks (every shortcut option, with and without batch norm) leaves no tensors behind', () => {
  const before = tf.memory().numTensors;
  for (const shortcut of ['A', 'B', 'C', 'D']) {
    for (const batchNorm of [true, false]) {
      const block = getBlock('preact-basic').create(opts({ shortcut, batchNorm }));
      const x = tf.ones([1, 6, 6, 8]);
      tf.dispose([block.forward(x, { training: false }), block.forward(x, { training: true }), x]);
      block.dispose();
    }
  }
  expect(tf.memory().numTensors).toBe(before);
});
