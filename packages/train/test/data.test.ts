import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { Rng } from '@resnet-ts/core';
import {
  Batcher,
  DataError,
  FASHION_MNIST_CLASSES,
  type FolderProgress,
  folderProgressReporter,
  channelStats,
  encodeIdx,
  epochOrder,
  loadCifar10,
  loadCifar100,
  loadData,
  loadFashionMnist,
  loadIdx,
  loadIdxFolder,
  loadImageFolder,
} from '../src/index.js';
import { HAVE_FMNIST, tmpDir } from './helpers.js';

describe('IDX loader', () => {
  const dir = tmpDir();
  const imgs = new Uint8Array(3 * 4 * 5).map((_, i) => i);
  const labels = new Uint8Array([0, 9, 3]);

  test('reads raw and gzipped files', () => {
    fs.writeFileSync(path.join(dir, 'i'), encodeIdx([3, 4, 5], imgs));
    fs.writeFileSync(path.join(dir, 'l.gz'), zlib.gzipSync(encodeIdx([3], labels)));
    const d = loadIdx(path.join(dir, 'i'), path.join(dir, 'l.gz'), FASHION_MNIST_CLASSES);
    expect(d.shape).toEqual([4, 5, 1]);
    expect([...d.labels]).toEqual([0, 9, 3]);
    expect([...d.images]).toEqual([...imgs]);
  });

  test('corrupt files give clear errors naming the file', () => {
    const f = (name: string, bytes: Uint8Array) => (fs.writeFileSync(path.join(dir, name), bytes), path.join(dir, name));
    const good = f('good', encodeIdx([3, 4, 5], imgs));
    const goodL = f('goodL', encodeIdx([3], labels));
    const trunc = f('trunc', encodeIdx([3, 4, 5], imgs).subarray(0, 40));
    expect(() => loadIdx(trunc, goodL, FASHION_MNIST_CLASSES)).toThrow(/trunc is truncated/);
    const magic = encodeIdx([3, 4, 5], imgs);
    magic[0] = 0x42;
    expect(() => loadIdx(f('magic', magic), goodL, FASHION_MNIST_CLASSES)).toThrow(/magic.*bad magic number/);
    expect(() => loadIdx(goodL, goodL, FASHION_MNIST_CLASSES)).toThrow(/goodL: wrong magic number.*images/);
    const count = f('count', encodeIdx([2], labels.subarray(0, 2)));
    expect(() => loadIdx(good, count, FASHION_MNIST_CLASSES)).toThrow(/3 images but .*count has 2 labels/);
    const range = f('range', encodeIdx([3], new Uint8Array([0, 10, 1])));
    expect(() => loadIdx(good, range, FASHION_MNIST_CLASSES)).toThrow(DataError);
    expect(() => loadIdx(good, range, FASHION_MNIST_CLASSES)).toThrow(/range: label 10 .*out of range/);
    const gz = zlib.gzipSync(encodeIdx([3, 4, 5], imgs));
    expect(() => loadIdx(f('bad.gz', gz.subarray(0, gz.length - 10)), goodL, FASHION_MNIST_CLASSES)).toThrow(
      /bad\.gz is a corrupt or truncated gzip/,
    );
    expect(() => loadIdx(path.join(dir, 'nope'), goodL, FASHION_MNIST_CLASSES)).toThrow(/Cannot read .*nope: no such file/);
  });

  test('a missing data set says how to get it', () => {
    expect(() => loadIdxFolder(tmpDir(), 'train', FASHION_MNIST_CLASSES, 'HOW')).toThrow(/train-images-idx3-ubyte.gz not found. HOW/);
    expect(() => loadFashionMnist('train', '/nonexistent')).toThrow(/apt-get install dataset-fashion-mnist.*--data <dir>/);
  });

  const real = HAVE_FMNIST ? test : test.skip;
  if (!HAVE_FMNIST)
    console.log('skipping real Fashion-MNIST tests: /usr/share/datasets/fashion-mnist is absent (apt-get install dataset-fashion-mnist)');
  real('loads the real Fashion-MNIST', async () => {
    const { train, test: t, kind, flip } = await loadData('fashion-mnist');
    expect(kind).toBe('fashion-mnist');
    expect(flip).toBe(true);
    expect(train.labels.length).toBe(60000);
    expect(t.labels.length).toBe(10000);
    expect(train.shape).toEqual([28, 28, 1]);
    const counts = new Array(10).fill(0);
    for (const l of t.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    const { mean, std } = channelStats(train);
    expect(mean[0]).toBeCloseTo(0.286, 2);
    expect(std[0]).toBeCloseTo(0.353, 2);
  });
});

describe('CIFAR loader', () => {
  const dir = tmpDir();
  function record(label: number[], seed: number): Uint8Array {
    const r = new Uint8Array(label.length + 3072);
    r.set(label);
    for (let i = 0; i < 3072; i++) r[label.length + i] = (i * 7 + seed) & 255;
    return r;
  }
  test('CIFAR-10 batches: planar CHW -> NHWC', () => {
    for (let b = 1; b <= 5; b++)
      fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), Buffer.concat([record([b], b), record([9], 100 + b)]));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), record([3], 7));
    const d = loadCifar10(dir, 'train');
    expect(d.labels.length).toBe(10);
    expect(d.shape).toEqual([32, 32, 3]);
    expect([...d.labels.subarray(0, 4)]).toEqual([1, 9, 2, 9]);
    // pixel (0, 1) of image 0: R at 1, G at 1025, B at 2049 of the planar record
    expect([...d.images.subarray(3, 6)]).toEqual([(1 * 7 + 1) & 255, (1025 * 7 + 1) & 255, (2049 * 7 + 1) & 255]);
    expect(loadCifar10(dir, 'test').classes[3]).toBe('cat');
  });
  test('CIFAR-100: fine labels (second byte) or coarse', () => {
    const d100 = tmpDir();
    fs.writeFileSync(path.join(d100, 'train.bin'), Buffer.concat([record([4, 77], 1), record([19, 99], 2)]));
    expect([...loadCifar100(d100, 'train').labels]).toEqual([77, 99]);
    expect([...loadCifar100(d100, 'train', true).labels]).toEqual([4, 19]);
  });
  test('a folder of the test batch alone: evaluatedSplitOnly (resnet eval) reads it; training still needs the training batches', async () => {
    const only = tmpDir();
    fs.writeFileSync(path.join(only, 'test_batch.bin'), Buffer.concat([record([3], 7), record([5], 8)]));
    const pair = await loadData(only, { evaluatedSplitOnly: true });
    expect([pair.kind, pair.split, [...pair.test!.labels], pair.train]).toEqual(['cifar10', 'test', [3, 5], pair.test]);
    await expect(loadData(only)).rejects.toThrow(
      `${only} holds the CIFAR-10 test batch (test_batch.bin) but no training batches: training needs data_batch_1.bin to data_batch_5.bin beside it.`,
    );
    const only100 = tmpDir();
    fs.writeFileSync(path.join(only100, 'test.bin'), record([4, 77], 1));
    expect([...(await loadData(only100, { evaluatedSplitOnly: true })).test!.labels]).toEqual([77]);
    await expect(loadData(only100)).rejects.toThrow(
      `${only100} holds the CIFAR-100 test file (test.bin) but no training file: training needs train.bin beside it.`,
    );
  });
  test('truncated batch and bad labels name the file', () => {
    const bad = tmpDir();
    fs.writeFileSync(path.join(bad, 'test_batch.bin'), record([3], 1).subarray(0, 3000));
    expect(() => loadCifar10(bad, 'test')).toThrow(/test_batch\.bin is truncated/);
    fs.writeFileSync(path.join(bad, 'test_batch.bin'), record([12], 1));
    expect(() => loadCifar10(bad, 'test')).toThrow(/test_batch\.bin: record 0 has label 12/);
  });
});

describe('image folder loader', () => {
  test('decodes PNG/JPEG with sharp, resizes, one class per sub-folder', async () => {
    const dir = tmpDir();
    for (const [cls, color] of [
      ['blue', { r: 0, g: 0, b: 255 }],
      ['red', { r: 255, g: 0, b: 0 }],
    ] as const) {
      fs.mkdirSync(path.join(dir, cls));
      await sharp({ create: { width: 40, height: 30, channels: 3, background: color } })
        .png()
        .toFile(path.join(dir, cls, 'a.png'));
      await sharp({ create: { width: 20, height: 20, channels: 4, background: { ...color, alpha: 1 } } })
        .jpeg()
        .toFile(path.join(dir, cls, 'b.JPG'));
    }
    fs.writeFileSync(path.join(dir, 'red', 'notes.txt'), 'ignored');
    const progress: FolderProgress[] = [];
    const d = await loadImageFolder(dir, { size: [8, 8], channels: 3, onProgress: (e) => progress.push(e) });
    expect(progress.at(-1)).toEqual({ folder: dir, done: 4, total: 4 });
    expect(d.classes).toEqual(['blue', 'red']);
    expect([...d.labels]).toEqual([0, 0, 1, 1]);
    expect(d.shape).toEqual([8, 8, 3]);
    expect(d.images[2]).toBeGreaterThan(200); // blue
    expect(d.images[2 * 192]).toBeGreaterThan(200); // red
    const g = await loadImageFolder(dir, { size: [4, 4], channels: 1 });
    expect(g.images.length).toBe(4 * 16);
    const pair = await loadData(dir, { imageSize: [8, 8] });
    expect(pair.train.labels.length + pair.val!.labels.length).toBe(4);
    expect(pair.test).toBeUndefined();
  });
  test('decoding progress off a terminal: a line every 10 s with the images done and the time left; none for quick folders', () => {
    const lines: string[] = [];
    let clock = 0;
    const report = folderProgressReporter({ bars: false, write: (l) => lines.push(l), now: () => clock });
    report({ folder: 'quick', done: 8, total: 16 });
    clock += 500;
    report({ folder: 'quick', done: 16, total: 16 });
    for (let done = 0; done <= 1000; done += 100) {
      report({ folder: 'photos/train', done, total: 1000 });
      clock += 4000; // 100 images in 4 s
    }
    expect(lines).toEqual([
      'decoding photos/train: 300/1000 images, about 0m28s left\n',
      'decoding photos/train: 600/1000 images, about 0m16s left\n',
      'decoding photos/train: 900/1000 images, about 0m04s left\n',
    ]);
  });
  test('a folder too large for memory at its image size is one DataError before decoding, not a RangeError', async () => {
    const dir = tmpDir();
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, cls));
      await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 9, g: 9, b: 9 } } })
        .png()
        .toFile(path.join(dir, cls, '1.png'));
    }
    // 2 x 40000 x 40000 x 3 bytes = 8.9 GiB: more than a typed array holds.
    const load = loadImageFolder(dir, { size: [40000, 40000] });
    await expect(load).rejects.toThrow(DataError);
    await expect(load).rejects.toThrow(
      /2 images of 40000x40000x3 need 8\.9 GiB in memory, more than the .* GiB one data set may take here/,
    );
  });
  test('a folder with no images is a clear error', async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'cat'));
    await expect(loadImageFolder(dir, { size: [8, 8] })).rejects.toThrow(/has no images/);
    fs.writeFileSync(path.join(dir, 'cat', 'x.png'), 'not a png');
    await expect(loadImageFolder(dir, { size: [8, 8] })).rejects.toThrow(/none of its 1 images could be decoded \(e\.g\. .*x\.png\)/);
  });
});

describe('mini-batches', () => {
  const d = {
    images: new Uint8Array(2 * 2 * 3).map((_, i) => i * 10),
    labels: new Int32Array([1, 0]),
    shape: [2, 3, 1] as [number, number, number],
    classes: ['a', 'b'],
  };
  test('normalisation and centred zero padding', () => {
    const b = new Batcher(d, 2, { mean: [0.5], std: [0.25], padTo: [4, 5] });
    const { x, labels } = b.fill([1, 0]);
    expect([...labels]).toEqual([0, 1]);
    const z = -0.5 / 0.25;
    const v = (p: number) => p / 255 / 0.25 - 2;
    // image 1 pixels 60..110 at rows 1-2, cols 1-3 of a 4x5 canvas
    expect(x[0]).toBeCloseTo(z);
    expect(x[1 * 5 + 1]).toBeCloseTo(v(60));
    expect(x[2 * 5 + 3]).toBeCloseTo(v(110));
    expect(x[2 * 5 + 4]).toBeCloseTo(z);
  });
  test('augmentation: crops are shifted copies, flips mirror; seeded', () => {
    const one = { ...d, images: d.images.subarray(0, 6), labels: d.labels.subarray(0, 1) };
    const b = new Batcher(one, 1, { mean: [0], std: [1] });
    const rng = new Rng(3);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { x } = b.fill([0], { pad: 1, flip: true }, rng);
      seen.add([...x].map((v) => Math.round(v * 255)).join(','));
    }
    expect(seen.has('0,10,20,30,40,50')).toBe(true); // identity
    expect(seen.has('20,10,0,50,40,30')).toBe(true); // flipped
    expect(seen.has('0,0,10,0,30,40')).toBe(true); // shifted right and down
    expect(seen.size).toBeLessThanOrEqual(18);
    const noFlip = new Set<string>();
    for (let i = 0; i < 200; i++) noFlip.add([...b.fill([0], { pad: 1, flip: false }, rng).x].join(','));
    expect(noFlip.size).toBeLessThanOrEqual(9);
    expect([...epochOrder(10, 1, 2)]).toEqual([...epochOrder(10, 1, 2)]);
    expect([...epochOrder(10, 1, 2)]).not.toEqual([...epochOrder(10, 1, 3)]);
  });
  test('data prep is fast: ms per batch of 128 (28x28 -> 32x32, pad-4 crop + flip)', () => {
    const n = 4096;
    const big = {
      images: new Uint8Array(n * 784).map((_, i) => i & 255),
      labels: new Int32Array(n),
      shape: [28, 28, 1] as [number, number, number],
      classes: ['a'],
    };
    const b = new Batcher(big, 128, { mean: [0.286], std: [0.353], padTo: [32, 32] });
    const rng = new Rng(0);
    const order = epochOrder(n, 0, 0);
    for (let i = 0; i < 5; i++) b.fill(order.subarray(0, 128), { pad: 4, flip: true }, rng);
    const batches = 100;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batches; i++)
      b.fill(order.subarray((i * 128) % (n - 128), ((i * 128) % (n - 128)) + 128), { pad: 4, flip: true }, rng);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / batches;
    const b3 = new Batcher({ ...big, images: new Uint8Array(n * 1024 * 3), shape: [32, 32, 3] }, 128, {
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < batches; i++) b3.fill(order.subarray(0, 128), { pad: 4, flip: true }, rng);
    const ms3 = Number(process.hrtime.bigint() - t1) / 1e6 / batches;
    process.stdout.write(`data prep: ${ms.toFixed(3)} ms per batch of 128 (28x28x1 -> 32x32x1), ${ms3.toFixed(3)} ms (CIFAR 32x32x3)\n`);
    expect(ms).toBeLessThan(20);
  });
});
