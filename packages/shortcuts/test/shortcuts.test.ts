import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { Rng, getShortcut, useBackend } from '@resnet-ts/core';
import { ZeroPadShortcut } from '@resnet-ts/shortcuts';
import { createModel } from '@resnet-ts/zoo';

beforeAll(async () => {
  await useBackend('cpu');
});

const base = { batchNorm: true, rng: new Rng(0) };

test('option A subsamples every second pixel and appends zero channels; its gradient flows', () => {
  const sc = getShortcut('A').create({ ...base, inChannels: 2, outChannels: 4, stride: 2 }) as ZeroPadShortcut;
  expect(sc).toBeInstanceOf(ZeroPadShortcut);
  const x = tf.tensor4d(Array.from({ length: 4 * 4 * 2 }, (_, i) => i + 1), [1, 4, 4, 2]);
  const y = sc.forward(x);
  expect(y.shape).toEqual([1, 2, 2, 4]);
  const xs = x.arraySync()[0];
  const ys = y.arraySync()[0];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      expect(ys[i][j]).toEqual([xs[2 * i][2 * j][0], xs[2 * i][2 * j][1], 0, 0]);
    }
  }
  const g = tf.grad((t: tf.Tensor) => tf.sum(sc.forward(t)))(x);
  // Only the kept pixels get gradient 1.
  expect(g.sum().dataSync()[0]).toBe(2 * 2 * 2);
  expect(sc.numParameters()).toBe(0);
});

test('option A and B are identity (no module) when the shape is kept; C always projects', () => {
  const same = { ...base, inChannels: 8, outChannels: 8, stride: 1 };
  expect(getShortcut('A').create(same)).toBeNull();
  expect(getShortcut('B').create(same)).toBeNull();
  const c = getShortcut('C').create(same)!;
  expect([...c.stateDict().keys()]).toEqual(['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']);
  expect(() => getShortcut('A').create({ ...base, inChannels: 8, outChannels: 4, stride: 1 })).toThrow(/cannot shrink channels/);
});

test('parameters grow from A to B to C (paper Table 3), and multiply-adds with them', () => {
  const counts = ['A', 'B', 'C'].map((shortcut) => {
    const m = createModel('resnet20', { shortcut });
    const s = m.summary();
    m.dispose();
    return [s.totalParams, s.totalMacs];
  });
  expect(counts[0][0]).toBe(269_722);
  // B adds two projections (16->32 and 32->64, each 1x1 conv + BN).
  expect(counts[1][0] - counts[0][0]).toBe(16 * 32 + 64 + 32 * 64 + 128);
  expect(counts[2][0]).toBeGreaterThan(counts[1][0]);
  expect(counts[2][1]).toBeGreaterThan(counts[1][1]);
});

test.each(['cpu', 'native', 'wasm'])(
  'option A on %s equals subsample + zero-pad exactly, forward and backward, odd sizes; the selector is freed on dispose',
  async (engine) => {
    await useBackend(engine);
    const before = tf.memory().numTensors;
    const sc = getShortcut('A').create({ ...base, inChannels: 3, outChannels: 8, stride: 2 }) as ZeroPadShortcut;
    const x = tf.randomNormal([2, 5, 7, 3], 0, 10, 'float32', 4);
    const reference = (t: tf.Tensor) =>
      tf.pad(tf.avgPool(t as tf.Tensor4D, 1, 2, 'valid'), [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 5],
      ]);
    const dy = tf.randomNormal([2, 3, 4, 8], 0, 1, 'float32', 5);
    const [y, yRef] = tf.tidy(() => [sc.forward(x).dataSync(), reference(x).dataSync()]);
    expect(y.length).toBe(2 * 3 * 4 * 8);
    expect([...y]).toEqual([...yRef]);
    const [g, gRef] = tf.tidy(() => [
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(sc.forward(t), dy)))(x).dataSync(),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reference(t), dy)))(x).dataSync(),
    ]);
    expect([...g]).toEqual([...gRef]);
    tf.dispose([x, dy]);
    expect(tf.memory().numTensors).toBe(before + 1); // the selector, kept for the next forward
    sc.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await useBackend('cpu');
  },
);

test("option A 'split' puts half the zero channels before the identity (the PyTorch CIFAR code's F.pad), odd extra after", () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 2 * 2 }, (_, i) => i + 1), [1, 2, 2, 2]);
  const split = getShortcut('A').create({ ...base, params: { padding: 'split' }, inChannels: 2, outChannels: 6, stride: 2 }) as ZeroPadShortcut;
  expect(split.forward(x).arraySync()[0][0][0]).toEqual([0, 0, 1, 2, 0, 0]);
  const odd = getShortcut('A').create({ ...base, params: { padding: 'split' }, inChannels: 2, outChannels: 5, stride: 1 }) as ZeroPadShortcut;
  expect(odd.forward(x).arraySync()[0][1][1]).toEqual([0, 7, 8, 0, 0]);
  const after = getShortcut('A').create({ ...base, params: { padding: 'after' }, inChannels: 2, outChannels: 6, stride: 2 }) as ZeroPadShortcut;
  expect(after.forward(x).arraySync()[0][0][0]).toEqual([1, 2, 0, 0, 0, 0]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(split.forward(t)))(x);
  expect(g.sum().dataSync()[0]).toBe(2); // the kept pixel's two channels
  tf.dispose([x, g]);
  [split, odd, after].forEach((m) => m.dispose());
});

test('option A parameters are checked: unknown placement or parameter is a one-line SpecError', () => {
  expect(() => getShortcut('A').create({ ...base, params: { padding: 'before' }, inChannels: 2, outChannels: 4, stride: 2 })).toThrow(
    /padding must be 'after' or 'split' for option A; got "before"/,
  );
  expect(() => getShortcut('A').create({ ...base, params: { pad: 'split' }, inChannels: 2, outChannels: 4, stride: 2 })).toThrow(
    /no parameter 'pad'/,
  );
});

test("options B and C take no parameters: option A's padding left over after switching is a SpecError on every block, not ignored", () => {
  for (const option of ['B', 'C'])
    for (const [inChannels, stride] of [
      [4, 1],
      [2, 2],
    ])
      expect(() => getShortcut(option).create({ ...base, params: { padding: 'split' }, inChannels, outChannels: 4, stride })).toThrow(
        `Shortcut option ${option} takes no parameters; got 'padding' in spec.shortcutParams: remove shortcutParams, or use the option it belongs to (padding is option A's).`,
      );
  expect(() => createModel('resnet20', { shortcut: 'B', shortcutParams: { padding: 'split' } })).toThrow(/option B takes no parameters/);
  const ok = createModel('resnet20', { shortcut: 'B', shortcutParams: {} });
  ok.dispose();
});

test("the placement is part of the spec: it round-trips through a checkpoint; specs without it stay 'after'", async () => {
  const { ResNet, encodeCheckpoint, decodeCheckpointInto } = await import('@resnet-ts/core');
  const spec = {
    stem: 'cifar' as const,
    stemWidth: 4,
    shortcut: 'A',
    shortcutParams: { padding: 'split' },
    numClasses: 3,
    stages: [4, 8].map((width, i) => ({ block: 'basic', width, depth: 1, stride: i ? 2 : 1 })),
  };
  const model = new ResNet(spec).eval();
  const bytes = await encodeCheckpoint(model);
  const { info } = decodeCheckpointInto(new ResNet(spec), bytes);
  expect(info.spec?.shortcutParams).toEqual({ padding: 'split' });
  const again = new ResNet(info.spec!).eval();
  decodeCheckpointInto(again, bytes);
  const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 1);
  const [a, b] = [model.forward(x), again.forward(x)];
  expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
  const old = new ResNet({ ...spec, shortcutParams: undefined });
  expect((old.blocks()[1].children().find(([n]) => n === 'downsample')![1] as ZeroPadShortcut).padding).toBe('after');
  [model, again, old].forEach((m) => m.dispose());
  tf.dispose([x, a, b]);
});
