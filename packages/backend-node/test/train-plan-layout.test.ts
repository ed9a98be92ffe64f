/**
 * The channel-blocked activations of the native training plan (src/native/train-plan-layout.ts):
 * the native batch-norm and conv kernels give the same bits on nChw16c buffers as on NHWC ones (NaN
 * included, each buffer in either layout), and the plan keeps blocked exactly the values passed only
 * between Winograd convs and batch norms. (train-plan.test.ts checks whole training steps bit for bit
 * against the layers, which run NHWC.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@resnet-ts/zoo';
import { ResNet, useBackend } from '@resnet-ts/core';
import '../src/index.js';
import { loadAddon } from '../src/native/addon.js';
import { lowerTrainingGraph } from '../src/native/train-plan-lower.js';
import { PlanLayouts } from '../src/native/train-plan-layout.js';
import { describeNative, uniform } from './plan-helpers.js';

/** NHWC [n, h, w, c] -> nChw16c. */
function toBlocked(a: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < h * w; p++)
      for (let j = 0; j < c; j++) out[((i * (c / 16) + (j >> 4)) * h * w + p) * 16 + (j & 15)] = a[(i * h * w + p) * c + j];
  return out;
}

/** nChw16c -> NHWC [n, h, w, c]. */
function fromBlocked(a: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < h * w; p++)
      for (let j = 0; j < c; j++) out[(i * h * w + p) * c + j] = a[((i * (c / 16) + (j >> 4)) * h * w + p) * 16 + (j & 15)];
  return out;
}

/** The same float32 values, NaN equal to NaN. */
function expectBits(a: Float32Array, ref: Float32Array): void {
  const i = ref.findIndex((v, j) => !(Object.is(v, a[j]) || (Number.isNaN(v) && Number.isNaN(a[j]))));
  expect(i < 0 ? 'identical' : `[${i}]: ${a[i]} vs ${ref[i]}`).toBe('identical');
}

describeNative('channel-blocked activations of the training plan', () => {
  beforeAll(async () => {
    await useBackend('native');
  });
  const addon = () => loadAddon().addon!;
  // 1615 rows of 32 channels: two threads, whose rows part inside an image of 323 rows (over a tile's 256)
  const shape = [5, 17, 19, 32];
  const n = shape.reduce((a, b) => a * b, 1);
  const hw = shape[1] * shape[2];

  /** What batchNormTrainGrad takes besides its outputs (see addon.ts); `residual`: a dresidual is written. */
  interface GradArgs {
    dy: Float32Array;
    x: Float32Array;
    scale: Float32Array;
    mean: Float32Array;
    variance: Float32Array;
    y: Float32Array | null;
    residual: boolean;
    layout: number;
    offset?: Float32Array | null;
    dy2?: Float32Array | null;
  }
  /** batchNormTrainGrad with zero dmean and dvar: [dx, dresidual (or an empty array), dscale, doffset]. */
  const bnGrad = (a: GradArgs): Float32Array[] => {
    const c = a.scale.length;
    const [dx, dres] = [new Float32Array(n), new Float32Array(a.residual ? n : 0)];
    const [dscale, doffset, zeros] = [new Float32Array(c), new Float32Array(c), new Float32Array(c)];
    addon().batchNormTrainGrad(
      a.dy,
      zeros,
      zeros,
      a.x,
      a.scale,
      a.mean,
      a.variance,
      1e-5,
      c,
      dx,
      dscale,
      doffset,
      a.y,
      a.residual ? dres : null,
      hw,
      a.layout,
      a.offset ?? null,
      a.dy2 ?? null,
    );
    return [dx, dres, dscale, doffset];
  };

  // bits: 1 input, 2 output, 4 residual blocked (every mix the plan can give).
  test.each([7, 1, 2, 4, 3, 6])('batch norm forward and gradient with layout bits %p: the NHWC bits', (bits) => {
    const c = shape[3];
    const x = uniform(n, 11, -3, 3),
      res = uniform(n, 12),
      dy = uniform(n, 13);
    x[5 * c + 3] = NaN; // channel 3 non-finite: NaN statistics, as in NHWC
    const scale = uniform(c, 14, 0.5, 1.5),
      offset = uniform(c, 15);
    const as = (a: Float32Array, bit: number) => (bits & bit ? toBlocked(a, shape) : a);
    const back = (a: Float32Array, bit: number) => (bits & bit ? fromBlocked(a, shape) : a);
    const run = (layout: number) => {
      const L = (a: Float32Array, bit: number) => (layout ? as(a, bit) : a);
      const y = new Float32Array(n),
        mean = new Float32Array(c),
        variance = new Float32Array(c);
      addon().batchNormTrain(L(x, 1), scale, offset, 1e-5, c, y, mean, variance, L(res, 4), true, hw, layout);
      const [dx, dres, dscale, doffset] = bnGrad({ dy: L(dy, 2), x: L(x, 1), scale, mean, variance, y, residual: true, layout });
      const B = (a: Float32Array, bit: number) => (layout ? back(a, bit) : a);
      return [B(y, 2), mean, variance, B(dx, 1), B(dres, 4), dscale, doffset];
    };
    const ref = run(0),
      got = run(bits);
    expect(Number.isNaN(ref[1][3])).toBe(true);
    ref.forEach((r, i) => expectBits(got[i], r));
  });

  // A ReLU without a residual: its gradient's mask recomputed from x (the forward's offset, no y) gives what y gives.
  test.each([0, 1, 2, 3])('batch norm gradient with layout bits %p: the ReLU mask from x, the bits of the mask from y', (bits) => {
    const c = shape[3];
    const x = uniform(n, 31, -3, 3),
      dy = uniform(n, 32);
    x[7 * c + 5] = NaN; // channel 5 non-finite
    const scale = uniform(c, 33, -1.5, 1.5), // negative scales too: the mask is not the sign of x - mean
      offset = uniform(c, 34);
    const L = (a: Float32Array, bit: number) => (bits & bit ? toBlocked(a, shape) : a);
    const y = new Float32Array(n),
      mean = new Float32Array(c),
      variance = new Float32Array(c);
    addon().batchNormTrain(L(x, 1), scale, offset, 1e-5, c, y, mean, variance, null, true, hw, bits);
    const grad = (relu: 'y' | 'x' | 'none') => {
      const [dx, , dscale, doffset] = bnGrad({
        dy: L(dy, 2),
        x: L(x, 1),
        scale,
        mean,
        variance,
        y: relu === 'y' ? y : null,
        residual: false,
        layout: bits,
        offset: relu === 'x' ? offset : null,
      });
      return [dx, dscale, doffset];
    };
    const ref = grad('y'),
      got = grad('x');
    expect(Number.isNaN(ref[1][5])).toBe(true);
    expect(grad('none')[2]).not.toEqual(ref[2]); // the mask matters
    ref.forEach((r, i) => expectBits(got[i], r));
  });

  // A block output's two gradients (next conv's and shortcut's) added by the kernel: the bits of an Add first.
  test.each([0, 7, 2, 6])('batch norm gradient with layout bits %p: a second gradient added in pass 1, the bits of the Add', (bits) => {
    const c = shape[3];
    const x = uniform(n, 41, -3, 3),
      res = uniform(n, 42),
      dy = uniform(n, 43),
      dy2 = uniform(n, 44);
    dy2[9 * c + 2] = NaN; // one NaN gradient value: reaches dscale, doffset and dx of channel 2 as through the Add
    const scale = uniform(c, 45, 0.5, 1.5),
      offset = uniform(c, 46);
    const L = (a: Float32Array, bit: number) => (bits & bit ? toBlocked(a, shape) : a);
    const B = (a: Float32Array, bit: number) => (bits & bit ? fromBlocked(a, shape) : a);
    const y = new Float32Array(n),
      mean = new Float32Array(c),
      variance = new Float32Array(c);
    addon().batchNormTrain(L(x, 1), scale, offset, 1e-5, c, y, mean, variance, L(res, 4), true, hw, bits);
    const grad = (g: Float32Array, g2: Float32Array | null) => {
      const [dx, dres, dscale, doffset] = bnGrad({ dy: g, x: L(x, 1), scale, mean, variance, y, residual: true, layout: bits, dy2: g2 });
      return [B(dx, 1), B(dres, 4), dscale, doffset];
    };
    const sum = new Float32Array(n);
    addon().binary('Add', L(dy, 2), 0, L(dy2, 2), 0, sum, 1, n);
    const ref = grad(sum, null),
      got = grad(L(dy, 2), L(dy2, 2));
    expect(Number.isNaN(ref[3][2])).toBe(true);
    expect(Number.isNaN(ref[3][1])).toBe(false);
    ref.forEach((r, i) => expectBits(got[i], r));
  });

  test('Winograd conv passes on channel-blocked input and output: the NHWC bits', () => {
    // params: n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw
    const params = [5, 17, 19, 32, 3, 3, 32, 17, 19, 1, 1, 1, 1, 1, 1, 1, 1];
    const x = uniform(n, 21),
      w = uniform(9 * 32 * 32, 22, -0.2, 0.2),
      dy = uniform(n, 23);
    const run = (layout: number) => {
      const L = (a: Float32Array, bit: number) => (layout & bit ? toBlocked(a, shape) : a);
      const B = (a: Float32Array, bit: number) => (layout & bit ? fromBlocked(a, shape) : a);
      const y = new Float32Array(n),
        dx = new Float32Array(n),
        dw = new Float32Array(w.length);
      addon().conv2dForward(L(x, 1), w, null, y, params, false, false, layout);
      addon().conv2dBackwardData(L(dy, 2), w, dx, params, layout);
      addon().conv2dBackwardFilter(L(x, 1), L(dy, 2), dw, null, params, layout);
      return [B(y, 2), B(dx, 1), dw];
    };
    const ref = run(0);
    for (const layout of [3, 1, 2]) run(layout).forEach((r, i) => expectBits(r, ref[i]));
  });

  test('ResNet-20 keeps blocked the values between Winograd convs and batch norms, and no other', () => {
    const model = createModel('resnet20') as ResNet;
    const plan = lowerTrainingGraph(model, [8, 32, 32, 3]);
    const wino = (p: number[]) => p[4] === 3 && p[9] === 1 && Math.min(p[3], p[6]) >= 32;
    const { blocked } = new PlanLayouts(plan, (op) => wino(op.params));
    plan.ops.forEach((op) => {
      const c = plan.shapes[op.out].at(-1)!;
      if (op.kind === 'conv') expect(blocked[op.out]).toBe(wino(op.params)); // read only by batch norms
      if (op.kind === 'gap' || (op.kind === 'conv' && !wino(op.params))) expect(blocked[op.x]).toBe(false);
      if (c <= 16) expect(blocked[op.out]).toBe(false);
    });
    // Stages 2 and 3 have 5 Winograd convs each: their outputs, the batch norms' outputs they read, the block inputs.
    expect(blocked.filter(Boolean).length).toBeGreaterThanOrEqual(20);
    model.dispose();
    expect(tf.getBackend()).toBe('native');
  });
});
