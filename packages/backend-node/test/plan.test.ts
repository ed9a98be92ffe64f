/**
 * The native engine's compiled inference plan (src/native/plan*.ts, native/plan.cc) gives the same
 * logits as the kernel-by-kernel path (and as PyTorch, on the committed fixtures), NaN and ±Inf
 * included, for every architecture family the zoo has; a model it cannot express falls back to the
 * kernels with the same answer. Each case checks that the plan really ran (or really did not).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as path from 'node:path';
import { BatchNorm2d, ResNet, useBackend } from '@resnet-ts/core';
import { loadCheckpoint, loadNpy } from '@resnet-ts/core/node';
import { createModel, type SpecOverrides } from '@resnet-ts/zoo';
import '../src/index.js';
import { compileNativePlan, lastPlanFallback, loadAddon, setNativeWinograd } from '../src/native/index.js';
import { describeNative, expectSameValues, input, logits, planRuns, randomizeBatchNorms } from './plan-helpers.js';

const FIX = path.resolve(__dirname, '..', '..', 'core', 'test', 'fixtures', 'parity');

/** Two stages of two blocks at widths 10 and 20 (channel counts that do not fill oneDNN's 8- or 16-channel blocks). */
const oddStages = (block: string) => [
  { block, width: 10, depth: 2, stride: 1 },
  { block, width: 20, depth: 2, stride: 2 },
];

/** Logits with the plan (asserting it ran) and without it (asserting it did not). */
function bothWays(model: ResNet, x: tf.Tensor): { planned: Float32Array; kernels: Float32Array } {
  let planned = new Float32Array();
  let kernels = new Float32Array();
  expect(planRuns(() => (planned = logits(model, x, true)))).toBe(1);
  expect(lastPlanFallback()).toBeNull();
  expect(planRuns(() => (kernels = logits(model, x, false)))).toBe(0);
  return { planned, kernels };
}

describeNative('compiled inference plan on native', () => {
  beforeAll(async () => {
    await useBackend('native');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  const CASES: [string, string, SpecOverrides, number[]][] = [
    ['resnet20, option A', 'resnet20', {}, [4, 32, 32, 3]],
    ["resnet20, option A with 'split' padding", 'resnet20', { shortcutParams: { padding: 'split' } }, [2, 32, 32, 3]],
    ['resnet20, option B', 'resnet20', { shortcut: 'B' }, [2, 32, 32, 3]],
    ['resnet20, option C', 'resnet20', { shortcut: 'C' }, [2, 32, 32, 3]],
    ['plain-20 (no shortcuts)', 'resnet20', { residual: false }, [2, 32, 32, 3]],
    ['resnet20 without batch norm (conv biases)', 'resnet20', { batchNorm: false }, [2, 32, 32, 3]],
    ['resnet18', 'resnet18', {}, [2, 64, 64, 3]],
    ['resnet50', 'resnet50', {}, [1, 64, 64, 3]],
    ['resnet50, stride on the 1x1 (v1)', 'resnet50', { strideMode: 'v1' }, [1, 64, 64, 3]],
    ['preact-resnet18 (unfolded batch norms, un-activated sums)', 'preact-resnet18', {}, [2, 32, 32, 3]],
    [
      'widths that are no multiple of the channel block (10, 20; 7 classes)',
      'resnet20',
      { stemWidth: 10, stages: oddStages('basic'), numClasses: 7 },
      [3, 17, 23, 3],
    ],
    ['resnet18, option D (ceil-mode average pooling on odd sizes)', 'resnet18', { shortcut: 'D' }, [1, 65, 71, 3]],
    [
      'preact blocks with odd widths, option B',
      'preact-resnet110',
      { stemWidth: 10, stages: oddStages('preact-basic'), numClasses: 7 },
      [3, 17, 23, 3],
    ],
  ];

  test.each(CASES)('%s: the plan gives the kernels’ logits', (_label, name, overrides, shape) => {
    const model = createModel(name, overrides).eval();
    randomizeBatchNorms(model, 11);
    const x = input(shape);
    const { planned, kernels } = bothWays(model, x);
    expectSameValues(planned, kernels);
    x.dispose();
    model.dispose();
  });

  test.each(['resnet20', 'bottleneck'])('%s: the plan matches PyTorch (committed fixture)', (name) => {
    const { model } = loadCheckpoint(path.join(FIX, `${name}.safetensors`));
    const xNchw = loadNpy(path.join(FIX, `${name}.input.npy`));
    const x = tf.transpose(xNchw, [0, 2, 3, 1]);
    const ref = loadNpy(path.join(FIX, `${name}.logits.npy`));
    const { planned } = bothWays(model, x);
    const worst = expectSameValues(planned, ref.dataSync() as Float32Array);
    console.log(`plan parity with PyTorch, ${name}: max abs diff ${worst.toExponential(2)}`);
    tf.dispose([xNchw, x, ref]);
    model.dispose();
  });

  describe('NaN and ±Inf propagate through the fused kernels as through the unfused ones', () => {
    // A NaN pixel reaches every logit of its image, through resnet18's stem max pool too (core's max
    // pooling propagates NaN, as PyTorch's does; tfjs's dropped it and gave finite logits).
    const nets: [string, SpecOverrides, boolean][] = [
      ['resnet20', {}, true],
      ['preact-resnet18', {}, true],
      ['resnet18', {}, true],
    ];
    test.each(nets)('%s: non-finite input pixels', (name, overrides, nanEverywhere) => {
      const model = createModel(name, overrides).eval();
      randomizeBatchNorms(model, 5);
      const values = input([4, 32, 32, 3]).dataSync() as Float32Array;
      values[3 * (32 * 5 + 7)] = NaN; // image 0
      values[32 * 32 * 3 + 11] = Infinity; // image 1
      values[2 * 32 * 32 * 3 + 200] = -Infinity; // image 2; image 3 stays finite
      const x = tf.tensor4d(values, [4, 32, 32, 3]);
      const { planned, kernels } = bothWays(model, x);
      const classes = kernels.length / 4;
      if (nanEverywhere) expect(kernels.slice(0, classes).every(Number.isNaN)).toBe(true); // NaN reaches every logit of image 0
      expect(kernels.slice(3 * classes).every(Number.isFinite)).toBe(true);
      expectSameValues(planned, kernels);
      x.dispose();
      model.dispose();
    });

    test('resnet20: a NaN or infinite weight', () => {
      const model = createModel('resnet20').eval();
      randomizeBatchNorms(model, 3);
      const x = input([2, 32, 32, 3]);
      for (const bad of [NaN, Infinity, -Infinity]) {
        const conv = model
          .blocks()[4]
          .namedParameters()
          .find(([n]) => n.endsWith('conv1.weight'))![1];
        const w = conv.dataSync().slice() as Float32Array;
        w[5] = bad;
        conv.assign(tf.tensor(w, conv.shape));
        const { planned, kernels } = bothWays(model, x);
        expect(kernels.some((v) => !Number.isFinite(v))).toBe(true);
        expectSameValues(planned, kernels);
      }
      x.dispose();
      model.dispose();
    });

    // A zero gamma/var pair makes the fold inexact (±Inf scale: that conv keeps its BatchNormalization);
    // a negative running_var gives NaN; preact's batch norms before a conv are never folded.
    test.each(['resnet20', 'preact-resnet18'])('%s: broken batch-norm statistics (negative or zero variance, Inf mean)', (name) => {
      const model = createModel(name).eval();
      randomizeBatchNorms(model, 8);
      const bns = model.namedModules().filter(([, m]) => m instanceof BatchNorm2d) as [string, BatchNorm2d][];
      const edit = (v: tf.Variable, i: number, value: number) => {
        const values = v.dataSync().slice() as Float32Array;
        values[i] = value;
        v.assign(tf.tensor1d(values));
      };
      edit(bns[1][1].runningVar, 2, -1);
      edit(bns[3][1].runningMean, 0, Infinity);
      edit(bns[4][1].runningVar, 1, 0);
      edit(bns[4][1].weight, 1, 3e38); // scale 3e38 / sqrt(eps): Inf in float32
      const x = input([2, 32, 32, 3]);
      const { planned, kernels } = bothWays(model, x);
      expect(kernels.some((v) => !Number.isFinite(v))).toBe(true);
      expectSameValues(planned, kernels);
      x.dispose();
      model.dispose();
    });
  });

  test('3x3 stride-1 convs of 32+ channels run as Winograd convs where oneDNN has them, from the second run on; setNativeWinograd(false) gives direct convs and the same logits', () => {
    const addon = loadAddon().addon!;
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 3);
    const shape = [4, 32, 32, 3];
    const x = input(shape);
    const wino = (primitives: string[]) => primitives.filter((p) => p.includes('wino')).length;
    /** Two runs of a fresh plan: what it is made of and its logits, at each. */
    const build = (winograd: boolean) => {
      const previous = setNativeWinograd(winograd);
      try {
        const plan = compileNativePlan(addon, model, shape)!;
        const runs = [0, 1].map(() => {
          const y = plan.run(x)!;
          const values = y.dataSync() as Float32Array;
          y.dispose();
          return { ...plan.info(), values };
        });
        plan.dispose();
        return runs;
      } finally {
        setNativeWinograd(previous);
      }
    };
    const direct = build(false);
    const [first, second] = build(true);
    expect(direct.map((r) => wino(r.primitives))).toEqual([0, 0]);
    expect(direct.map((r) => r.winogradDeferred)).toEqual([0, 0]);
    // oneDNN 2.x has f32 Winograd kernels for AVX-512 only; ResNet-20's 10 convs of 32 and 64 channels qualify.
    const avx512 = direct[0].primitives.some((p) => p.includes('avx512_core'));
    // The first run defers them (their filter transform costs more than they save in one run); the second rebuilds with them.
    expect([wino(first.primitives), first.winogradDeferred]).toEqual([0, avx512 ? 10 : 0]);
    expect([wino(second.primitives), second.winogradDeferred]).toEqual([avx512 ? 10 : 0, 0]);
    expect(second.primitives.length).toBe(first.primitives.length);
    for (const run of [first, second, direct[1]]) expectSameValues(run.values, direct[0].values);
    expectSameValues(second.values, logits(model, x, false));
    x.dispose();
    model.dispose();
  });

  test('a model the plan cannot express falls back to the kernels with the same answer', () => {
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 2);
    const x = input([2, 32, 32, 3]);
    model.blocks()[2].branchScale = 0.5; // a Mul node: not in the plan's op set
    let planned = new Float32Array();
    expect(planRuns(() => (planned = logits(model, x, true)))).toBe(0);
    expect(lastPlanFallback()).toMatch(/Mul/);
    expectSameValues(planned, logits(model, x, false), 0);
    x.dispose();
    model.dispose();
  });
});
