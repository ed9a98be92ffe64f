// Eval-mode fusion (batch norm folded into the conv, ReLU fused): same outputs as the layer-by-layer
// path, cache rebuilt when weights change, no tensor leaks.
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, ResNet, ResNetSpec, Rng, convBnAct, setInferenceFusion } from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => {
  setInferenceFusion(true);
});

/** Gives every batch norm non-trivial gamma, beta and running statistics (fresh ones fold to the identity). */
function randomizeBatchNorms(model: ResNet, seed = 7): void {
  const rng = new Rng(seed);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const n = m.numFeatures;
    tf.tidy(() => {
      m.weight.assign(tf.tensor1d(rng.uniformArray(n, 0.5, 1.5)));
      m.bias.assign(tf.tensor1d(rng.uniformArray(n, -0.3, 0.3)));
      m.runningMean.assign(tf.tensor1d(rng.uniformArray(n, -0.5, 0.5)));
      m.runningVar.assign(tf.tensor1d(rng.uniformArray(n, 0.5, 2)));
    });
  }
}

/** Eval logits with fusion on or off. */
function evalLogits(model: ResNet, x: tf.Tensor, fused: boolean): Float32Array {
  const previous = setInferenceFusion(fused);
  try {
    const y = model.forward(x, { training: false });
    const values = y.dataSync() as Float32Array;
    y.dispose();
    return values;
  } finally {
    setInferenceFusion(previous);
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Kernel names run by an eval forward. */
async function kernelsOf(model: ResNet, x: tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => {
    model.forward(x, { training: false }).dispose();
  });
  return info.kernels.map((k) => k.name);
}

const cifar = (over: Partial<ResNetSpec> = {}): ResNetSpec => ({
  stem: 'cifar',
  stemWidth: 4,
  stages: [
    { block: 'basic', width: 4, depth: 2, stride: 1 },
    { block: 'basic', width: 8, depth: 1, stride: 2 },
  ],
  shortcut: 'A',
  numClasses: 5,
  seed: 3,
  ...over,
});

const bottleneck = (over: Partial<ResNetSpec> = {}): ResNetSpec => ({
  stem: 'imagenet',
  stemWidth: 8,
  stages: [
    { block: 'bottleneck', width: 4, depth: 2, stride: 1 },
    { block: 'bottleneck', width: 8, depth: 1, stride: 2 },
  ],
  shortcut: 'B',
  numClasses: 4,
  seed: 5,
  ...over,
});

const cases: [string, ResNetSpec, number][] = [
  ['basic, option A', cifar(), 8],
  ['basic, option B', cifar({ shortcut: 'B' }), 8],
  ['basic, option C', cifar({ shortcut: 'C' }), 8],
  ['basic, plain (no shortcuts)', cifar({ residual: false }), 8],
  ['basic, batchNorm: false (conv bias + relu fused)', cifar({ batchNorm: false, shortcut: 'C' }), 8],
  ['bottleneck v1.5, option B, imagenet stem', bottleneck(), 32],
  ['bottleneck v1, option C', bottleneck({ strideMode: 'v1', shortcut: 'C' }), 32],
  ['bottleneck, batchNorm: false', bottleneck({ batchNorm: false }), 32],
];

describe('eval-mode fusion matches the layer-by-layer path', () => {
  test.each(cases)('%s', async (_name, spec, size) => {
    const model = new ResNet(spec);
    randomizeBatchNorms(model);
    const x = tf.randomNormal([2, size, size, spec.inChannels ?? 3], 0, 1, 'float32', 11);
    const ref = evalLogits(model, x, false);
    const got = evalLogits(model, x, true);
    expect(maxAbsDiff(ref, got)).toBeLessThan(1e-5 * Math.max(1, ...Array.from(ref, Math.abs)));
    // The fused path really ran: fused convs, no separate batch norm or conv.
    const names = await kernelsOf(model, x);
    expect(names).toContain('FusedConv2D');
    expect(names).not.toContain('FusedBatchNorm');
    setInferenceFusion(false);
    expect(await kernelsOf(model, x)).not.toContain('FusedConv2D');
    model.dispose();
    x.dispose();
  });
});

describe('the folded-weight cache', () => {
  test('is rebuilt after a training step and after loadStateDict, and frees what it replaces', () => {
    const model = new ResNet(cifar({ shortcut: 'B' }));
    randomizeBatchNorms(model);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 12);
    const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 5);
    evalLogits(model, x, true); // builds the cache
    const before = tf.memory().numTensors;

    // One SGD step: new weights and new running statistics (train-mode BN).
    const params = model.parameters();
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })) as tf.Scalar,
        params,
      );
      for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name], 0.1)));
    });
    const ref = evalLogits(model, x, false);
    const got = evalLogits(model, x, true);
    expect(maxAbsDiff(ref, got)).toBeLessThan(1e-5 * Math.max(1, ...Array.from(ref, Math.abs)));
    expect(tf.memory().numTensors).toBe(before);

    // Only a buffer changes (running mean of one BN): still noticed.
    const bn = model.child('layer1')!.child('0')!.child('bn2') as BatchNorm2d;
    tf.tidy(() => bn.runningMean.assign(tf.add(bn.runningMean, 0.25)));
    expect(maxAbsDiff(evalLogits(model, x, false), evalLogits(model, x, true))).toBeLessThan(
      1e-5 * Math.max(1, ...Array.from(ref, Math.abs)),
    );

    // loadStateDict from another model: the outputs become that model's.
    const other = new ResNet(cifar({ shortcut: 'B', seed: 9 }));
    randomizeBatchNorms(other, 21);
    const expected = evalLogits(other, x, false);
    const dict = other.stateDict();
    model.loadStateDict(dict);
    tf.dispose([...dict.values()]);
    expect(maxAbsDiff(expected, evalLogits(model, x, true))).toBeLessThan(1e-5 * Math.max(1, ...Array.from(expected, Math.abs)));
    expect(tf.memory().numTensors).toBe(before + other.namedParameters().length + other.namedBuffers().length);

    other.dispose();
    model.dispose();
    tf.dispose([x, labels]);
  });

  test('repeated eval forwards do not grow the tensor count, and dispose() frees the cache', () => {
    const start = tf.memory().numTensors;
    const model = new ResNet(bottleneck());
    randomizeBatchNorms(model);
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 13);
    const afterBuild = tf.memory().numTensors;
    tf.tidy(() => model.forward(x, { training: false })).dispose();
    const withCache = tf.memory().numTensors;
    expect(withCache).toBeGreaterThan(afterBuild); // the folded weights
    for (let i = 0; i < 3; i++) tf.tidy(() => model.forward(x, { training: false })).dispose();
    expect(tf.memory().numTensors).toBe(withCache);
    // A forward inside an enclosing tidy does not free (or leak) the cache either.
    tf.tidy(() => {
      model.forward(x, { training: false });
    });
    expect(tf.memory().numTensors).toBe(withCache);
    model.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  test('stateDict is unchanged by fusion (no extra keys, same values)', () => {
    const model = new ResNet(cifar({ shortcut: 'C' }));
    randomizeBatchNorms(model);
    const before = model.stateDict();
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 14);
    evalLogits(model, x, true);
    const after = model.stateDict();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, t] of before) expect(Array.from(after.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    tf.dispose([...before.values(), ...after.values(), x]);
    model.dispose();
  });
});

describe('lesion hooks and gradients in eval mode', () => {
  test('branchEnabled = false and branchScale give the same outputs fused and unfused', () => {
    for (const spec of [cifar({ shortcut: 'B' }), bottleneck()]) {
      const model = new ResNet(spec);
      randomizeBatchNorms(model);
      const size = spec.stem === 'cifar' ? 8 : 32;
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 15);
      const blocks = model.blocks();
      blocks[0].branchEnabled = false;
      blocks[blocks.length - 1].branchScale = 0.5;
      const ref = evalLogits(model, x, false);
      expect(maxAbsDiff(ref, evalLogits(model, x, true))).toBeLessThan(1e-5 * Math.max(1, ...Array.from(ref, Math.abs)));
      blocks[0].branchEnabled = true;
      expect(maxAbsDiff(ref, evalLogits(model, x, true))).toBeGreaterThan(1e-4); // the lesion mattered
      model.dispose();
      x.dispose();
    }
  });

  test('gradients through an eval-mode forward still reach every parameter (the tape path is unfused)', () => {
    const model = new ResNet(cifar({ shortcut: 'B' }));
    randomizeBatchNorms(model);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 16);
    const f = () => tf.sum(tf.square(model.forward(x, { training: false }))) as tf.Scalar;
    const grads = (fused: boolean) => {
      const previous = setInferenceFusion(fused);
      try {
        const { value, grads: g } = tf.variableGrads(f, model.parameters());
        const out = new Map(Object.entries(g).map(([k, t]) => [k, t.dataSync() as Float32Array]));
        tf.dispose([value, ...Object.values(g)]);
        return out;
      } finally {
        setInferenceFusion(previous);
      }
    };
    evalLogits(model, x, true); // a cache exists; gradients must not use it
    const on = grads(true),
      off = grads(false);
    expect(on.size).toBe(model.parameters().length);
    for (const [k, g] of off) expect(maxAbsDiff(g, on.get(k)!)).toBe(0);
    model.dispose();
    x.dispose();
  });
});

describe('non-finite batch norm statistics fold exactly', () => {
  /** Same NaN places, same infinities, finite values within `tol`. */
  function expectSameValues(ref: Float32Array, got: Float32Array, tol = 1e-5): void {
    expect(got.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) {
      if (Number.isNaN(ref[i])) expect(got[i]).toBeNaN();
      else if (!Number.isFinite(ref[i])) expect(got[i]).toBe(ref[i]);
      else expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(ref[i])));
    }
  }

  test('a negative running_var gives NaN logits fused as unfused (never finite ones)', () => {
    const model = new ResNet(cifar());
    randomizeBatchNorms(model);
    const bn = model.namedModules().find(([, m]) => m instanceof BatchNorm2d)![1] as BatchNorm2d;
    tf.tidy(() => bn.runningVar.assign(tf.concat([tf.tensor1d([-0.5]), bn.runningVar.slice(1)])));
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 12);
    const ref = evalLogits(model, x, false);
    const got = evalLogits(model, x, true);
    const cached = tf.memory().numTensors; // now with the folded weights
    evalLogits(model, x, true);
    expect(tf.memory().numTensors).toBe(cached);
    expect(Array.from(ref).every(Number.isNaN)).toBe(true);
    expectSameValues(ref, got);
    model.dispose();
    x.dispose();
  });

  test('an infinite scale (gamma = ±Inf) is not folded: ±Inf where the unfolded batch norm gives them, not NaN', () => {
    const conv = new Conv2d(4, 4, 3, { rng: new Rng(4) });
    const bn = new BatchNorm2d(4);
    tf.tidy(() => bn.weight.assign(tf.tensor1d([1, Infinity, 0.5, -Infinity])));
    const x = tf.randomNormal([2, 5, 5, 4], 0, 1, 'float32', 13);
    const run = (fused: boolean) => {
      const previous = setInferenceFusion(fused);
      try {
        return tf.tidy(() => convBnAct(conv, bn, x, { training: false }, false).dataSync() as Float32Array);
      } finally {
        setInferenceFusion(previous);
      }
    };
    const ref = run(false);
    const got = run(true);
    expect(Array.from(ref).some((v) => v === Infinity)).toBe(true);
    expect(Array.from(ref).some((v) => v === -Infinity)).toBe(true);
    expectSameValues(ref, got);
    conv.dispose();
    bn.dispose();
    x.dispose();
  });
});
