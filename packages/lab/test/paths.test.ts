import '@resnet-ts/backend-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ResNet, Rng, useBackend } from '@resnet-ts/core';
import { resnet } from '@resnet-ts/zoo';
import {
  dominantRange,
  headForward,
  magnitudeTrend,
  sampledBlocksForward,
  pathCounts,
  pathFractions,
  perExampleNorm,
  runPaths,
  sampledGradNorm,
  stemForward,
  veitComparison,
} from '@resnet-ts/lab';

let model: ResNet;
let x: tf.Tensor4D;
let labels: tf.Tensor1D;
let h0: tf.Tensor;

beforeAll(async () => {
  await useBackend('cpu');
  model = resnet({ block: 'basic', layers: [1, 1, 1], stem: 'cifar', inChannels: 1, widths: [4, 8, 8], stemWidth: 4, seed: 3 });
  model.eval();
  const rng = new Rng(1);
  x = tf.tensor4d(rng.normalArray(2 * 8 * 8), [2, 8, 8, 1]);
  labels = tf.tensor1d([1, 7], 'int32');
  h0 = stemForward(model, x);
});
afterAll(() => {
  tf.dispose([x, labels, h0]);
  model.dispose();
});

const lossOf = (logits: tf.Tensor2D) =>
  tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits, undefined, undefined, tf.Reduction.SUM);

describe('path counts', () => {
  test('C(n,k) sums to 2^n, exact for n = 54', () => {
    for (const n of [0, 1, 3, 10, 54]) {
      const c = pathCounts(n);
      expect(c.length).toBe(n + 1);
      expect(c.reduce((s, v) => s + v, 0n)).toBe(2n ** BigInt(n));
    }
    expect(pathCounts(54)[27]).toBe(1946939425648112n);
    expect(pathCounts(4)).toEqual([1n, 4n, 6n, 4n, 1n]);
    const f = pathFractions(54);
    expect(f.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 10);
    expect(f[27]).toBeCloseTo(1946939425648112 / 2 ** 54, 12);
    expect(pathFractions(1000).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 8);
  });

  test('dominant range is the shortest window holding the share', () => {
    expect(dominantRange([0, 1, 5, 90, 3, 1], 0.9)).toEqual({ lo: 3, hi: 3, share: 0.9 });
    expect(dominantRange([1, 1, 1, 1], 0.5)).toMatchObject({ lo: 0, hi: 1 });
  });
});

describe('sampled gradients', () => {
  test('subset sampling: k = n equals the full gradient', () => {
    const full = tf.tidy(() =>
      perExampleNorm(
        tf.grad((h: tf.Tensor) =>
          lossOf(
            headForward(
              model,
              model.stages.reduce((y: tf.Tensor, st) => st.forward(y, { training: false }), h),
            ),
          ),
        )(h0),
      ),
    );
    const sampled = sampledGradNorm(model, h0, labels, new Set([0, 1, 2]), 'subset');
    expect(sampled).toBeGreaterThan(0);
    expect(sampled).toBeCloseTo(full, 5);
  });

  test('more inputs than one gradient pass takes (64): the same mean norm as all at once', () => {
    const m = 150;
    const many = tf.tensor4d(new Rng(9).normalArray(m * 8 * 8), [m, 8, 8, 1]);
    const y = tf.tensor1d(
      Array.from({ length: m }, (_, i) => i % 10),
      'int32',
    );
    const h = stemForward(model, many);
    const whole = tf.tidy(() =>
      perExampleNorm(
        tf.grad((z: tf.Tensor) =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(y, 10),
            headForward(
              model,
              model.stages.reduce((a: tf.Tensor, st) => st.forward(a, { training: false }), z),
            ),
            undefined,
            undefined,
            tf.Reduction.SUM,
          ),
        )(h),
      ),
    );
    const before = tf.memory().numTensors;
    expect(sampledGradNorm(model, h, y, new Set([0, 1, 2]), 'subset')).toBeCloseTo(whole, 5);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([many, y, h]);
  });

  test('k = 0 equals the pure-skip gradient (branch outputs as constants)', () => {
    // Branch outputs of a first pass, as constants: relu(shortcut(y) + F_const).
    const ctx = { training: false };
    const consts = tf.tidy(() => {
      const out: tf.Tensor[] = [];
      let y = h0;
      for (const b of model.blocks()) {
        const f = b.branch(y, ctx);
        out.push(tf.keep(tf.tensor(f.dataSync(), f.shape)));
        y = tf.relu(tf.add(f, b.shortcut(y, ctx)));
      }
      return out;
    });
    const skip = tf.tidy(() =>
      perExampleNorm(
        tf.grad((h: tf.Tensor) => {
          let y = h;
          model.blocks().forEach((b, i) => (y = tf.relu(tf.add(consts[i], b.shortcut(y, ctx)))));
          return lossOf(headForward(model, y));
        })(h0),
      ),
    );
    tf.dispose(consts);
    for (const mode of ['path', 'subset'] as const) {
      const sampled = sampledGradNorm(model, h0, labels, new Set(), mode);
      expect(sampled).toBeCloseTo(skip, 5);
      // and it differs from the full gradient (the branches do carry gradient)
      expect(Math.abs(sampled - sampledGradNorm(model, h0, labels, new Set([0, 1, 2]), 'subset'))).toBeGreaterThan(1e-6);
    }
  });

  test("Veit's single path: k = n is the path through every branch (shortcut outputs as constants)", () => {
    const ctx = { training: false };
    const consts = tf.tidy(() => {
      const out: tf.Tensor[] = [];
      let y = h0;
      for (const b of model.blocks()) {
        const sc = b.shortcut(y, ctx);
        out.push(tf.keep(tf.tensor(sc.dataSync(), sc.shape)));
        y = tf.relu(tf.add(b.branch(y, ctx), sc));
      }
      return out;
    });
    const longest = tf.tidy(() =>
      perExampleNorm(
        tf.grad((h: tf.Tensor) => {
          let y = h;
          model.blocks().forEach((b, i) => (y = tf.relu(tf.add(b.branch(y, ctx), consts[i]))));
          return lossOf(headForward(model, y));
        })(h0),
      ),
    );
    tf.dispose(consts);
    expect(sampledGradNorm(model, h0, labels, new Set([0, 1, 2]), 'path')).toBeCloseTo(longest, 5);
  });

  test('single-path gradients of the 2^n paths add up to the full gradient (linearity of the backward pass)', () => {
    // the backward pass is linear in dy: the sum over all subsets S of grad(path S) equals the full gradient
    const n = 3;
    const g = (active: Set<number>, mode: 'path' | 'subset') =>
      tf.tidy(() => {
        return tf
          .grad((h: tf.Tensor) => lossOf(headForward(model, sampledBlocksForward(model, h, active, mode))))(h0)
          .dataSync();
      });
    const full = g(new Set([0, 1, 2]), 'subset');
    const sum = new Float32Array(full.length);
    for (let mask = 0; mask < 2 ** n; mask++) {
      const part = g(new Set([0, 1, 2].filter((i) => mask & (1 << i))), 'path');
      for (let i = 0; i < sum.length; i++) sum[i] += part[i];
    }
    let maxErr = 0;
    for (let i = 0; i < sum.length; i++) maxErr = Math.max(maxErr, Math.abs(sum[i] - full[i]));
    expect(maxErr).toBeLessThan(1e-4);
  });
});

test('the trend sentence follows the fitted per-branch factor (falls, grows, flat, too few points)', () => {
  const ks = [0, 1, 2, 3];
  expect(
    magnitudeTrend(
      ks,
      ks.map((k) => 0.5 ** k),
    ),
  ).toMatch(/falls with the path length.*× 0\.5 per extra/);
  expect(
    magnitudeTrend(
      ks,
      ks.map((k) => 2 ** k),
    ),
  ).toMatch(/grows with the path length.*× 2 per extra/);
  expect(magnitudeTrend(ks, [1, 1, 1, 1])).toMatch(/stays about the same/);
  expect(magnitudeTrend(ks, [0, 0, 0, 1])).toMatch(/Too few/);
});

test('the comparison with Veit et al.: their 5-17 of 54 blocks, scaled to other depths; overlap said in words', () => {
  expect(veitComparison({ lo: 5, hi: 17, pathFraction: 0.0045 }, 54)).toMatch(
    /lengths 5–17 .* against Veit's 5–17: about the same range\./,
  );
  expect(veitComparison({ lo: 20, hi: 34, pathFraction: 0.9 }, 54)).toMatch(/against Veit's 5–17: a different range: longer paths\./);
  expect(veitComparison({ lo: 12, hi: 25, pathFraction: 0.3 }, 54)).toMatch(
    /a partly overlapping range \(6 of the 21 lengths in either are in both\), longer on the whole\./,
  );
  // 9 blocks (ResNet-20): 5/54 and 17/54 of 9 are about 1 and 3
  expect(veitComparison({ lo: 2, hi: 7, pathFraction: 0.96 }, 9)).toContain(
    "against Veit's 5–17 of 54, i.e. about 1–3 of 9 scaled to this depth",
  );
  expect(magnitudeTrend([0, 1, 2], [1, 2, 4], 54)).not.toContain('shallower');
  expect(magnitudeTrend([0, 1, 2], [1, 2, 4], 9)).toContain('in this shallower net');
});

test('runPaths on 54 blocks (as many as ResNet-110): binomial over 2^54 paths; sampled lengths only: shares of those, no Veit verdict', async () => {
  const deep = resnet({
    block: 'basic',
    layers: [18, 18, 18],
    stem: 'cifar',
    inChannels: 1,
    widths: [2, 2, 2],
    stemWidth: 2,
    seed: 3,
  }).eval();
  const inputs = tf.tensor4d(new Rng(5).normalArray(2 * 8 * 8), [2, 8, 8, 1]);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-paths-'));
  try {
    const r = await runPaths({ model: deep, inputs, labels: [1, 2], samples: 2, lengths: [0, 5, 10, 17, 27, 54], out, command: 'test' });
    expect(r.result.n).toBe(54);
    expect(r.result.pathCounts[27]).toBe('1946939425648112');
    expect(r.result.meanMagnitude.every((m) => Number.isFinite(m) && m >= 0)).toBe(true);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    // Six of 55 lengths: where most of the whole gradient comes from is not measured, and the report says so.
    expect(r.result.everyLength).toBe(false);
    expect(md).toContain(
      'Only lengths 0, 5, 10, 17, 27, 54 of 0–54 were sampled (--lengths): the shares below are of the gradient of those lengths alone',
    );
    expect(md).not.toMatch(/of the total gradient comes from|against Veit's 5–17/);
    expect(md).toContain('share of the sampled lengths');
  } finally {
    fs.rmSync(out, { recursive: true });
    tf.dispose(inputs);
    deep.dispose();
  }
}, 120_000);

test('runPaths refuses a path length longer than the net, before sampling (no silent all-blocks value, no crash); sorts and dedupes the others', async () => {
  const inputs = tf.tensor4d(new Rng(5).normalArray(2 * 8 * 8), [2, 8, 8, 1]);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-paths-'));
  const logged: string[] = [];
  try {
    const run = (lengths: number[]) =>
      runPaths({ model, inputs, labels: [1, 2], samples: 1, lengths, out, command: 'test', log: (m) => logged.push(m) });
    await expect(run([1, 99])).rejects.toThrow(
      /^paths: path lengths \(--lengths\) must be 0 to 3, the model.s number of blocks; got 99\.$/,
    );
    expect(logged).toEqual([]);
    expect(fs.readdirSync(out)).toEqual([]);
    expect((await run([3, 1, 1])).result.lengths).toEqual([1, 3]);
  } finally {
    fs.rmSync(out, { recursive: true });
    tf.dispose(inputs);
  }
});

test('runPaths over every length: the dominant range and the comparison with Veit et al. are reported', async () => {
  const inputs = tf.tensor4d(new Rng(5).normalArray(2 * 8 * 8), [2, 8, 8, 1]);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-paths-'));
  try {
    const r = await runPaths({ model, inputs, labels: [1, 2], samples: 1, out, command: 'test' });
    expect(r.result.everyLength).toBe(true);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/\*\*90 % of the total gradient comes from paths of length \d+–\d+\*\*/);
    expect(md).toMatch(/against Veit's 5–17/);
    expect(md).not.toContain('Only lengths');
  } finally {
    fs.rmSync(out, { recursive: true });
    tf.dispose(inputs);
  }
});
