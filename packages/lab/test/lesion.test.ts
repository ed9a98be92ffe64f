import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, ResNet, Rng, useBackend } from '@resnet-ts/core';
import { resnet } from '@resnet-ts/zoo';
import {
  LesionEvaluator,
  blocksForward,
  canDelete,
  lesionedForward,
  lesionNet,
  stemForward,
  headForward,
  swapPairs,
  swappedOrder,
} from '@resnet-ts/lab';

let model: ResNet;
let plain: ResNet;
let x: tf.Tensor4D;
const EVAL = { training: false };

beforeAll(async () => {
  await useBackend('cpu');
  // stage 1 has 2 blocks so block 1 (layer1.1) is a stride-1 block whose deletion can be checked
  model = resnet({ block: 'basic', layers: [2, 1, 1], stem: 'cifar', inChannels: 1, widths: [4, 8, 8], stemWidth: 4, seed: 5 }).eval();
  plain = resnet({
    block: 'basic',
    layers: [2, 1, 1],
    stem: 'cifar',
    inChannels: 1,
    widths: [4, 8, 8],
    stemWidth: 4,
    seed: 5,
    residual: false,
  }).eval();
  x = tf.tensor4d(new Rng(2).normalArray(3 * 8 * 8), [3, 8, 8, 1]);
});
afterAll(() => {
  tf.dispose(x);
  model.dispose();
  plain.dispose();
});

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('lesion machinery', () => {
  test('the hand-run pipeline equals model.forward', () => {
    const a = model.forward(x, EVAL);
    const b = lesionedForward(model, x);
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([a, b]);
  });

  test('a deleted block is skipped: equals running the remaining blocks with that block as relu(x)', () => {
    const blocks = model.blocks();
    const got = lesionedForward(model, x, undefined, new Set([1]));
    const want = tf.tidy(() => {
      let y = stemForward(model, x);
      y = blocks[0].forward(y, EVAL);
      y = tf.relu(y); // block 1 without its branch: relu(identity shortcut) (y >= 0 already)
      for (const b of blocks.slice(2)) y = b.forward(y, EVAL);
      return headForward(model, y);
    });
    const wantSkipped = tf.tidy(() => {
      // the same without block 1 at all (its input is a ReLU output, so relu(x) = x)
      let y = stemForward(model, x);
      for (const i of [0, 2, 3]) y = blocks[i].forward(y, EVAL);
      return headForward(model, y);
    });
    const full = model.forward(x, EVAL);
    expect(maxDiff(got, want)).toBeLessThan(1e-6);
    expect(maxDiff(got, wantSkipped)).toBeLessThan(1e-6);
    expect(maxDiff(got, full)).toBeGreaterThan(1e-4);
    expect(blocks.every((b) => b.branchEnabled)).toBe(true); // flags restored
    tf.dispose([got, want, wantSkipped, full]);
  });

  test('lesion of a block whose branch is zeroed (last BN gamma = 0) changes nothing', () => {
    const m = resnet({ block: 'basic', layers: [2, 1, 1], stem: 'cifar', inChannels: 1, widths: [4, 8, 8], stemWidth: 4, seed: 5 }).eval();
    // zero the last BN of every branch, downsampling blocks included
    for (const [name, mod] of m.namedModules()) {
      if (mod instanceof BatchNorm2d && /^layer\d+\.\d+\.bn2$/.test(name)) {
        const gamma = mod.namedParameters().find(([n]) => n === 'weight')![1];
        const beta = mod.namedParameters().find(([n]) => n === 'bias')![1];
        gamma.assign(tf.zerosLike(gamma));
        beta.assign(tf.zerosLike(beta));
      }
    }
    const base = lesionedForward(m, x);
    for (let i = 0; i < 4; i++) {
      const les = lesionedForward(m, x, undefined, new Set([i]));
      expect(maxDiff(base, les)).toBeLessThan(1e-6);
      les.dispose();
    }
    base.dispose();
    m.dispose();
  });

  test('plain net: only shape-preserving blocks can be deleted; they become the identity', () => {
    expect(plain.blocks().map(canDelete)).toEqual([true, true, false, false]);
    expect(model.blocks().map(canDelete)).toEqual([true, true, true, true]);
    const h = stemForward(plain, x);
    const y = blocksForward(plain, h, [0, 1], new Set([0, 1]));
    expect(maxDiff(h, y)).toBe(0);
    expect(() => blocksForward(plain, h, undefined, new Set([2]))).toThrow(/Cannot delete plain block/);
    tf.dispose([h, y]);
  });

  test('swaps only exchange like blocks; re-ordering changes the output', () => {
    expect(swapPairs(model)).toEqual([[0, 1]]);
    const order = swappedOrder(model, 1, new Rng(0));
    expect(order).toEqual([1, 0, 2, 3]);
    expect(swappedOrder(model, 5, new Rng(0))).toEqual([1, 0, 2, 3]); // k capped at the number of pairs
    const a = lesionedForward(model, x, order);
    const b = lesionedForward(model, x);
    expect(maxDiff(a, b)).toBeGreaterThan(1e-5);
    tf.dispose([a, b]);
  });

  test('lesionNet measures every configuration', () => {
    const labels = [0, 1, 2];
    const r = lesionNet('plain', plain, { inputs: x, labels }, { samples: 2, maxSwaps: 2, seed: 0, batchSize: 2, log: () => {} });
    expect(r.deletable).toEqual([0, 1]);
    expect(r.single.slice(2).every(Number.isNaN)).toBe(true);
    expect(r.randomK.map((k) => k.k)).toEqual([1, 2]);
    expect(r.swapPairs).toBe(1);
    expect(r.swapK.length).toBe(1); // capped at the single pair
    const ev = new LesionEvaluator(plain, { inputs: x, labels }, 2);
    const pred = tf.tidy(() => tf.argMax(plain.forward(x, EVAL), 1).dataSync());
    expect(ev.error()).toBeCloseTo(labels.filter((l, i) => pred[i] !== l).length / 3, 10);
    expect(r.baseline).toBe(ev.error());
    ev.dispose();
  });
});
