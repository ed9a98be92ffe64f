import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import { ResNet, Rng, useBackend } from '@resnet-ts/core';
import { resnet } from '@resnet-ts/zoo';
import type { Dataset } from '@resnet-ts/train';
import {
  describeRatio,
  getExperiment,
  gradFlowFindings,
  gradientNorms,
  type GradFlowMeasurement,
  type GradFlowNet,
  layerWeights,
  meanGradientNorms,
  robustNorm,
  runGradFlow,
  tappedForward,
} from '@resnet-ts/lab';

const TRAIN = { training: true };

function tinyNet(o: { residual: boolean; batchNorm?: boolean; zeroInitResidual?: boolean }): ResNet {
  return resnet({
    block: 'basic',
    layers: [1, 1, 1],
    stem: 'cifar',
    inChannels: 1,
    widths: [4, 8, 8],
    stemWidth: 4,
    seed: 5,
    residual: o.residual,
    batchNorm: o.batchNorm ?? true,
    zeroInitResidual: o.zeroInitResidual ?? false,
  });
}

function tinySet(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    images: Uint8Array.from(rng.uniformArray(n * 8 * 8, 0, 255), Math.floor),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    shape: [8, 8, 1],
    classes: ['a', 'b', 'c'],
  };
}

let x: tf.Tensor4D;
let labels: tf.Tensor1D;

beforeAll(async () => {
  await useBackend('cpu');
  const rng = new Rng(2);
  x = tf.tensor4d(rng.normalArray(3 * 8 * 8), [3, 8, 8, 1]);
  labels = tf.tensor1d([1, 7, 3], 'int32');
});
afterAll(() => tf.dispose([x, labels]));

const loss = (logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits as tf.Tensor2D) as tf.Scalar;
const norm = (t: tf.Tensor) => tf.tidy(() => tf.norm(t).dataSync()[0]);

/** The norms computed by hand: tf.variableGrads through model.forward, and tf.grad from each block's input onwards. */
function byHand(model: ResNet): { layers: number[]; blockInputs: number[]; loss: number } {
  const saved = model.namedBuffers().map(([, v]) => tf.clone(v));
  const weights = layerWeights(model).map(([, v]) => v);
  const { value, grads } = tf.variableGrads(() => loss(model.forward(x, TRAIN)), weights);
  const layers = weights.map((v) => norm(grads[v.name]));
  const l = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  const blocks = model.blocks();
  const blockInputs = blocks.map((_, i) =>
    tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const m of model.stem) h = m.forward(h, TRAIN);
      for (let k = 0; k < i; k++) h = blocks[k].forward(h, TRAIN);
      const g = tf.grad((hi: tf.Tensor) => {
        let y = hi;
        for (let k = i; k < blocks.length; k++) y = blocks[k].forward(y, TRAIN);
        return loss(model.fc.forward(model.pool.forward(y)));
      })(h);
      return norm(g);
    }),
  );
  model.namedBuffers().forEach(([, v], i) => v.assign(saved[i]));
  tf.dispose(saved);
  return { layers, blockInputs, loss: l };
}

const close = (a: number[], b: number[]) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(b[i])));
};

describe('per-layer and per-block gradient norms', () => {
  test.each([
    ['ResNet-8 with BN', { residual: true }],
    ['plain-8 with BN', { residual: false }],
    ['ResNet-8 without BN', { residual: true, batchNorm: false }],
    ['plain-8 without BN', { residual: false, batchNorm: false }],
  ])('%s: equal the norms computed by hand with tf.variableGrads / tf.grad, no tensors leak', (_, o) => {
    const model = tinyNet(o);
    try {
      expect(layerWeights(model).map(([n]) => n)).toEqual([
        'conv1.weight',
        'layer1.0.conv1.weight',
        'layer1.0.conv2.weight',
        'layer2.0.conv1.weight',
        'layer2.0.conv2.weight',
        'layer3.0.conv1.weight',
        'layer3.0.conv2.weight',
        'fc.weight',
      ]); // depth 8 = 8 layers in depth order
      const ref = byHand(model);
      const buffers = model.namedBuffers().map(([, v]) => Array.from(v.dataSync()));
      const before = tf.memory().numTensors;
      const got = gradientNorms(model, x, labels);
      expect(tf.memory().numTensors).toBe(before);
      // measuring leaves the BN running statistics as they were
      expect(model.namedBuffers().map(([, v]) => Array.from(v.dataSync()))).toEqual(buffers);
      expect(got.layers).toHaveLength(8);
      expect(got.blockInputs).toHaveLength(3);
      expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-6);
      close(got.layers, ref.layers);
      close(got.blockInputs, ref.blockInputs);
      expect(got.layers.every((v) => v > 0)).toBe(true);
      // the mean over two copies of the same batch is the batch's norms
      const mean = meanGradientNorms(model, [
        { x, labels },
        { x, labels },
      ]);
      close(mean.layers, got.layers);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      model.dispose();
    }
  });

  test('the tapped forward pass is the model’s forward pass (training mode, as measured)', () => {
    const model = tinyNet({ residual: true });
    try {
      const a = tappedForward(model, x, true, (_, h) => tf.mul(h, 1));
      const b = model.forward(x, TRAIN);
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([a, b]);
    } finally {
      model.dispose();
    }
  });

  test('zeroInitResidual: the branch weights get exactly zero gradient at initialisation, the stem and classifier do not', () => {
    const model = tinyNet({ residual: true, zeroInitResidual: true });
    try {
      const g = gradientNorms(model, x, labels);
      expect(g.layers.slice(1, -1)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(g.layers[0]).toBeGreaterThan(0);
      expect(g.layers[7]).toBeGreaterThan(0);
      close(g.layers, byHand(model).layers);
    } finally {
      model.dispose();
    }
  });
});

test('robustNorm survives float32 over- and underflow', () => {
  const v = [3, 4];
  for (const scale of [1, 1e25, 1e-25]) {
    const t = tf.tensor1d(v.map((a) => a * scale));
    const n = robustNorm(t);
    expect(n.dataSync()[0] / (5 * scale)).toBeCloseTo(1, 5);
    tf.dispose([t, n]);
  }
  const z = tf.zeros([3]);
  const inf = tf.tensor1d([1, Infinity]);
  const [nz, ni] = [robustNorm(z), robustNorm(inf)];
  expect(nz.dataSync()[0]).toBe(0);
  expect(ni.dataSync()[0]).toBe(Infinity);
  tf.dispose([z, inf, nz, ni]);
});

test('describeRatio', () => {
  expect(describeRatio(0.01)).toBe('vanishing');
  expect(describeRatio(50)).toBe('exploding');
  expect(describeRatio(1.3)).toBe('balanced');
  expect(describeRatio(NaN)).toBe('undefined');
});

test('gradflow runs end to end on a tiny config and writes its report', async () => {
  expect(getExperiment('gradflow').name).toBe('gradflow');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-gradflow-'));
  const logs: string[] = [];
  const before = tf.memory().numTensors;
  try {
    const r = await runGradFlow({
      trainSet: tinySet(16, 1),
      dataName: 'tiny',
      depths: [8],
      settings: ['bn', 'no-bn', 'zero-init'],
      steps: [0, 2],
      batches: 2,
      batchSize: 4,
      widths: [4, 8, 8],
      padTo: [8, 8],
      augment: false,
      out,
      command: 'test',
      log: (m) => logs.push(m),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(logs.some((l) => l.startsWith('expected duration'))).toBe(true);
    const res = r.result;
    // 3 settings x plain/ResNet x 2 steps; the zero-init plain net is the bn one, reused
    expect(res.measurements).toHaveLength(12);
    expect(res.nets.filter((n) => n.sharedWith)).toEqual([
      expect.objectContaining({ net: 'plain8', setting: 'zero-init', sharedWith: 'bn' }),
    ]);
    for (const m of res.measurements) {
      expect(m.layers).toHaveLength(8);
      expect(m.blockInputs).toHaveLength(3);
      expect(m.ratio).toBeCloseTo(m.firstLayer / m.lastLayer, 10);
    }
    expect(res.nets.every((n) => n.trainedSteps === 2 || n.stopped !== 'done')).toBe(true);
    // training changed the numbers
    const at = (step: number) => res.measurements.find((m) => m.net === 'resnet8' && m.setting === 'bn' && m.step === step)!;
    expect(at(2).layers).not.toEqual(at(0).layers);

    const json = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(json.experiment).toBe('gradflow');
    expect(json.result.measurements).toHaveLength(12);
    const svgs = fs.readdirSync(out).filter((f) => f.endsWith('.svg'));
    expect(svgs.sort()).toEqual(
      ['bn', 'no-bn', 'zero-init'].flatMap((s) => [0, 2].flatMap((k) => [`${s}-inputs-step${k}.svg`, `${s}-weights-step${k}.svg`])).sort(),
    );
    const svg = fs.readFileSync(path.join(out, 'bn-weights-step0.svg'), 'utf8');
    expect(svg).toContain('data-name="plain-8"');
    expect(svg).toContain('data-name="ResNet-8"');
    expect((svg.match(/<polyline/g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(svg).toContain('stroke-dasharray'); // the plain net is dashed
    // zero-init: the branch weights' zero gradients are not drawn and say so
    expect(fs.readFileSync(path.join(out, 'zero-init-weights-step0.svg'), 'utf8')).toMatch(
      /ResNet-8 \(6 of 8 values non-finite or 0, not drawn\)/,
    );
    const md = fs.readFileSync(r.files.markdown, 'utf8');
    expect(md).toContain('| net | depth | setting | step | loss | first-layer ‖∂L/∂W‖ | last-layer ‖∂L/∂W‖ | ratio first/last |');
    expect(md).toContain('## Findings');
    expect(md).toMatch(/plain-8 [-\d.e]+ vs ResNet-8 [-\d.e]+/);
    expect(md).toContain('The paper’s claim');
    expect(md).toContain('What BN hides');
    expect(md).toContain('`test`');
  } finally {
    fs.rmSync(out, { recursive: true });
  }
});

test("the duration estimate times each architecture's step at the run's batch size, not a smaller probe scaled up", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-gradflow-estimate-'));
  const logs: string[] = [];
  const timed: number[] = [];
  // Injected timings (no clock): 0.5 s a step at any batch.
  const timeStep = (_model: ResNet, batch: number) => (timed.push(batch), 0.5);
  try {
    await runGradFlow({
      trainSet: tinySet(48, 1),
      dataName: 'tiny',
      depths: [8],
      settings: ['bn'],
      steps: [0, 1],
      batches: 1,
      batchSize: 24,
      widths: [4, 8, 8],
      padTo: [8, 8],
      augment: false,
      out,
      command: 'test',
      log: (m) => logs.push(m),
      timeStep,
    });
    // plain8 and resnet8, each timed once at the batch the run uses (24; a 16-image probe used to be scaled by 24/16).
    expect(timed).toEqual([24, 24]);
    // 2 nets x (1 SGD step + 1 batch x 2 measuring steps) passes x 0.5 s = 3 s.
    expect(logs.find((l) => l.startsWith('expected duration'))).toMatch(
      /^expected duration: about 3\.00 s on \w+ \(3 forward\+backward passes of 24 images per net/,
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('the paper-claim finding says when the plain net vanishes once training starts, though not at initialisation', () => {
  const m = (family: 'plain' | 'resnet', step: number, ratio: number): GradFlowMeasurement => ({
    net: `${family}218`,
    family,
    depth: 218,
    setting: 'bn',
    step,
    loss: 2.3,
    layers: [ratio, 1],
    blockInputs: [ratio, 1],
    firstLayer: ratio,
    lastLayer: 1,
    ratio,
    blockRatio: ratio,
    nonFinite: 0,
    zeros: 0,
  });
  const net = (family: 'plain' | 'resnet') =>
    ({
      net: `${family}218`,
      family,
      depth: 218,
      setting: 'bn',
      batchNorm: true,
      zeroInitResidual: false,
      params: 1,
      layerNames: [],
      trainedSteps: 30,
      stopped: 'done',
    }) as GradFlowNet;
  const claim = (plainAt30: number) =>
    gradFlowFindings(
      [m('plain', 0, 1.3e13), m('resnet', 0, 0.53), m('plain', 30, plainAt30), m('resnet', 30, 0.3)],
      [net('plain'), net('resnet')],
      [218],
      ['bn'],
      [0, 30],
    ).find((l) => l.startsWith('**The paper’s claim.**'))!;
  expect(claim(0)).toContain(
    'qualifies He et al.’s argument: with BN the deepest plain net’s gradient does not vanish but grows towards the input',
  );
  expect(claim(0)).toContain(
    '**So the argument holds at initialisation only:** once training starts, plain-218’s gradient does vanish with BN (first/last ‖∂L/∂W‖ 0 after 30 steps).',
  );
  expect(claim(0.5)).not.toContain('holds at initialisation only');
});
