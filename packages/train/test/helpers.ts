import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resnet } from '@resnet-ts/zoo';
import { Dataset, FASHION_MNIST_DIR, loadFashionMnist } from '../src/index.js';

export const HAVE_FMNIST = fs.existsSync(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

/** The directories {@link tmpDir} made for this test file (jest gives each file its own module registry). */
const madeDirs: string[] = [];

/** A fresh temporary directory, removed when this test file's tests have run. */
export function tmpDir(prefix = 'resnet-train-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

// Every test run left ~125 of them in the system's temporary folder.
afterAll(() => {
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A tiny ResNet (1 block per stage, widths 4/8/16) that trains fast on the cpu backend. */
export function tinyModel(seed = 0) {
  return resnet({ block: 'basic', layers: [1, 1, 1], stem: 'cifar', inChannels: 1, widths: [4, 8, 16], stemWidth: 4, seed });
}

/** 2x2 average pooling of a uint8 1-channel data set (28x28 -> 14x14), to keep cpu tests fast. */
export function halve(d: Dataset): Dataset {
  const [h, w] = d.shape;
  const H = h >> 1;
  const W = w >> 1;
  const n = d.labels.length;
  const out = new Uint8Array(n * H * W);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const b = i * h * w;
        const s =
          d.images[b + 2 * y * w + 2 * x] +
          d.images[b + 2 * y * w + 2 * x + 1] +
          d.images[b + (2 * y + 1) * w + 2 * x] +
          d.images[b + (2 * y + 1) * w + 2 * x + 1];
        out[i * H * W + y * W + x] = Math.round(s / 4);
      }
  return { ...d, images: out, shape: [H, W, 1] };
}

/** Synthetic 10-class data: class k is a bright square at a class-dependent place, plus noise. */
export function synthetic(n: number, size = 8, seed = 1): Dataset {
  let s = seed;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const images = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    labels[i] = k;
    const cy = k % 3;
    const cx = Math.floor(k / 3) % 4;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const on = Math.floor(y / 3) === cy && Math.floor(x / 2) === cx;
        images[i * size * size + y * size + x] = Math.min(255, (on ? 200 : 20) + Math.floor(rnd() * 40));
      }
  }
  return { images, labels, shape: [size, size, 1], classes: Array.from({ length: 10 }, (_, k) => `c${k}`) };
}

/** The first n Fashion-MNIST training images halved to 14x14 (or synthetic data when absent). */
export function smallFashion(n: number): Dataset {
  if (!HAVE_FMNIST) return synthetic(n, 14);
  const d = loadFashionMnist('train');
  return halve({ ...d, images: d.images.slice(0, n * 784), labels: d.labels.slice(0, n) });
}
