/**
 * Core's max pooling keeps NaN as PyTorch's max_pool2d does (tfjs's MaxPool drops it): checked against
 * a plain reference on the cpu backend (the composite path), NaN and ±Inf at corners, edges and inside,
 * with its gradient equal to tfjs's on finite inputs and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MaxPool2d, maxPool2d } from '../src/index.js';

/** PyTorch's max_pool2d on NHWC values: NaN if the window holds one, else the max over valid pixels. */
function reference(x: Float32Array, [n, h, w, c]: number[], k: number, s: number, pad: number): Float32Array {
  const oh = Math.floor((h + 2 * pad - k) / s) + 1;
  const ow = Math.floor((w + 2 * pad - k) / s) + 1;
  const y = new Float32Array(n * oh * ow * c);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = oy * s - pad + ky;
              const ix = ox * s - pad + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const v = x[((b * h + iy) * w + ix) * c + ch];
              m = Number.isNaN(v) || Number.isNaN(m) ? NaN : Math.max(m, v);
            }
          y[((b * oh + oy) * ow + ox) * c + ch] = m;
        }
  return y;
}

/** Values in [-1, 1) with NaN, +Inf and -Inf at a corner, an edge and inside of each image. */
export function nanInput(shape: number[]): Float32Array {
  const [n, h, w, c] = shape;
  const x = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 12.9898) * 0.999);
  const at = (b: number, y: number, xx: number, ch: number) => ((b * h + y) * w + xx) * c + ch;
  x[at(0, 0, 0, 0)] = NaN;
  x[at(0, h - 1, 2, 1)] = NaN;
  x[at(0, 3, 3, 2)] = Infinity;
  x[at(1, 2, w - 1, 0)] = -Infinity;
  x[at(1, 4, 1, 2)] = NaN;
  return x;
}

const CASES: [number, number, number][] = [
  [3, 2, 1], // ResNet's stem
  [2, 2, 0],
  [3, 1, 1],
];

describe('maxPool2d: NaN propagates as in PyTorch', () => {
  test.each(CASES)('window %p, stride %p, pad %p: equals the reference, NaN and ±Inf included', (k, s, pad) => {
    const shape = [2, 7, 6, 3];
    const values = nanInput(shape);
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(values, shape as [number, number, number, number]);
    const y = maxPool2d(x, k, s, pad);
    const want = reference(values, shape, k, s, pad);
    expect(Array.from(y.dataSync())).toEqual(Array.from(want));
    // The test means something: tfjs's own max pooling loses a NaN here.
    const plain = tf.maxPool(x, k, s, pad);
    expect(plain.dataSync().filter(Number.isNaN).length).toBeLessThan(want.filter(Number.isNaN).length);
    tf.dispose([x, y, plain]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test("MaxPool2d's gradient is tfjs's max pooling gradient on finite inputs", () => {
    const shape: [number, number, number, number] = [2, 7, 6, 3];
    const x = tf.tensor4d(
      Float32Array.from({ length: 252 }, (_, i) => Math.cos(i * 7.7)),
      shape,
    );
    const r = tf.randomUniform([2, 4, 3, 3], -1, 1, 'float32', 3);
    const layer = new MaxPool2d(3, 2, 1);
    const ours = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.forward(v), r)))(x);
    const theirs = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, 3, 2, 1), r)))(x);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()));
    tf.dispose([x, r, ours, theirs]);
  });
});
