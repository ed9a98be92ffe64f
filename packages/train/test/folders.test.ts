/**
 * Data set layouts on real files: image folders (class/*.png with a stratified seeded validation
 * split; train/ val/ test/ matched by class NAME — the 50 % regression), corrupt images skipped,
 * one-class folders refused; IDX data identified by content, not path; resizing in-memory data;
 * random-resized-crop.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { Module, Rng, Shape, Tracer, useBackend } from '@resnet-ts/core';
import {
  Batcher,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  MNIST_TEST_COUNTS,
  MNIST_TRAIN_COUNTS,
  datasetFingerprint,
  defaultAugmentation,
  encodeIdx,
  evaluate,
  fitDataset,
  loadData,
  stratifiedSplit,
} from '../src/index.js';
import { HAVE_FMNIST, synthetic, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const COLOURS = { red: { r: 230, g: 20, b: 20 }, green: { r: 20, g: 230, b: 20 }, blue: { r: 20, g: 20, b: 230 } } as const;
type Colour = keyof typeof COLOURS;

/** Writes `n` solid-colour images per class (PNG and JPEG alternately) under `dir/<class>/`. */
async function writeClasses(dir: string, classes: Colour[], n: number): Promise<void> {
  for (const c of classes) {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < n; i++) {
      const img = sharp({ create: { width: 20 + i, height: 16, channels: 3, background: COLOURS[c] } });
      await (i % 2 ? img.jpeg() : img.png()).toFile(path.join(dir, c, `${i}.${i % 2 ? 'jpg' : 'png'}`));
    }
  }
}

/** The colour an RGB image is mostly made of. */
function dominant(px: ArrayLike<number>): Colour {
  const sum = [0, 0, 0];
  for (let i = 0; i < px.length; i++) sum[i % 3] += px[i];
  return (['red', 'green', 'blue'] as const)[sum.indexOf(Math.max(...sum))];
}

/** A perfect classifier of solid colours for a given class order: logits = mean RGB mapped onto the class indices. */
class ColourOracle extends Module {
  constructor(private readonly classes: string[]) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const rgb = tf.mean(x, [1, 2]) as tf.Tensor2D;
      const map = tf.tensor2d(
        (['red', 'green', 'blue'] as const).flatMap((c) => this.classes.map((k) => (k === c ? 10 : 0))),
        [3, this.classes.length],
      );
      return tf.matMul(rgb, map);
    });
  }
  describe(input: Shape, _t: Tracer): Shape {
    return [this.classes.length, ...input.slice(3)];
  }
}

describe('image folders', () => {
  test('class/*.png: a stratified, seeded validation split (default 10 %), reproducible', async () => {
    const dir = tmpDir();
    await writeClasses(dir, ['red', 'green', 'blue'], 10);
    const a = await loadData(dir, { imageSize: [8, 8] });
    expect(a.kind).toBe('folder');
    expect(a.train.classes).toEqual(['blue', 'green', 'red']);
    const counts = (d: typeof a.train) => [0, 1, 2].map((k) => Array.from(d.labels).filter((l) => l === k).length);
    expect(counts(a.val!)).toEqual([1, 1, 1]);
    expect(counts(a.train)).toEqual([9, 9, 9]);
    expect(a.test).toBeUndefined();
    const b = await loadData(dir, { imageSize: [8, 8] });
    expect(Array.from(b.val!.images)).toEqual(Array.from(a.val!.images));
    const c = await loadData(dir, { imageSize: [8, 8], val: 0.3, seed: 1 });
    expect(counts(c.val!)).toEqual([3, 3, 3]);
    // Labels stay true to the pixels after the split.
    for (const d of [a.train, a.val!, c.val!])
      for (let i = 0; i < d.labels.length; i++) expect(dominant(d.images.subarray(i * 192, (i + 1) * 192))).toBe(d.classes[d.labels[i]]);
  });

  test('datasetFingerprint: the same images anywhere give one fingerprint; two images swapped between class folders another', async () => {
    const dir = tmpDir();
    await writeClasses(dir, ['red', 'blue'], 4);
    const load = async (d: string) => (await loadData(d, { imageSize: [8, 8], val: 0.25, seed: 3 })).train;
    const first = await load(dir);
    const copy = tmpDir();
    fs.cpSync(dir, copy, { recursive: true });
    expect(datasetFingerprint(await load(copy))).toBe(datasetFingerprint(first));
    // A red and a blue image trade folders: the counts, classes, size and pixel statistics stay the same.
    fs.renameSync(path.join(copy, 'red', '0.png'), path.join(copy, 'tmp.png'));
    fs.renameSync(path.join(copy, 'blue', '0.png'), path.join(copy, 'red', '0.png'));
    fs.renameSync(path.join(copy, 'tmp.png'), path.join(copy, 'blue', '0.png'));
    const swapped = await load(copy);
    expect([swapped.labels.length, swapped.classes]).toEqual([first.labels.length, first.classes]);
    expect(datasetFingerprint(swapped)).not.toBe(datasetFingerprint(first));
    // The labels' array type does not count, their values do.
    expect(datasetFingerprint({ ...first, labels: Int32Array.from(first.labels) })).toBe(
      datasetFingerprint({ ...first, labels: Uint8Array.from(first.labels) }),
    );
  });

  test('train/ and test/ with different class folders: test labels index the TRAIN classes by name (a perfect model scores 100 %, not 50 %)', async () => {
    const dir = tmpDir();
    await writeClasses(path.join(dir, 'train'), ['red', 'green', 'blue'], 4);
    await writeClasses(path.join(dir, 'test'), ['green', 'red'], 3); // no 'blue', which sorts first
    const notes: string[] = [];
    const pair = await loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) });
    expect(pair.test!.classes).toEqual(['blue', 'green', 'red']);
    expect(notes.join('\n')).toMatch(/test has no images of 'blue': their accuracy there is not measured/);
    for (let i = 0; i < pair.test!.labels.length; i++)
      expect(dominant(pair.test!.images.subarray(i * 192, (i + 1) * 192))).toBe(pair.train.classes[pair.test!.labels[i]]);
    const oracle = new ColourOracle(pair.train.classes);
    const r = evaluate(oracle, pair.test!, { preprocessing: { mean: [0, 0, 0], std: [1, 1, 1] } });
    expect(r.top1).toBe(1);
    expect(r.n).toBe(6);
  });

  test('train/ val/ test/: val/ is the validation set; --val is refused next to val/, and split from train/ without it', async () => {
    const dir = tmpDir();
    await writeClasses(path.join(dir, 'train'), ['red', 'blue'], 6);
    await writeClasses(path.join(dir, 'val'), ['red', 'blue'], 2);
    await writeClasses(path.join(dir, 'test'), ['blue', 'red'], 2);
    const pair = await loadData(dir, { imageSize: [8, 8] });
    expect([pair.train.labels.length, pair.val!.labels.length, pair.test!.labels.length]).toEqual([12, 4, 4]);
    await expect(loadData(dir, { imageSize: [8, 8], val: 0.2 })).rejects.toThrow(/has a val\/ folder: leave out --val/);
    fs.rmSync(path.join(dir, 'val'), { recursive: true });
    const split = await loadData(dir, { imageSize: [8, 8], val: 0.5 });
    expect([split.train.labels.length, split.val!.labels.length, split.test!.labels.length]).toEqual([6, 6, 4]);
  });

  test('a class in test/ that train/ lacks, a split without train/, and a one-class folder are clear errors', async () => {
    const dir = tmpDir();
    await writeClasses(path.join(dir, 'train'), ['red', 'blue'], 2);
    await writeClasses(path.join(dir, 'test'), ['green'], 1);
    await expect(loadData(dir, { imageSize: [8, 8] })).rejects.toThrow(
      /test has class folder\(s\) 'green' that train\/ lacks \(train\/ has blue, red\): a model trained on train\/ cannot output it\. Add its images to train\/, or remove it from test\/\.$/,
    );
    const noTrain = tmpDir();
    await writeClasses(path.join(noTrain, 'test'), ['red', 'blue'], 1);
    await expect(loadData(noTrain, { imageSize: [8, 8] })).rejects.toThrow(/has test\/ but no train\//);
    const one = tmpDir();
    await writeClasses(one, ['red'], 3);
    await expect(loadData(one, { imageSize: [8, 8] })).rejects.toThrow(/has 1 class folder \(red\): a classifier needs at least 2/);
    // Evaluation measures the one class (resnet eval pairs it with the model's output of that name).
    const evaluated = await loadData(one, { imageSize: [8, 8], evaluatedSplitOnly: true });
    expect([evaluated.train.classes, evaluated.train.labels.length + (evaluated.val?.labels.length ?? 0)]).toEqual([['red'], 3]);
  });

  test('evaluatedSplitOnly (resnet eval): only test/ (else val/) is read, with its own class folders; train/ is not read', async () => {
    const dir = tmpDir();
    await writeClasses(path.join(dir, 'train'), ['red', 'blue'], 2);
    fs.writeFileSync(path.join(dir, 'train', 'red', 'broken.png'), 'not an image'); // a note, were train/ read
    await writeClasses(path.join(dir, 'test'), ['green', 'red'], 3); // 'green': a class train/ lacks
    const notes: string[] = [];
    const pair = await loadData(dir, { imageSize: [8, 8], val: 0, evaluatedSplitOnly: true, log: (m) => notes.push(m) });
    expect(notes).toEqual([]);
    expect([pair.test!.classes, pair.test!.labels.length, pair.val]).toEqual([['green', 'red'], 6, undefined]);
    for (let i = 0; i < 6; i++)
      expect(dominant(pair.test!.images.subarray(i * 192, (i + 1) * 192))).toBe(pair.test!.classes[pair.test!.labels[i]]);
    // Without test/: val/; a split folder without train/ is evaluated too (train needs train/, see above).
    fs.renameSync(path.join(dir, 'test'), path.join(dir, 'val'));
    fs.rmSync(path.join(dir, 'train'), { recursive: true });
    const val = await loadData(dir, { imageSize: [8, 8], val: 0, evaluatedSplitOnly: true });
    expect([val.val!.classes, val.val!.labels.length, val.test]).toEqual([['green', 'red'], 6, undefined]);
  });

  test('a truncated JPEG and a text file named .png are skipped with a count, not fatal', async () => {
    const dir = tmpDir();
    await writeClasses(dir, ['red', 'blue'], 5);
    const jpeg = fs.readFileSync(path.join(dir, 'red', '1.jpg'));
    fs.writeFileSync(path.join(dir, 'red', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    fs.writeFileSync(path.join(dir, 'blue', 'notes.png'), 'not an image');
    const notes: string[] = [];
    const pair = await loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) });
    expect(pair.skipped!.map((f) => path.basename(f)).sort()).toEqual(['notes.png', 'truncated.jpg']);
    expect(notes.join('\n')).toMatch(/skipped 2 image\(s\) that could not be decoded/);
    expect(pair.train.labels.length + pair.val!.labels.length).toBe(10);
  });
});

describe('IDX data sets are identified by content, not path', () => {
  const real = HAVE_FMNIST ? test : test.skip;
  real('a Fashion-MNIST copy in a folder called digits/ is Fashion-MNIST', async () => {
    const dir = path.join(tmpDir(), 'digits');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(FASHION_MNIST_DIR)) fs.copyFileSync(path.join(FASHION_MNIST_DIR, f), path.join(dir, f));
    const pair = await loadData(dir);
    expect(pair.kind).toBe('fashion-mnist');
    expect(pair.train.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(pair.flip).toBe(true);
  });

  real(
    'the test files alone (resnet eval): Fashion-MNIST by its test labels, read as the test set; training says what it needs',
    async () => {
      const dir = path.join(tmpDir(), 'only-test');
      fs.mkdirSync(dir);
      for (const f of fs.readdirSync(FASHION_MNIST_DIR).filter((f) => f.startsWith('t10k')))
        fs.copyFileSync(path.join(FASHION_MNIST_DIR, f), path.join(dir, f));
      const pair = await loadData(dir, { evaluatedSplitOnly: true });
      expect([pair.kind, pair.split, pair.test!.labels.length, pair.flip]).toEqual(['fashion-mnist', 'test', 10000, true]);
      expect(pair.test!.classes).toEqual(FASHION_MNIST_CLASSES);
      await expect(loadData(dir)).rejects.toThrow(
        /holds IDX test files \(t10k-\*\) but no training files: training needs train-images-idx3-ubyte/,
      );
      // MNIST's test split by its per-digit counts.
      const mnist = path.join(tmpDir(), 'mnist-test');
      fs.mkdirSync(mnist);
      const labels = Uint8Array.from(MNIST_TEST_COUNTS.flatMap((c, k) => new Array<number>(c).fill(k)));
      fs.writeFileSync(path.join(mnist, 't10k-images-idx3-ubyte'), encodeIdx([labels.length, 2, 2], new Uint8Array(labels.length * 4)));
      fs.writeFileSync(path.join(mnist, 't10k-labels-idx1-ubyte'), encodeIdx([labels.length], labels));
      expect((await loadData(mnist, { evaluatedSplitOnly: true })).kind).toBe('mnist');
    },
  );

  function writeIdx(dir: string, labels: Uint8Array): void {
    fs.mkdirSync(dir, { recursive: true });
    const n = labels.length;
    for (const [prefix, l] of [
      ['train', labels],
      ['t10k', labels.subarray(0, 10)],
    ] as const) {
      fs.writeFileSync(
        path.join(dir, `${prefix}-images-idx3-ubyte.gz`),
        zlib.gzipSync(encodeIdx([l.length, 2, 2], new Uint8Array(l.length * 4).fill(7))),
      );
      fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([l.length], l));
    }
    expect(n).toBeGreaterThan(0);
  }

  test("MNIST by its per-digit counts, even in a folder called fashion/; other IDX data is generic ('0', '1', ...) without flips", async () => {
    const mnist = path.join(tmpDir(), 'fashion');
    writeIdx(mnist, Uint8Array.from(MNIST_TRAIN_COUNTS.flatMap((c, k) => new Array<number>(c).fill(k))));
    const m = await loadData(mnist);
    expect([m.kind, m.flip, m.train.classes[3]]).toEqual(['mnist', false, '3']);
    const other = path.join(tmpDir(), 'fashion-mnist');
    writeIdx(
      other,
      Uint8Array.from({ length: 60 }, (_, i) => i % 4),
    );
    const o = await loadData(other);
    expect([o.kind, o.flip, o.train.classes]).toEqual(['idx', false, ['0', '1', '2', '3']]);
    const v = await loadData(other, { val: 0.25, seed: 2 });
    expect([v.train.labels.length, v.val!.labels.length, v.test!.labels.length]).toEqual([44, 16, 10]);
  });
});

describe('sizes and augmentation', () => {
  test('fitDataset resizes in-memory images (1 -> 3 channels too); too much memory is a clear error', () => {
    const d = synthetic(4, 8);
    const big = fitDataset(d, [16, 16], 3);
    expect(big.shape).toEqual([16, 16, 3]);
    expect(big.images[0]).toBe(big.images[1]);
    expect(fitDataset(d, [8, 8], 1)).toBe(d);
    expect(() => fitDataset(synthetic(200, 8), [4096, 4096], 3)).toThrow(/GiB: use --limit or a smaller --image-size/);
  });

  test('random-resized-crop from 64x64 up, pad-and-crop below; the full box without flip is the identity; seeded', () => {
    expect(defaultAugmentation([32, 32], true)).toEqual({ pad: 4, flip: true });
    expect(defaultAugmentation([64, 64], false).resizedCrop).toEqual({ scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    const d = fitDataset(synthetic(3, 8), [64, 64], 1);
    const prep = { mean: [0], std: [1] };
    const plain = Array.from(new Batcher(d, 3, prep).fill([0, 1, 2]).x);
    const full = new Batcher(d, 3, prep).fill(
      [0, 1, 2],
      { pad: 0, flip: false, resizedCrop: { scale: [1, 1], ratio: [1, 1] } },
      new Rng(1),
    ).x;
    Array.from(full).forEach((v, i) => expect(v).toBeCloseTo(plain[i], 5));
    const aug = defaultAugmentation([64, 64], true);
    const x1 = Array.from(new Batcher(d, 3, prep).fill([0, 1, 2], aug, new Rng(5)).x);
    const x2 = Array.from(new Batcher(d, 3, prep).fill([0, 1, 2], aug, new Rng(5)).x);
    expect(x1).toEqual(x2);
    expect(x1).not.toEqual(plain);
    expect(Math.min(...x1)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x1)).toBeLessThanOrEqual(1);
  });

  test('stratifiedSplit keeps every class in both parts and refuses fractions outside (0, 1)', () => {
    const d = synthetic(50, 8);
    const { train, val } = stratifiedSplit(d, 0.2, 3);
    for (const k of d.classes.keys()) {
      expect(Array.from(val.labels).filter((l) => l === k).length).toBe(1);
      expect(Array.from(train.labels).filter((l) => l === k).length).toBe(4);
    }
    expect(() => stratifiedSplit(d, 1, 0)).toThrow(/above 0 and below 1; got 1/);
  });
});
