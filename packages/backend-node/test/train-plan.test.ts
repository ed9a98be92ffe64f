/**
 * The native engine's compiled training plan (src/native/train-plan*.ts) gives the loss, every
 * parameter's gradient, the input's gradient and the batch norms' running statistics that the
 * layer-by-layer path gives, bit for bit (the same kernels in the same order), NaN included; a model
 * it cannot express trains layer by layer with the reason recorded. Each case checks that the plan
 * really ran (or really did not).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BatchNorm2d, ResNet, lossAndGradients, setTrainingPlan, softmaxCrossEntropyLoss, useBackend } from '@resnet-ts/core';
import { createModel, type SpecOverrides } from '@resnet-ts/zoo';
import '../src/index.js';
import { lastTrainingPlanFallback, loadAddon, trainingPlanRuns } from '../src/native/index.js';
import { describeNative, expectSameValues, randomizeBatchNorms, uniform } from './plan-helpers.js';

/** Everything one training step produces: loss, gradients by name, the model's buffers after it. */
function step(model: ResNet, x: tf.Tensor, labels: tf.Tensor, plan: boolean): Map<string, Float32Array> {
  const previous = setTrainingPlan(plan);
  const before = trainingPlanRuns();
  const tensors = tf.memory().numTensors;
  try {
    const { loss, grads } = lossAndGradients(model, x, labels);
    const out = new Map<string, Float32Array>([['loss', loss.dataSync() as Float32Array]]);
    for (const [k, g] of Object.entries(grads)) out.set(`grad ${k}`, g.dataSync() as Float32Array);
    for (const [k, b] of model.namedBuffers()) out.set(`buffer ${k}`, Float32Array.from(b.dataSync()));
    tf.dispose([loss, ...Object.values(grads)]);
    expect(trainingPlanRuns() - before).toBe(plan ? 1 : 0);
    // No tensor left behind (the layers' first step may cache a few, e.g. option A's selection filters).
    if (plan) expect(tf.memory().numTensors).toBe(tensors);
    return out;
  } finally {
    setTrainingPlan(previous);
  }
}

/** Runs one step with the plan and one without, from the same running statistics; expects the same numbers, returns the plan's. */
function expectSameStep(model: ResNet, x: tf.Tensor, labels: tf.Tensor, tol = 0): Map<string, Float32Array> {
  const snapshot = model.namedBuffers().map(([, b]) => tf.clone(b));
  const kernels = step(model, x, labels, false);
  model.namedBuffers().forEach(([, b], i) => b.assign(snapshot[i]));
  tf.dispose(snapshot);
  const planned = step(model, x, labels, true);
  expect(lastTrainingPlanFallback()).toBeNull();
  expect([...planned.keys()].sort()).toEqual([...kernels.keys()].sort());
  for (const [k, ref] of kernels) {
    if (tol === 0) expectIdentical(planned.get(k)!, ref, k);
    else expectSameValues(planned.get(k)!, ref, tol);
  }
  return planned;
}

/** The same float32 numbers (NaN equal to NaN); names the first difference. */
function expectIdentical(a: Float32Array, ref: Float32Array, what: string): void {
  expect(a.length).toBe(ref.length);
  const i = ref.findIndex((v, j) => !(v === a[j] || (Number.isNaN(v) && Number.isNaN(a[j]))));
  expect(i < 0 ? 'identical' : `${what}[${i}]: ${a[i]} vs ${ref[i]}`).toBe('identical');
}

const batch = (shape: number[], seed: number) =>
  tf.tensor4d(
    uniform(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape as [number, number, number, number],
  );
const labelsFor = (n: number, k = 10) =>
  tf.tensor1d(
    Array.from({ length: n }, (_, i) => (i * 7) % k),
    'int32',
  );

describeNative('compiled training plan on native', () => {
  beforeAll(async () => {
    await useBackend('native');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  const oddStages = [
    { block: 'basic', width: 10, depth: 2, stride: 1 },
    { block: 'basic', width: 20, depth: 2, stride: 2 },
  ];
  const preactStages = [
    { block: 'preact-basic', width: 8, depth: 2, stride: 1 },
    { block: 'preact-basic', width: 16, depth: 2, stride: 2 },
  ];
  const CASES: [string, string, SpecOverrides, number[], number][] = [
    ['resnet20, option A', 'resnet20', {}, [6, 32, 32, 3], 0],
    ["resnet20, option A with 'split' padding", 'resnet20', { shortcutParams: { padding: 'split' } }, [2, 32, 32, 3], 0],
    ['resnet20, option B', 'resnet20', { shortcut: 'B' }, [2, 32, 32, 3], 0],
    ['resnet20, option C', 'resnet20', { shortcut: 'C' }, [2, 32, 32, 3], 0],
    ['plain-20 (no shortcuts)', 'resnet20', { residual: false }, [2, 32, 32, 3], 0],
    ['widths 10 and 20, 7 classes, odd image size', 'resnet20', { stemWidth: 10, stages: oddStages, numClasses: 7 }, [3, 17, 23, 3], 0],
    ['resnet18 (max pooling)', 'resnet18', { numClasses: 10 }, [2, 64, 64, 3], 0],
    ['resnet50 (bottlenecks)', 'resnet50', { numClasses: 10 }, [2, 64, 64, 3], 0],
    [
      'preact-resnet18 on a CIFAR stem (batch norms before convs, un-activated sums)',
      'preact-resnet18',
      { stem: 'cifar', numClasses: 10, stemWidth: 8, stages: preactStages },
      [2, 32, 32, 3],
      0,
    ],
    // Conv biases: the plan takes their gradient from oneDNN's backward-weights pass, the layers from a
    // separate sum over the batch (the same terms added in another order: float32 rounding apart).
    ['resnet20 without batch norm (conv biases)', 'resnet20', { batchNorm: false }, [2, 32, 32, 3], 1e-5],
  ];

  it.each(CASES)('%s: the same loss, gradients and running statistics as the layers', (_name, arch, overrides, shape, tol) => {
    const model = createModel(arch, { seed: 3, ...overrides });
    randomizeBatchNorms(model, 5);
    const x = batch(shape, 11);
    const labels = labelsFor(shape[0], model.spec.numClasses);
    expectSameStep(model, x, labels, tol);
    tf.dispose([x, labels]);
    model.dispose();
  });

  it("adds a block output's two gradients inside the batch norm's gradient kernel: one Add pass left, for the stem's output", () => {
    const model = createModel('resnet20', { seed: 6, shortcut: 'B' });
    const x = batch([2, 32, 32, 3], 13);
    const labels = labelsFor(2);
    const addon = loadAddon().addon!;
    const binary = addon.binary;
    const adds: number[] = [];
    addon.binary = (op, ...rest) => {
      const out = rest[4] as Float32Array;
      if (op === 'Add' && out.length >= 1024) adds.push(out.length); // not the loss's small Adds
      return binary.call(addon, op, ...rest);
    };
    try {
      const { loss, grads } = lossAndGradients(model, x, labels);
      tf.dispose([loss, ...Object.values(grads)]);
    } finally {
      addon.binary = binary;
    }
    // 9 block inputs have two gradients each (their conv and their shortcut); 8 are batch-norm outputs with a residual
    expect(adds).toEqual([2 * 32 * 32 * 16]);
    tf.dispose([x, labels]);
    model.dispose();
  });

  it('gives the gradient of the images, and a lesioned model the same as the layers', () => {
    const model = createModel('resnet20', { seed: 4 });
    model.blocks()[4].branchEnabled = false;
    const x = batch([2, 32, 32, 3], 12);
    const labels = labelsFor(2);
    const inputGrad = (plan: boolean) => {
      const previous = setTrainingPlan(plan);
      try {
        const g = tf.grad((img: tf.Tensor) => softmaxCrossEntropyLoss(model.forward(img, { training: true }), labels))(x);
        const v = g.dataSync() as Float32Array;
        g.dispose();
        return v;
      } finally {
        setTrainingPlan(previous);
      }
    };
    const before = trainingPlanRuns();
    const planned = inputGrad(true);
    expect(trainingPlanRuns()).toBe(before + 1);
    expect(Array.from(planned)).toEqual(Array.from(inputGrad(false)));
    expect(planned.some((v) => v !== 0)).toBe(true);
    expectSameStep(model, x, labels);
    tf.dispose([x, labels]);
    model.dispose();
  });

  it('keeps NaN: a NaN weight gives the NaN loss and gradients the layers give', () => {
    const model = createModel('resnet20', { seed: 6 });
    const w = model.blocks()[2].namedParameters()[0][1];
    const values = Float32Array.from(w.dataSync());
    values[5] = NaN;
    w.assign(tf.tensor(values, w.shape));
    const x = batch([2, 32, 32, 3], 13);
    const labels = labelsFor(2);
    const planned = expectSameStep(model, x, labels);
    expect(Number.isNaN(planned.get('loss')![0])).toBe(true);
    tf.dispose([x, labels]);
    model.dispose();
  });

  it('keeps NaN through max pooling: a NaN pixel gives what the layers give (resnet18)', () => {
    const model = createModel('resnet18', { seed: 9, numClasses: 10 });
    const values = uniform(2 * 64 * 64 * 3, 21);
    values[100] = NaN;
    const x = tf.tensor4d(values, [2, 64, 64, 3]);
    const labels = labelsFor(2);
    const planned = expectSameStep(model, x, labels);
    expect(Number.isNaN(planned.get('loss')![0])).toBe(true);
    tf.dispose([x, labels]);
    model.dispose();
  });

  it("a model made on the cpu engine trains on native through the plan at once, with the layers' numbers", async () => {
    // Its weights live in the cpu engine's storage until read on native (tfjs moves them on access).
    await useBackend('cpu');
    const [planned, layered] = [createModel('resnet20', { seed: 10 }), createModel('resnet20', { seed: 10 })];
    const x = batch([2, 32, 32, 3], 18);
    const labels = labelsFor(2);
    await useBackend('native');
    const viaPlan = step(planned, x, labels, true);
    expect(lastTrainingPlanFallback()).toBeNull();
    const viaLayers = step(layered, x, labels, false);
    // Gradients are keyed by variable name, unique per model: compare in order (parameters, then buffers).
    const [a, b] = [[...viaPlan], [...viaLayers]];
    expect(a.length).toBe(b.length);
    b.forEach(([k, ref], i) => expectIdentical(a[i][1], ref, k));
    tf.dispose([x, labels]);
    planned.dispose();
    layered.dispose();
  });

  it('two forward passes under one tape each get their own activations', () => {
    const model = createModel('resnet20', { seed: 7 });
    const [x1, x2] = [batch([2, 32, 32, 3], 14), batch([2, 32, 32, 3], 15)];
    const labels = labelsFor(2);
    const grads = (plan: boolean) => {
      const previous = setTrainingPlan(plan);
      try {
        const snapshot = model.namedBuffers().map(([, b]) => tf.clone(b));
        const f = () =>
          tf.add(
            softmaxCrossEntropyLoss(model.forward(x1, { training: true }), labels),
            softmaxCrossEntropyLoss(model.forward(x2, { training: true }), labels),
          ) as tf.Scalar;
        const { value, grads: g } = tf.variableGrads(f, model.parameters());
        const out = Object.values(g).map((t) => Array.from(t.dataSync()));
        tf.dispose([value, ...Object.values(g)]);
        model.namedBuffers().forEach(([, b], i) => b.assign(snapshot[i]));
        tf.dispose(snapshot);
        return out;
      } finally {
        setTrainingPlan(previous);
      }
    };
    const before = trainingPlanRuns();
    const planned = grads(true);
    expect(trainingPlanRuns()).toBe(before + 2);
    expect(planned).toEqual(grads(false));
    tf.dispose([x1, x2, labels]);
    model.dispose();
  });

  it('a forward pass in training mode without a gradient tape updates the statistics and holds nothing', () => {
    const model = createModel('resnet20', { seed: 8 });
    const x = batch([4, 32, 32, 3], 16);
    const run = (plan: boolean) => {
      const previous = setTrainingPlan(plan);
      try {
        const y = model.forward(x, { training: true });
        const v = Array.from(y.dataSync());
        y.dispose();
        return [v, ...model.namedBuffers().map(([, b]) => Array.from(b.dataSync()))];
      } finally {
        setTrainingPlan(previous);
      }
    };
    const snapshot = model.namedBuffers().map(([, b]) => tf.clone(b));
    const tensors = tf.memory().numTensors;
    const planned = run(true);
    for (let i = 0; i < 3; i++) run(true);
    expect(tf.memory().numTensors).toBe(tensors);
    model.namedBuffers().forEach(([, b], i) => b.assign(snapshot[i]));
    expect(planned).toEqual(run(false));
    tf.dispose([x, ...snapshot]);
    model.dispose();
  });

  it.each([
    ['resnet18, option D (ceil-mode average pooling)', () => createModel('resnet18', { seed: 1, shortcut: 'D' }), /AveragePool/],
    ['a frozen batch norm', () => freezeFirstBatchNorm(createModel('resnet20', { seed: 1 })), /frozen statistics/],
    ['a scaled branch (Mul)', () => scaleBranch(createModel('resnet20', { seed: 1 }), 0.5), /constant/],
    [
      'a branch gated by a tensor (path sampling)',
      () => scaleBranch(createModel('resnet20', { seed: 1 }), tf.scalar(0.5)),
      /tensor branchScale/,
    ],
  ])('%s: trains layer by layer, the reason recorded', (_name, make, reason) => {
    const model = make();
    const x = batch([2, 64, 64, 3], 17);
    const labels = labelsFor(2);
    const before = trainingPlanRuns();
    const { loss, grads } = lossAndGradients(model, x, labels);
    expect(trainingPlanRuns()).toBe(before);
    expect(lastTrainingPlanFallback()).toMatch(reason);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    tf.dispose([loss, ...Object.values(grads), x, labels]);
    model.dispose();
  });
});

function freezeFirstBatchNorm(model: ResNet): ResNet {
  const bn = model.namedModules().find(([, m]) => m instanceof BatchNorm2d)![1] as BatchNorm2d;
  bn.frozenStatistics = true;
  return model;
}

function scaleBranch(model: ResNet, scale: number | tf.Tensor): ResNet {
  model.blocks()[1].branchScale = scale;
  return model;
}
