/**
 * The addon's Winograd F(2x2, 3x3) convs (native/wino16.cc): 3x3 stride-1 padding-1 convs of 16
 * channels in and out, forward and backward data, on AVX-512. Against tfjs's cpu kernels: the values
 * (odd sizes, partial tiles, a row of more than one group of tiles, bias and ReLU), the same bits on
 * every run, and NaN and Inf: a NaN input pixel reaches exactly the outputs whose window holds it, and
 * a non-finite input or filter gives the direct conv's values (the pass runs direct then).
 * Skipped without the addon; the Winograd-specific checks also without AVX-512 (the direct convs then).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { isNativeAvailable, loadAddon, nativePlugin } from '../src/native/index.js';
import { uniform } from './plan-helpers';

const available = isNativeAvailable();
const describeNative = available ? describe : describe.skip;

/** conv params: n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw */
const params16 = (n: number, h: number, w: number): number[] => [n, h, w, 16, 3, 3, 16, h, w, 1, 1, 1, 1, 1, 1, 1, 1];

/** Whether this machine runs the 16-channel passes as Winograd convs. */
function winograd(): boolean {
  return loadAddon()
    .addon!.convImpl(params16(1, 4, 4), 'fwd')
    .includes('wino16');
}

interface Outputs {
  y: Float32Array;
  dx: Float32Array;
}

/** relu?(conv(x, w) + bias) and the input gradient of sum(y * r), on `backend`. */
async function convOn(
  backend: string,
  x: Float32Array,
  w: Float32Array,
  shape: number[],
  opts: { bias?: Float32Array; relu?: boolean },
): Promise<Outputs> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, shape as [number, number, number, number]);
    const wt = tf.tensor4d(w, [3, 3, 16, 16]);
    const bias = opts.bias ? tf.tensor1d(opts.bias) : undefined;
    const y = tf.fused.conv2d({ x: xt, filter: wt, strides: 1, pad: 'same', bias, activation: opts.relu ? 'relu' : 'linear' });
    const r = tf.tensor(uniform(y.size, 9), y.shape);
    // the input gradient of a plain conv: the backward-data pass
    const dx = tf.grad((a: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(a, wt, 1, 'same'), r)))(xt);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

/** max |a - b| / max |b| over the finite values; both must be non-finite at the same places. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0,
    scale = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(b[i]) || !Number.isFinite(a[i])) {
      expect([i, a[i]]).toEqual([i, b[i]]);
      continue;
    }
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

describeNative('16-channel 3x3 convs as Winograd F(2x2, 3x3) (wino16.cc)', () => {
  beforeAll(async () => {
    await nativePlugin.setup();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  test('the forward and backward-data passes say so where the CPU has AVX-512; other shapes and the weight gradient do not', () => {
    const addon = loadAddon().addon!;
    const avx512 = addon.convImpl(params16(1, 4, 4), 'bwd_weights').includes('avx512');
    expect(winograd()).toBe(avx512);
    expect(addon.convImpl(params16(1, 4, 4), 'bwd_data').includes('wino16')).toBe(avx512);
    expect(addon.convImpl(params16(1, 4, 4), 'bwd_weights').includes('wino16')).toBe(false);
    const stride2 = [1, 8, 8, 16, 3, 3, 16, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1];
    const pad0 = [1, 8, 8, 16, 3, 3, 16, 6, 6, 1, 1, 0, 0, 0, 0, 1, 1];
    const wider = [1, 8, 8, 16, 3, 3, 32, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1];
    for (const p of [stride2, pad0, wider]) expect(addon.convImpl(p, 'fwd').includes('wino16')).toBe(false);
  });

  // [n, h, w]: partial tiles (odd sizes), fewer tiles in a row than a group (8), a group and the rest,
  // whole groups (ResNet-20's first stage), a 1x1 image.
  const shapes: [number, number, number][] = [
    [2, 9, 7],
    [1, 5, 19],
    [3, 32, 32],
    [2, 1, 1],
  ];
  test.each(shapes)('n %p, %p x %p: forward (plain, with bias and ReLU) and the input gradient match cpu', async (n, h, w) => {
    const shape = [n, h, w, 16];
    const x = uniform(n * h * w * 16, 1);
    const filter = uniform(3 * 3 * 16 * 16, 2);
    const bias = uniform(16, 3);
    for (const opts of [{}, { bias, relu: true }]) {
      const ref = await convOn('cpu', x, filter, shape, opts);
      const got = await convOn('native', x, filter, shape, opts);
      expect(relDiff(got.y, ref.y)).toBeLessThan(1e-5);
      expect(relDiff(got.dx, ref.dx)).toBeLessThan(1e-5);
    }
  });

  test('the same inputs give the same bits on every run', async () => {
    const shape = [2, 16, 16, 16];
    const x = uniform(2 * 16 * 16 * 16, 4);
    const filter = uniform(2304, 5);
    const a = await convOn('native', x, filter, shape, {});
    const b = await convOn('native', x, filter, shape, {});
    expect(Buffer.from(a.y.buffer).equals(Buffer.from(b.y.buffer))).toBe(true);
    expect(Buffer.from(a.dx.buffer).equals(Buffer.from(b.dx.buffer))).toBe(true);
  });

  test('a NaN input pixel reaches exactly the outputs whose 3x3 window holds it', async () => {
    const [h, w] = [6, 7];
    const x = uniform(h * w * 16, 6);
    const [pi, pj] = [2, 5];
    x[(pi * w + pj) * 16 + 3] = NaN; // channel 3 of pixel (2, 5)
    const { y } = await convOn('native', x, uniform(2304, 7), [1, h, w, 16], {});
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const inWindow = Math.abs(i - pi) <= 1 && Math.abs(j - pj) <= 1;
        for (let c = 0; c < 16; c++) expect([i, j, c, Number.isNaN(y[(i * w + j) * 16 + c])]).toEqual([i, j, c, inWindow]);
      }
  });

  test("finite inputs large enough to overflow the transforms give the direct conv's values, not NaN", async () => {
    const shape = [1, 8, 8, 16];
    const x = uniform(8 * 8 * 16, 10);
    for (let c = 0; c < 16; c++) x[(3 * 8 + 4) * 16 + c] = 3e37; // one pixel: a direct conv's sums stay finite
    const filter = uniform(2304, 11, -0.05, 0.05);
    const ref = await convOn('cpu', x, filter, shape, {});
    const got = await convOn('native', x, filter, shape, {});
    expect(ref.y.every(Number.isFinite)).toBe(true);
    expect(relDiff(got.y, ref.y)).toBeLessThan(1e-5);
  });

  test('an Inf input or filter value gives what the direct conv gives (+-Inf, not the NaN the transforms would make)', async () => {
    const shape = [1, 6, 6, 16];
    const x = uniform(6 * 6 * 16, 8);
    x[(2 * 6 + 3) * 16 + 1] = Infinity;
    const filter = uniform(2304, 9);
    const ref = await convOn('cpu', x, filter, shape, {});
    const got = await convOn('native', x, filter, shape, {});
    expect(got.y.some((v) => v === Infinity || v === -Infinity)).toBe(true);
    expect(relDiff(got.y, ref.y)).toBeLessThan(1e-5);
    const xFinite = uniform(6 * 6 * 16, 8);
    const infFilter = uniform(2304, 9);
    infFilter[(1 * 3 + 1) * 256 + 2 * 16 + 5] = -Infinity; // centre tap, input channel 2 -> output 5
    const refW = await convOn('cpu', xFinite, infFilter, shape, {});
    const gotW = await convOn('native', xFinite, infFilter, shape, {});
    expect(relDiff(gotW.y, refW.y)).toBeLessThan(1e-5);
    expect(relDiff(gotW.dx, refW.dx)).toBeLessThan(1e-5);
  });
});
