/**
 * The native (oneDNN) backend against tfjs's cpu backend, forward and backward.
 *
 * Tolerance: for every output and gradient, max |native - cpu| <= 1e-4 * max |cpu| (TOL below).
 * Each case also checks that the native kernel really ran (not its cpu fallback).
 * Skipped, with the reason printed, when the addon is not built (no libdnnl-dev at build time).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  BatchNorm2d,
  Conv2d,
  batchNormTrain,
  convBnAddRelu,
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  CONV2D_ADD_RELU,
  SGD_STEP,
  sgdStep,
  MAX_POOL_NAN,
  maxPool2d,
} from '@resnet-ts/core';
import { isNativeAvailable, loadAddon, nativePlugin, kernelStats, setKernelStats, NATIVE_INSTALL_HINT } from '../src/native/index.js';
import { uniform } from './plan-helpers';

const TOL = 1e-4;

const available = isNativeAvailable();
if (!available) {
  console.warn(`native backend tests SKIPPED: ${loadAddon().error}. To run them: ${NATIVE_INSTALL_HINT}`);
}
const describeNative = available ? describe : describe.skip;

/** Deterministic uniform values in [-1, 1) (the plan tests' generator). */
const rand = (n: number, seed: number): Float32Array => uniform(n, seed);

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** Runs f and the gradients of sum(f(xs) * r) w.r.t. every input on `backend`. */
async function run(backend: string, f: Fn, shapes: number[][], seed: number, withGrads = true): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = shapes.map((s, i) => tf.tensor(rand(size(s), seed + i), s));
    const y = f(...xs);
    const r = tf.tensor(rand(y.size, seed + 100), y.shape);
    if (!withGrads) return [y.dataSync() as Float32Array];
    const grads = tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(f(...ins), r)))(xs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

function maxRelDiff(a: Float32Array, ref: Float32Array): number {
  expect(a.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Compares native and cpu outputs + gradients; `kernels` must have run natively at least once. */
async function check(f: Fn, shapes: number[][], kernels: string[], seed = 1, withGrads = true): Promise<void> {
  const ref = await run('cpu', f, shapes, seed, withGrads);
  setKernelStats(true);
  const got = await run('native', f, shapes, seed, withGrads);
  const stats = new Map(kernelStats);
  setKernelStats(false);
  for (let i = 0; i < ref.length; i++) {
    const d = maxRelDiff(got[i], ref[i]);
    if (!(d <= TOL)) throw new Error(`${i === 0 ? 'output' : `gradient ${i - 1}`}: max diff ${d} relative to max |ref| > ${TOL}`);
  }
  for (const k of kernels) {
    const s = stats.get(k);
    if (!s || s.native === 0) throw new Error(`kernel ${k} did not run natively (stats: ${JSON.stringify(s)})`);
  }
}

/** `run` on cpu, then on native with kernel stats on: both results, and how often `kernel` ran natively. */
async function onCpuThenNative<T>(kernel: string, run: (backend: string) => Promise<T>): Promise<{ ref: T; got: T; runs: number }> {
  const ref = await run('cpu');
  setKernelStats(true);
  const got = await run('native');
  const runs = kernelStats.get(kernel)?.native ?? 0;
  setKernelStats(false);
  return { ref, got, runs };
}

describeNative('native backend (oneDNN) vs cpu', () => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await nativePlugin.setup();
    expect(tf.getBackend()).toBe('native');
  });
  afterAll(async () => {
    await tf.setBackend(previous ?? 'cpu');
  });

  test('plug-in reports available with its oneDNN version', async () => {
    const a = await nativePlugin.isAvailable();
    expect(a.available).toBe(true);
    expect(a.reason).toMatch(/oneDNN \d+\.\d+/);
    expect(nativePlugin.priority).toBe(40);
  });

  const convCases: [number, number, number | 'same' | 'valid'][] = [
    [1, 1, 0],
    [1, 2, 0],
    [3, 1, 1],
    [3, 2, 1],
    [3, 1, 'same'],
    [3, 2, 'same'],
    [7, 2, 3],
    [7, 1, 3],
    [3, 2, 'valid'],
    [1, 2, 'same'],
  ];
  test.each(convCases)('conv2d kernel %p, stride %p, pad %p: forward + both gradients', async (k, s, pad) => {
    await check(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad),
      [
        [2, 11, 10, 5],
        [k, k, 5, 6],
      ],
      ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
      k * 10 + s,
    );
  });

  test('3x3 stride-1 convs of 32+ channels run as Winograd convs where oneDNN has them (AVX-512); the weight gradient from 64 channels', () => {
    const addon = loadAddon().addon!;
    // params: n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw
    const conv = (c: number) => [2, 6, 10, c, 3, 3, c, 6, 10, 1, 1, 1, 1, 1, 1, 1, 1];
    const passes = ['fwd', 'bwd_data', 'bwd_weights'];
    const isWino = (c: number) => passes.map((pass) => addon.convImpl(conv(c), pass).includes('wino'));
    // oneDNN 2.x has f32 Winograd kernels for AVX-512 only; the values are checked by the conformance
    // suite's 32-channel conv and ResNet-20 training step.
    const avx512 = addon.convImpl(conv(16), 'bwd_weights').includes('avx512_core');
    // 16 channels: the addon's own Winograd forward and backward-data passes (wino16.test.ts)
    expect(isWino(16)).toEqual([avx512, avx512, false]);
    expect(isWino(32)).toEqual([avx512, avx512, false]);
    expect(isWino(64)).toEqual([avx512, avx512, avx512]);
  });

  test('16-channel 3x3 stride-1 convs (Winograd on AVX-512): forward and both gradients match cpu; a NaN filter tap reaches exactly its outputs', async () => {
    const addon = loadAddon().addon!;
    // params: n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw
    const params = [2, 9, 7, 16, 3, 3, 16, 9, 7, 1, 1, 1, 1, 1, 1, 1, 1];
    expect(addon.convImpl(params, 'fwd').includes('wino16')).toBe(addon.convImpl(params, 'bwd_weights').includes('avx512'));
    const shapes = [
      [2, 9, 7, 16],
      [3, 3, 16, 16],
    ];
    await check(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 1),
      shapes,
      ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
      77,
    );
    expect(tf.getBackend()).toBe('native');
    // Each output sees its own taps: a NaN at one tap of one filter reaches exactly the outputs that tap
    // touches (not those whose tap reads the zero padding: the pass runs direct then, see wino16.cc).
    const x = tf.randomNormal([1, 5, 5, 16], 0, 1, 'float32', 3);
    const w = tf.buffer([3, 3, 16, 16], 'float32', tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 4).dataSync());
    w.set(NaN, 0, 2, 5, 7); // tap (0, 2) of input channel 5 into output channel 7
    const y = tf.conv2d(x, w.toTensor() as tf.Tensor4D, 1, 1).arraySync() as number[][][][];
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) {
        // output (i, j) reads input (i - 1, j + 1) through tap (0, 2): inside the image unless on an edge
        const reaches = i >= 1 && j <= 3;
        expect([i, j, Number.isNaN(y[0][i][j][7])]).toEqual([i, j, reaches]);
        expect(Number.isNaN(y[0][i][j][6])).toBe(false);
      }
  });

  // torch.optim.SGD's variants: [momentum, dampening, weightDecay, nesterov, with a buffer (not the first step)].
  const sgdCases: [number, number, number, boolean, boolean][] = [
    [0, 0, 0, false, false],
    [0, 0, 1e-4, false, false],
    [0.9, 0, 1e-4, false, false],
    [0.9, 0, 1e-4, false, true],
    [0.9, 0.1, 5e-4, false, true],
    [0.9, 0, 1e-4, true, true],
  ];
  test.each(sgdCases)(
    "core's SGD step (momentum %p, dampening %p, decay %p, nesterov %p, buffer %p): the fused kernel gives the tfjs ops' bits, NaN and ±Inf included",
    async (momentum, dampening, weightDecay, nesterov, withBuf) => {
      const n = 4099; // not a multiple of any vector width
      const values = (seed: number): Float32Array => {
        const v = rand(n, seed);
        v[5] = NaN;
        v[17 + seed] = Infinity;
        v[40 + seed] = -Infinity;
        v[99] = -0;
        return v;
      };
      const update = async (backend: string): Promise<Float32Array[]> => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const [p, g] = [tf.tensor1d(values(1)), tf.tensor1d(values(2))];
          const buf = withBuf ? tf.tensor1d(values(3)) : null;
          const next = sgdStep(p, g, buf, { lr: 0.1 * 0.37, momentum, dampening, weightDecay, nesterov });
          return [next.param, ...(next.buf ? [next.buf] : [])].map((t) => t.dataSync() as Float32Array);
        });
      };
      const { ref, got, runs } = await onCpuThenNative(SGD_STEP, update);
      expect(runs).toBe(1);
      expect(got.length).toBe(momentum !== 0 ? 2 : 1);
      for (let i = 0; i < ref.length; i++) expect(Buffer.from(got[i].buffer).equals(Buffer.from(ref[i].buffer))).toBe(true);
    },
  );

  test.each([
    [3, 2, 1],
    [2, 2, 0],
    [3, 1, 1],
  ])(
    "core's max pooling (window %p, stride %p, pad %p) keeps NaN as on cpu (core's test checks cpu against PyTorch's rule); gradient as tfjs's",
    async (k, s, pad) => {
      const shape: [number, number, number, number] = [2, 9, 8, 19];
      const values = rand(size(shape), 5);
      for (const i of [0, 19 * 8 * 9 - 1, 19 * 8 * 4 + 19 * 3 + 7, 9 * 8 * 19 + 40]) values[i] = NaN;
      values[200] = Infinity;
      values[333] = -Infinity;
      const pooled = async (backend: string): Promise<Float32Array> => {
        await tf.setBackend(backend);
        return tf.tidy(() => maxPool2d(tf.tensor4d(values, shape), k, s, pad).dataSync() as Float32Array);
      };
      const { ref, got, runs } = await onCpuThenNative(MAX_POOL_NAN, pooled);
      expect(runs).toBe(1);
      expect(ref.some(Number.isNaN)).toBe(true);
      expect(Array.from(got)).toEqual(Array.from(ref));
      await check((x) => maxPool2d(x as tf.Tensor4D, k, s, pad), [shape], [MAX_POOL_NAN], 7);
    },
  );

  test('conv2d with dilation 2 (forward only: tfjs has no dilated conv gradient)', async () => {
    await check(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2),
      [
        [2, 9, 9, 3],
        [3, 3, 3, 4],
      ],
      ['Conv2D'],
      23,
      false,
    );
    // Square filter: for numeric padding tfjs sizes the output with the effective filter HEIGHT on both
    // axes, so a non-square effective filter is left to the cpu kernel (which has that quirk).
    await check(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 2, 'NHWC', 2),
      [
        [1, 8, 7, 2],
        [3, 3, 2, 3],
      ],
      ['Conv2D'],
      24,
      false,
    );
  });

  test('fused conv2d with bias + relu (and linear), with gradients', async () => {
    for (const activation of ['relu', 'linear'] as const) {
      await check(
        (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 1, bias: b, activation }),
        [[2, 8, 8, 4], [3, 3, 4, 8], [8]],
        ['FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
        7,
      );
    }
  });

  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matMul transposeA=%s transposeB=%s', async (ta, tb) => {
    const M = 5,
      K = 7,
      N = 3;
    await check((a, b) => tf.matMul(a, b, ta, tb), [ta ? [K, M] : [M, K], tb ? [N, K] : [K, N]], ['BatchMatMul'], 3);
  });

  test('batched matMul (3D, batch broadcast)', async () => {
    await check(
      (a, b) => tf.matMul(a, b),
      [
        [4, 5, 6],
        [4, 6, 3],
      ],
      ['BatchMatMul'],
      4,
    );
    // Batch broadcast: forward only (tfjs-core's BatchMatMul gradient does not reduce broadcast batches).
    await check(
      (a, b) => tf.matMul(a, b, false, true),
      [
        [4, 5, 6],
        [1, 3, 6],
      ],
      ['BatchMatMul'],
      5,
      false,
    );
  });

  test('fused matMul + bias (+ relu)', async () => {
    for (const activation of ['linear', 'relu'] as const) {
      await check(
        (a, b, bias) => tf.fused.matMul({ a, b, bias, activation, transposeB: true }),
        [[6, 10], [4, 10], [4]],
        ['_FusedMatMul', 'BatchMatMul'],
        6,
      );
    }
  });

  test('maxPool 3x3 stride 2 pad 1 and its gradient', async () => {
    await check((x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1), [[2, 9, 10, 3]], ['MaxPool', 'MaxPoolGrad'], 8);
    await check((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'same'), [[2, 9, 10, 3]], ['MaxPool', 'MaxPoolGrad'], 9);
  });

  test('avgPool 3x3 stride 2 pad same and its gradient', async () => {
    await check((x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same'), [[2, 9, 10, 3]], ['AvgPool', 'AvgPoolGrad'], 10);
  });

  test('batchNorm (inference, per-channel params) with gradients', async () => {
    await check(
      (x, m, v, o, s) =>
        tf.batchNorm4d(x as tf.Tensor4D, m as tf.Tensor1D, tf.add(tf.abs(v), 0.5) as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3),
      [[2, 5, 4, 6], [6], [6], [6], [6]],
      ['FusedBatchNorm', 'NativeBatchNormGrad'],
      11,
    );
  });

  test('batchNorm with batch statistics (training mode, as in core BatchNorm2d)', async () => {
    await check(
      (x, o, s) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.batchNorm4d(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, 1e-5);
      },
      [[4, 6, 5, 8], [8], [8]],
      ['FusedBatchNorm', 'Mean', 'Sub', 'Square', 'Tile', 'NativeBatchNormGrad', 'NativeSquareGrad'],
      12,
    );
  });

  test('batchNorm with batch statistics when |mean| >> std (no cancellation)', async () => {
    await check(
      (x, o, s) => {
        const shifted = tf.add(tf.mul(x, 0.01), 50); // mean 50, std ~0.006
        const { mean, variance } = tf.moments(shifted, [0, 1, 2]);
        return tf.batchNorm4d(
          shifted as tf.Tensor4D,
          mean as tf.Tensor1D,
          variance as tf.Tensor1D,
          o as tf.Tensor1D,
          s as tf.Tensor1D,
          1e-5,
        );
      },
      [[4, 4, 4, 8], [8], [8]],
      ['FusedBatchNorm', 'NativeBatchNormGrad'],
      22,
    );
  });

  test("core's fused train-mode batch norm (one kernel forward, one backward) matches the cpu composite", async () => {
    const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y;
    await check(bn, [[4, 6, 5, 8], [8], [8]], [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD], 40);
    await check(bn, [[64, 8, 8, 16], [16], [16]], [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD], 41);
    // Gradients that flow through the batch statistics too.
    const withStats = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
      return tf.add(r.y, tf.add(tf.mul(tf.sum(r.mean), 0.5), tf.mul(tf.sum(r.variance), 0.25)));
    };
    await check(withStats, [[4, 6, 5, 8], [8], [8]], [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD], 42);
    // |mean| >> std: the statistics must not cancel (mean 50, std ~0.006, as in the test above).
    await check(
      (x, g, b) => bn(tf.add(tf.mul(x, 0.01), 50), g, b),
      [[8, 4, 4, 8], [8], [8]],
      [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD],
      43,
    );
  });

  test("the train-mode batch norm's epilogue (relu(bn(x) + residual)) gives the separate ops' values and gradients exactly", async () => {
    const shape = [16, 6, 5, 8];
    const epilogues: [string, boolean, boolean][] = [
      ['relu', false, true],
      ['residual + relu', true, true],
      ['residual', true, false],
    ];
    for (const [label, withResidual, relu] of epilogues) {
      const fused = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r?: tf.Tensor) =>
        batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, { residual: r, relu }).y;
      const separate = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r?: tf.Tensor) => {
        const y = batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y;
        const sum = r ? tf.add(y, r) : y;
        return relu ? tf.relu(sum) : sum;
      };
      const shapes = withResidual ? [shape, [8], [8], shape] : [shape, [8], [8]];
      // Fused vs separate ops on native: the same float32 operations, so the same bits (NaN, -0 included).
      const seed = 50 + epilogues.findIndex((e) => e[0] === label);
      const a = await run('native', fused, shapes, seed);
      const b = await run('native', separate, shapes, seed);
      a.forEach((v, i) => expect({ label, i, values: Array.from(v) }).toEqual({ label, i, values: Array.from(b[i]) }));
      // And against the cpu backend's composite.
      await check(fused, shapes, [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD], seed);
    }
    // A NaN in the residual stays NaN through the ReLU, and its gradient is NaN as tfjs's ReLU gradient makes it.
    await tf.setBackend('native');
    const [y, dr] = tf.tidy(() => {
      const x = tf.tensor(rand(64, 70), [8, 8]);
      const r = tf.tensor(
        rand(64, 71).map((v, i) => (i === 5 ? NaN : v)),
        [8, 8],
      );
      const f = (res: tf.Tensor) =>
        batchNormTrain(x, tf.ones([8]) as tf.Tensor1D, tf.zeros([8]) as tf.Tensor1D, 1e-5, { residual: res, relu: true }).y;
      return [
        f(r).dataSync(),
        tf
          .grad((res: tf.Tensor) => tf.sum(f(res)))(r)
          .dataSync(),
      ];
    });
    expect(Number.isNaN(y[5])).toBe(true);
    expect(Number.isNaN(dr[5])).toBe(true);
  });

  test("core's eval-mode residual conv: relu(conv + folded bn + residual) as one oneDNN conv with sum + relu post-ops", async () => {
    for (const [k, stride, withBn] of [
      [3, 1, true],
      [1, 2, true],
      [3, 2, false],
    ] as [number, number, boolean][]) {
      const conv = new Conv2d(6, 8, k, { stride, bias: !withBn });
      const bn = withBn ? new BatchNorm2d(8) : null;
      if (bn) {
        bn.runningMean.assign(tf.tensor1d(rand(8, 50)));
        bn.runningVar.assign(tf.add(tf.tensor1d(rand(8, 51)), 1.5));
        bn.weight.assign(tf.tensor1d(rand(8, 52)));
        bn.bias.assign(tf.tensor1d(rand(8, 53)));
      }
      const o = Math.floor((9 + 2 * conv.padding - k) / stride) + 1;
      await check(
        (x, r) => convBnAddRelu(conv, bn, x, r, { training: false }),
        [
          [2, 9, 9, 6],
          [2, o, o, 8],
        ],
        [CONV2D_ADD_RELU],
        60 + k * 10 + stride,
        false,
      );
      conv.dispose();
      bn?.dispose();
    }
  });

  test('add / sub / mul with broadcasting, relu', async () => {
    await check(
      (a, b) => tf.relu(tf.add(a, b)),
      [
        [2, 4, 4, 3],
        [2, 4, 4, 3],
      ],
      ['Add', 'Relu', 'NativeReluGrad'],
      13,
    );
    await check((a, b) => tf.mul(tf.sub(a, b), b), [[2, 4, 4, 3], [3]], ['Sub', 'Multiply', 'Sum'], 14);
    await check(
      (a, b) => tf.add(a, b),
      [
        [2, 4, 4, 3],
        [2, 1, 1, 1],
      ],
      ['Add'],
      15,
    );
    await check((a, b) => tf.div(a, tf.add(tf.abs(b), 1)), [[3, 4], [1]], ['RealDiv'], 16);
    // Same shapes and scalars run as one flat loop, split across threads in spans with a short tail
    // (72,816 elements: four full spans of 16,384 and one of 7,280).
    const big = [3, 37, 41, 16];
    await check((a, b) => tf.sub(tf.mul(tf.add(a, b), 2.5), tf.mul(3, b)), [big, big], ['Add', 'Multiply', 'Sub'], 17);
  });

  test('sum / mean over axes [0,1,2], [1,2], [3]', async () => {
    await check((x) => tf.sum(x, [0, 1, 2]), [[2, 3, 4, 5]], ['Sum'], 17);
    await check((x) => tf.mean(x, [1, 2]), [[2, 3, 4, 5]], ['Mean', 'Tile'], 18);
    await check((x) => tf.mean(x, -1, true), [[2, 3, 4, 5]], ['Mean'], 19);
  });

  test('NaN and signed zero handling of relu, its gradient, step and maximum match cpu', async () => {
    const vals = [NaN, -1, -0, 0, 2, NaN, 3, -4];
    const run2 = async (backend: string): Promise<number[][]> => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const x = tf.tensor1d(vals),
          y = tf.tensor1d([1, NaN, 0, -0, 1, 5, NaN, -5]);
        const g = tf.grad((t: tf.Tensor) => tf.relu(t))(x, tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]));
        return [tf.relu(x), g, tf.step(x, 0.5), tf.maximum(x, y)].map((t) => Array.from(t.dataSync()));
      });
    };
    const ref = await run2('cpu');
    const got = await run2('native');
    expect(got).toEqual(ref); // toEqual treats NaN as equal to NaN
  });

  test("a fused conv's ReLU pass keeps NaN and turns -Inf and -0 into +0 across threads, spans and vector tails", async () => {
    // 201 x 201 = 40401 outputs: above the threads' threshold, three 16384-float spans, a tail that
    // is no multiple of the vector width. An identity 1x1 conv passes x through to the ReLU pass.
    const n = 201 * 201;
    const x = rand(n, 11);
    const special = [NaN, -Infinity, Infinity, -0, -2.5];
    [0, 1, 15, 16, 16383, 16384, 16385, 32767, 32768, n - 17, n - 3, n - 2, n - 1].forEach(
      (at, i) => (x[at] = special[i % special.length]),
    );
    setKernelStats(true);
    const got = tf.tidy(() =>
      tf.fused
        .conv2d({
          x: tf.tensor4d(x, [1, 201, 201, 1]),
          filter: tf.ones([1, 1, 1, 1]) as tf.Tensor4D,
          strides: 1,
          pad: 0,
          activation: 'relu',
        })
        .dataSync(),
    );
    const ran = kernelStats.get('FusedConv2D');
    setKernelStats(false);
    expect(ran?.native).toBeGreaterThan(0);
    const wrong: string[] = [];
    x.forEach((v, i) => {
      const want = Number.isNaN(v) ? NaN : v > 0 ? v : 0;
      if (!Object.is(got[i], want)) wrong.push(`[${i}] relu(${v}) = ${got[i]}`);
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  test('slice and pad (option A shortcuts) copy contiguous runs; each is the gradient of the other', async () => {
    await check(
      (x) =>
        tf.pad(x, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 16],
        ]),
      [[4, 8, 8, 16]],
      ['PadV2', 'Slice'],
      22,
    );
    await check(
      (x) =>
        tf.pad(
          x,
          [
            [1, 0],
            [2, 1],
            [0, 3],
            [4, 5],
          ],
          0.5,
        ),
      [[3, 9, 7, 40]],
      ['PadV2', 'Slice'],
      23,
    );
    await check((x) => tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 16]), [[4, 8, 8, 32]], ['Slice', 'PadV2'], 24);
    await check((x) => tf.slice(x, [1, 2, 3, 4], [2, 5, 3, 10]), [[4, 9, 70, 20]], ['PadV2'], 25);
    await check((x) => tf.slice(x, [0, 2, 0], [3, 50, 200]), [[3, 60, 200]], ['PadV2'], 26); // one run per row of axis 0
  });

  test('tile (general) and empty tensors', async () => {
    await check((x) => tf.tile(x, [2, 1, 3]), [[2, 3, 4]], ['Tile'], 20);
    await check((a, b) => tf.add(a, b), [[0, 3], [3]], [], 21);
  });

  test('transpose (a oneDNN reorder) moves every value, NaN and -0 included, exactly as the cpu kernel does', async () => {
    const cases: [number[], number[]][] = [
      [
        [300, 500],
        [1, 0],
      ], // a Linear's [out, in] -> [in, out]
      [
        [8, 3, 33, 40],
        [0, 2, 3, 1],
      ], // an NCHW batch -> NHWC
      [
        [64, 32, 3, 3],
        [2, 3, 1, 0],
      ], // PyTorch's OIHW filter -> HWIO
      [
        [4, 5, 6, 7, 8],
        [4, 2, 0, 3, 1],
      ],
    ];
    for (const [shape, perm] of cases) {
      const x = rand(
        shape.reduce((a, b) => a * b, 1),
        shape.length,
      );
      x[7] = NaN;
      x[11] = -0;
      x[13] = -Infinity;
      const run1 = async (backend: string): Promise<Float32Array> => {
        await tf.setBackend(backend);
        return tf.tidy(() => tf.transpose(tf.tensor(x, shape), perm).dataSync() as Float32Array);
      };
      const want = await run1('cpu');
      setKernelStats(true);
      const got = await run1('native');
      expect(kernelStats.get('Transpose')).toEqual({ native: 1, fallback: 0 });
      setKernelStats(false);
      expect(Array.from(got)).toEqual(Array.from(want)); // toEqual tells -0 from 0 and matches NaN to NaN
    }
  });

  test('recycled output buffers never overwrite read-out data or views (slices)', async () => {
    await tf.setBackend('native');
    const n = 8192;
    const src = rand(n, 60);
    const expected = src.map((v) => Math.max(v, 0));
    const a = tf.relu(tf.tensor1d(src)); // a native output, from the buffer pool
    const view = tf.slice(a, [100], [5000]); // the cpu Slice kernel stores a subarray view of a's buffer
    const b = tf.relu(tf.tensor1d(src));
    const readOut = b.dataSync(); // values handed to the caller
    a.dispose();
    b.dispose();
    for (let i = 0; i < 10; i++) tf.dispose(tf.neg(tf.relu(tf.tensor1d(rand(n, 70 + i))))); // same-size outputs
    expect(Array.from(view.dataSync())).toEqual(Array.from(expected.subarray(100, 5100)));
    expect(Array.from(readOut)).toEqual(Array.from(expected));
    view.dispose();
  });

  /** A small residual CNN: conv-bn-relu, maxpool, residual block with projection, pool, linear. */
  function smallCnnLoss(x: tf.Tensor, labels: tf.Tensor, ws: tf.Tensor[]): tf.Scalar {
    const [c1, g1, b1, c2, c3, p, fc, fcb] = ws;
    const bn = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      return tf.batchNorm4d(t as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, 1e-5);
    };
    let h = tf.relu(bn(tf.conv2d(x as tf.Tensor4D, c1 as tf.Tensor4D, 1, 1), g1, b1));
    h = tf.maxPool(h as tf.Tensor4D, 3, 2, 1);
    const r = tf.relu(tf.conv2d(h as tf.Tensor4D, c2 as tf.Tensor4D, 2, 'same'));
    const main = tf.conv2d(r as tf.Tensor4D, c3 as tf.Tensor4D, 1, 1);
    const short = tf.conv2d(h as tf.Tensor4D, p as tf.Tensor4D, 2, 0);
    h = tf.relu(tf.add(main, short));
    const pooled = tf.mean(h, [1, 2]);
    const logits = tf.add(tf.matMul(pooled, fc), fcb);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  }
  const cnnShapes = [[3, 3, 3, 8], [8], [8], [3, 3, 8, 16], [3, 3, 16, 16], [1, 1, 8, 16], [16, 10], [10]];

  test('a small CNN training step: loss and all weight gradients match cpu', async () => {
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'native']) {
      await tf.setBackend(backend);
      results.push(
        tf.tidy(() => {
          const x = tf.tensor(rand(4 * 16 * 16 * 3, 21), [4, 16, 16, 3]);
          const labels = tf.oneHot(tf.tensor1d([1, 3, 5, 7], 'int32'), 10);
          // Filters scaled by 0.3; the batch-norm gamma (weight 1) starts at 1.
          const ws = cnnShapes.map((s, i) => (i === 1 ? tf.ones(s) : tf.mul(tf.tensor(rand(size(s), 30 + i), s), 0.3)));
          const { value, grads: g } = tf.valueAndGrads((...w: tf.Tensor[]) => smallCnnLoss(x, labels, w))(ws);
          return [value.dataSync() as Float32Array, ...g.map((t) => t.dataSync() as Float32Array)];
        }),
      );
    }
    const [ref, got] = results;
    for (let i = 0; i < ref.length; i++) {
      const d = maxRelDiff(got[i], ref[i]);
      if (!(d <= TOL)) throw new Error(`${i === 0 ? 'loss' : `gradient of weight ${i - 1}`}: max rel diff ${d} > ${TOL}`);
    }
  });

  test('no tensor leak across 20 training steps on native', async () => {
    await tf.setBackend('native');
    const x = tf.tensor(rand(4 * 16 * 16 * 3, 41), [4, 16, 16, 3]);
    const labels = tf.oneHot(tf.tensor1d([0, 2, 4, 6], 'int32'), 10);
    const ws = cnnShapes.map((s, i) => tf.variable(tf.mul(tf.tensor(rand(size(s), 50 + i), s), 0.3), true, `leak${i}`));
    const opt = tf.train.sgd(0.01);
    const step = (): void => {
      const cost = opt.minimize(() => smallCnnLoss(x, labels, ws), true, ws);
      cost?.dispose();
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([x, labels, ...ws]);
  });
});
