import '@resnet-ts/backend-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, ResNet, Rng, useBackend } from '@resnet-ts/core';
import { resnet } from '@resnet-ts/zoo';
import {
  ExperimentInputError,
  LesionEvaluator,
  LesionResult,
  NetLesion,
  blocksForward,
  lesionFindings,
  runLesion,
  canDelete,
  lesionedForward,
  lesionNet,
  stemForward,
  headForward,
  swapPairs,
  swappedOrder,
  tappedForward,
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

  test("a pre-activation net's final BN-ReLU is part of the hand-run pipeline: lesion, paths and gradflow see the model's own logits", () => {
    const preact = resnet({
      block: 'preact-basic',
      layers: [1, 1, 1],
      stem: 'cifar',
      inChannels: 1,
      widths: [4, 8, 8],
      stemWidth: 4,
      seed: 3,
    }).eval();
    expect(preact.head.length).toBeGreaterThan(0);
    // Running statistics away from 0/1, so that a skipped final BN shows in the logits.
    for (const [, m] of preact.namedModules()) if (m instanceof BatchNorm2d) m.runningVar.assign(tf.fill(m.runningVar.shape, 2.5));
    const want = preact.forward(x, EVAL);
    const before = tf.memory().numTensors;
    const got = [lesionedForward(preact, x), tappedForward(preact, x, false)];
    expect(tf.memory().numTensors).toBe(before + 2); // tappedForward kept its 13 intermediates alive
    for (const g of got) expect(maxDiff(g, want)).toBeLessThan(1e-6);
    // One block deleted: the model's own forward with that branch off.
    preact.blocks()[1].branchEnabled = false;
    const offWant = preact.forward(x, EVAL);
    preact.blocks()[1].branchEnabled = true;
    const off = lesionedForward(preact, x, undefined, new Set([1]));
    expect(maxDiff(off, offWant)).toBeLessThan(1e-6);
    tf.dispose([want, ...got, offWant, off]);
    preact.dispose();
  });

  test('a block index that names no block is refused (deleting block 99 gave the full model, read as a lesion)', () => {
    expect(() => lesionedForward(model, x, undefined, new Set([99]))).toThrow(
      new ExperimentInputError('block index 99 names no block: the model has 4 (0 to 3).'),
    );
    expect(() => lesionedForward(model, x, [0, 1, 2, 7])).toThrow(/^block index 7 names no block/);
    expect(model.blocks().every((b) => b.branchEnabled)).toBe(true);
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

  test('--max-k beyond the deletable blocks is refused with the range, before anything runs; a plain net with fewer stops at its own', async () => {
    const inputs = tf.tensor4d(new Rng(4).normalArray(3 * 8 * 8), [3, 8, 8, 1]);
    const data = { inputs, labels: [0, 1, 2] };
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lab-lesion-maxk-')), 'out');
    const base = { data, samples: 1, maxSwaps: 0, out, command: 'test' };
    try {
      const alone = runLesion({ ...base, model, maxK: 999 });
      await expect(alone).rejects.toThrow(ExperimentInputError);
      await expect(alone).rejects.toThrow(
        "lesion: the number of deleted blocks (--max-k) must be 1 to 4, the number of the model's blocks that can be deleted; got 999.",
      );
      await expect(runLesion({ ...base, model, plain, maxK: 5 })).rejects.toThrow(
        'lesion: the number of deleted blocks (--max-k) must be 1 to 4, the most blocks either net can delete (residual 4, plain 2); got 5.',
      );
      await expect(runLesion({ ...base, model: plain, maxK: 3 })).rejects.toThrow(
        "must be 1 to 2, the number of the model's blocks that can be deleted; got 3.",
      );
      expect(fs.existsSync(out)).toBe(false); // refused before anything was written
      // 4 is every block of the residual net: it runs k = 1..4; the plain net (2 deletable) stops at 2 and says so
      const lines: string[] = [];
      const r = await runLesion({ ...base, model, plain, maxK: 4, log: (m) => lines.push(m) });
      expect(r.result.nets.map((n) => n.randomK.length)).toEqual([4, 2]);
      expect(lines.filter((l) => l.includes('k random deletions'))).toEqual([
        expect.stringMatching(/^ {2}residual: k random deletions \d/),
        expect.stringMatching(/^ {2}plain: k random deletions \(k up to 2, its number of deletable blocks\) \d/),
      ]);
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      tf.dispose(inputs);
    }
  });

  test('54 blocks like ResNet-110, next to a shallower plain net: every single deletion, k = 1..20, 20 swaps; findings and k columns', async () => {
    const deep = resnet({
      block: 'basic',
      layers: [18, 18, 18],
      stem: 'cifar',
      inChannels: 1,
      widths: [2, 2, 2],
      stemWidth: 2,
      seed: 3,
    }).eval();
    const shallow = resnet({
      block: 'basic',
      layers: [3, 3, 3],
      stem: 'cifar',
      inChannels: 1,
      widths: [2, 2, 2],
      stemWidth: 2,
      seed: 3,
      residual: false,
    }).eval();
    const inputs = tf.tensor4d(new Rng(4).normalArray(4 * 8 * 8), [4, 8, 8, 1]);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-lesion-'));
    try {
      const r = await runLesion({
        model: deep,
        plain: shallow,
        data: { inputs, labels: [0, 1, 2, 3] },
        samples: 2,
        maxK: 20,
        maxSwaps: 20,
        out,
        command: 'test',
      });
      const [res, pl] = r.result.nets;
      expect(res.blocks.length).toBe(54);
      expect(res.single.every(Number.isFinite)).toBe(true); // every block of a ResNet can be deleted
      expect(res.randomK.map((x) => x.k)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(res.swapK.length).toBe(20);
      expect(pl.blocks.length).toBe(9);
      expect(pl.randomK.length).toBe(7); // the two downsampling blocks of a plain net stay
      const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
      expect(md).toContain('error, k = 1 / 5 / 10 / 20 random deletions');
      expect(md).toContain('- (7 deletable)'); // the plain net has no k = 10: said, not an empty cell
      expect(md).toContain('**Findings.**');
      expect(md).toMatch(/residual \(baseline .*\): one block deleted gives a median error of/);
      expect(md).toContain('Veit et al. (ResNet-110');
      // nets of different depth: one bar chart each
      expect(
        fs
          .readdirSync(out)
          .filter((f) => f.endsWith('.svg'))
          .sort(),
      ).toEqual(['error-vs-block-plain.svg', 'error-vs-block.svg', 'error-vs-k.svg']);
    } finally {
      fs.rmSync(out, { recursive: true });
      tf.dispose(inputs);
      deep.dispose();
      shallow.dispose();
    }
  }, 120_000);

  test('the findings call a rise smooth only when no single step carries more than a third of it', () => {
    const net = (means: number[]): NetLesion => ({
      name: 'residual',
      residual: true,
      blocks: ['a', 'b', 'c', 'd'],
      baseline: 0.1,
      deletable: [0, 1, 2, 3],
      single: [0.11, 0.13, 0.5, 0.1],
      randomK: means.map((mean, i) => ({ k: i + 1, mean, std: 0 })),
      swapK: [],
      swappable: [0, 1, 3],
      swapPairs: 3,
    });
    const text = (n: NetLesion) => lesionFindings({ description: 'd', testImages: 10, samples: 1, nets: [n] } as LesionResult).join('\n');
    expect(text(net([0.2, 0.3, 0.4, 0.5]))).toContain('a smooth rise');
    expect(text(net([0.12, 0.14, 0.5, 0.52]))).toContain('not smooth');
    const t = text(net([0.2, 0.3, 0.4, 0.5]));
    expect(t).toContain('median error of 13.00 %; 2 of 4 deletions cost at most 2 points, 3 at most 5');
    expect(t).toContain('the costliest: c 50.00 % (downsampling), b 13.00 %, a 11.00 %.');
    expect(t).toContain('The 1 deletion that costs more than 5 points: 1 in c; 1 of them downsampling blocks (as in Veit et al.');
    // the same costs on a block that keeps its shape: the report must say it differs from Veit et al.
    const early = { ...net([0.2, 0.3, 0.4, 0.5]), blocks: ['layer1.0', 'layer1.1', 'layer2.0', 'layer2.1'], swappable: [0, 1, 2, 3] };
    expect(text(early)).toContain('1 in layer2; 0 of them downsampling blocks (unlike Veit et al., it does not downsample)');
    // A rise that falls back to the baseline is no rise, and its one large step is named as no trend (it read "of 0.0 points in all: no rise").
    expect(text(net([0.38, 0.25, 0.1, 0.1]))).toContain(
      'no rise from the baseline to k = 4, though one step rises 28.0 points (to k = 1): no steady trend.',
    );
  });
});
