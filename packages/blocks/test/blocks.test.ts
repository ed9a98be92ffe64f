import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { ResidualBlock, Rng, useBackend, getBlock } from '@resnet-ts/core';
import '@resnet-ts/blocks';
import '@resnet-ts/shortcuts';
import { createModel } from '@resnet-ts/zoo';

beforeAll(async () => {
  await useBackend('cpu');
});

const opts = (o: Partial<Parameters<ReturnType<typeof getBlock>['create']>[0]> = {}) => ({
  inChannels: 16,
  width: 16,
  stride: 1,
  residual: true,
  shortcut: 'B',
  strideMode: 'v1.5' as const,
  batchNorm: true,
  zeroInitResidual: false,
  rng: new Rng(1),
  ...o,
});

test('a basic block computes relu(F(x) + x); with zero-init residual it starts as relu(x), i.e. the identity on relu outputs', () => {
  const block = getBlock('basic').create(opts({ zeroInitResidual: true }));
  const x = tf.relu(tf.randomNormal([2, 8, 8, 16]));
  const y = block.forward(x, { training: false });
  expect(tf.max(tf.abs(tf.sub(y, x))).dataSync()[0]).toBeLessThan(1e-6);
  block.dispose();
});

test('building and disposing blocks leaves no tensors behind, with and without zero-init residual (basic and bottleneck)', () => {
  const before = tf.memory().numTensors;
  for (const name of ['basic', 'bottleneck']) {
    for (const zeroInitResidual of [false, true]) {
      getBlock(name).create(opts({ zeroInitResidual, inChannels: 16, stride: 2 })).dispose();
    }
  }
  expect(tf.memory().numTensors).toBe(before);
});

test('a plain block has no shortcut: relu(F(x)) only', () => {
  const res = getBlock('basic').create(opts({ rng: new Rng(3) }));
  const plain = getBlock('basic').create(opts({ rng: new Rng(3), residual: false }));
  const x = tf.relu(tf.randomNormal([1, 6, 6, 16]));
  const yPlain = plain.forward(x, { training: false });
  const branch = tf.relu(res.branch(x, { training: false }));
  expect(tf.max(tf.abs(tf.sub(yPlain, branch))).dataSync()[0]).toBeLessThan(1e-6);
});

test('bottleneck puts the stride on the 3x3 in v1.5 and on the first 1x1 in v1', () => {
  const v15 = getBlock('bottleneck').create(opts({ inChannels: 64, width: 32, stride: 2, strideMode: 'v1.5' })) as ResidualBlock & Record<string, unknown>;
  const v1 = getBlock('bottleneck').create(opts({ inChannels: 64, width: 32, stride: 2, strideMode: 'v1' }));
  const strides = (b: ResidualBlock) => b.namedModules().filter(([n]) => /^conv\d$/.test(n)).map(([, m]) => (m as unknown as { stride: number }).stride);
  expect(strides(v15)).toEqual([1, 2, 1]);
  expect(strides(v1)).toEqual([2, 1, 1]);
  expect(v15.outChannels).toBe(128);
  const x = tf.randomNormal([1, 8, 8, 64]);
  expect(v15.forward(x).shape).toEqual([1, 4, 4, 128]);
  expect(v1.forward(x).shape).toEqual([1, 4, 4, 128]);
});

test('deleting a residual branch (lesion) leaves relu(shortcut(x)); a zeroed branch changes nothing', () => {
  const model = createModel('resnet20', { seed: 2 }).eval();
  const x = tf.randomNormal([2, 32, 32, 3]);
  const block = model.blocks()[4]; // layer2.1: identity shortcut
  const full = model.forward(x);
  block.branchEnabled = false;
  const lesioned = model.forward(x);
  expect(tf.max(tf.abs(tf.sub(full, lesioned))).dataSync()[0]).toBeGreaterThan(1e-4);
  block.branchEnabled = true;
  block.branchScale = 0;
  const zeroed = model.forward(x);
  expect(tf.max(tf.abs(tf.sub(zeroed, lesioned))).dataSync()[0]).toBeLessThan(1e-6);
  model.dispose();
});

test('batchNorm: false builds convs with biases and no BN layers', () => {
  const model = createModel('resnet20', { batchNorm: false });
  const keys = [...model.stateDict().keys()];
  expect(keys.some((k) => k.includes('bn'))).toBe(false);
  expect(keys).toContain('layer1.0.conv1.bias');
  expect(model.forward(tf.zeros([1, 32, 32, 3])).shape).toEqual([1, 10]);
  model.dispose();
});
