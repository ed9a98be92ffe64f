/**
 * Preprocessing bound to the weights: the geometry of torchvision's transforms and the zoo's
 * Fashion-MNIST padding, and agreement with torchvision itself on Debian's python3-skimage photos
 * (the reference is made at test time by packages/zoo/scripts/torchvision_preprocess.py where
 * /usr/bin/python3 has torch; skipped with the reason printed otherwise).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { loadNpy } from '@resnet-ts/core/node';
import {
  IMAGENET_CLASSES,
  IMAGENET_V1,
  IMAGENET_V2,
  ImagePreprocessing,
  planResize,
  preprocessRgb,
  resizeBilinear,
  resizeCropPadRgb,
} from '@resnet-ts/zoo';
import { Classifier } from '@resnet-ts/zoo';
import { NodeImageInput, decodeRgb, fromPretrained } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const PHOTOS_DIR = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'motorcycle_left.png', 'rocket.jpg'];
/** The documented tolerance (zoo README): normalised input tensors, and logits relative to max(1, max |logit|). */
const INPUT_TOLERANCE = 1e-5;
const LOGIT_TOLERANCE = 1e-3;

describe('geometry', () => {
  test("torchvision's Resize(256) + CenterCrop(224): short side 256, long side floored, offsets rounded half to even", () => {
    expect(planResize(300, 451, IMAGENET_V1)).toEqual({ resizeHeight: 256, resizeWidth: 384, height: 224, width: 224, top: 16, left: 80 });
    expect(planResize(741, 500, IMAGENET_V2)).toEqual({ resizeHeight: 343, resizeWidth: 232, height: 224, width: 224, top: 60, left: 4 });
    // (257 - 224) / 2 = 16.5 rounds to 16 in Python.
    expect(planResize(257, 300, { ...IMAGENET_V1, resize: 257 }).top).toBe(16);
  });

  test('the Fashion-MNIST preprocessing pads 28x28 to 32x32 with black (-mean/std), it does not resize', () => {
    const p: ImagePreprocessing = { resize: [28, 28], padTo: [32, 32], mean: [0.286], std: [0.353], channels: 1 };
    const rgb = new Uint8Array(28 * 28 * 3).fill(255);
    const x = preprocessRgb(rgb, 28, 28, p);
    expect([x.height, x.width, x.channels]).toEqual([32, 32, 1]);
    expect(x.data[0]).toBeCloseTo(-0.286 / 0.353, 5);
    expect(x.data[2 * 32 + 2]).toBeCloseTo((1 - 0.286) / 0.353, 5);
    expect(x.data[1 * 32 + 1]).toBeCloseTo(-0.286 / 0.353, 5);
  });

  test('a crop padded to padTo is the crop on black (CenterCrop then Pad), even where the resized image is larger than the crop', () => {
    const rgb = Uint8Array.from({ length: 30 * 45 * 3 }, (_, i) => (i * 37) % 251);
    for (const [resize, crop] of [
      [28, [28, 28]],
      [[28, 28], [10, 10]],
      [40, [20, 26]],
    ] as [number | [number, number], [number, number]][]) {
      const p: ImagePreprocessing = { resize, crop, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], channels: 3 };
      const cropped = preprocessRgb(rgb, 30, 45, p);
      const padded = preprocessRgb(rgb, 30, 45, { ...p, padTo: [32, 32] });
      const [top, left] = [(32 - crop[0]) >> 1, (32 - crop[1]) >> 1];
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++)
          for (let k = 0; k < 3; k++) {
            const inCrop = y >= top && y < top + crop[0] && x >= left && x < left + crop[1];
            const want = inCrop ? cropped.data[((y - top) * crop[1] + (x - left)) * 3 + k] : -p.mean[k] / p.std[k];
            expect(padded.data[(y * 32 + x) * 3 + k]).toBe(Math.fround(want));
          }
    }
  });

  test("resizeCropPadRgb: preprocessRgb's pixels before normalising, bit for bit (black padding, gray, crops larger than the image)", () => {
    const rgb = Uint8Array.from({ length: 30 * 45 * 3 }, (_, i) => (i * 37) % 251);
    const cases: Omit<ImagePreprocessing, 'mean' | 'std'>[] = [
      { resize: 28, crop: [28, 28], padTo: [32, 32], channels: 3 },
      { resize: 40, crop: [20, 26], padTo: [32, 32], channels: 1 },
      { resize: [28, 28], padTo: [32, 32], channels: 1 },
      { resize: 24, channels: 3 },
      { crop: [40, 50], channels: 3 },
      { channels: 1 },
    ];
    for (const geometry of cases) {
      const c = geometry.channels;
      const mean = [0.5, 0.4, 0.3].slice(0, c);
      const std = [0.2, 0.25, 0.3].slice(0, c);
      const px = resizeCropPadRgb(rgb, 30, 45, { ...geometry, mean, std });
      // What train's decodeForClassifier read before: preprocessRgb with mean 0 and std 1/255, rounded.
      const identity = preprocessRgb(rgb, 30, 45, {
        ...geometry,
        mean: new Array<number>(c).fill(0),
        std: new Array<number>(c).fill(1 / 255),
      });
      expect([px.height, px.width, px.channels]).toEqual([identity.height, identity.width, c]);
      expect(px.pixels).toEqual(Uint8Array.from(identity.data, Math.round));
      // Normalising them gives preprocessRgb's input exactly (the padding is black, -mean/std).
      const x = preprocessRgb(rgb, 30, 45, { ...geometry, mean, std });
      expect(x.data).toEqual(Float32Array.from(px.pixels, (v, i) => v * (1 / 255 / std[i % c]) + -mean[i % c] / std[i % c]));
    }
  });

  test('resizing a constant image keeps it constant (weights sum to one)', () => {
    const src = new Uint8Array(37 * 53 * 3).fill(200);
    expect(new Set(resizeBilinear(src, 37, 53, 3, 11, 70))).toEqual(new Set([200]));
  });
});

function torchSkipReason(): string | null {
  const noTorch = pythonSkipReason(['torch', 'torchvision', 'PIL']);
  if (noTorch) return noTorch;
  if (!fs.existsSync(path.join(PHOTOS_DIR, PHOTOS[0]))) return `no photos in ${PHOTOS_DIR} (apt-get install python3-skimage)`;
  return null;
}

describe('agreement with torchvision on real photos', () => {
  const skip = torchSkipReason();
  let dir = '';
  let clf: Classifier<NodeImageInput>;
  beforeAll(async () => {
    if (skip) {
      console.log(`SKIP torchvision preprocessing agreement: ${skip}`);
      return;
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-preprocess-'));
    const script = path.join(__dirname, '..', 'scripts', 'torchvision_preprocess.py');
    runPython([script, '--out', dir, '--no-resnet50', ...PHOTOS.map((p) => path.join(PHOTOS_DIR, p))]);
    // A 1000-class torchvision state dict gets ImageNet V1 preprocessing and labels by default.
    clf = await fromPretrained(path.join(dir, 'resnet18.safetensors'), { model: 'resnet18' });
  }, 120_000);
  afterAll(() => {
    clf?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

  test.each(PHOTOS)('%s: V1 and V2 input tensors and resnet18 logits match torchvision', async (photo) => {
    if (skip) return;
    const stem = photo.replace(/\.\w+$/, '');
    const file = path.join(PHOTOS_DIR, photo);
    expect(clf.preprocessing).toEqual(IMAGENET_V1);
    expect(clf.labels).toEqual(IMAGENET_CLASSES);
    const x = await clf.preprocess(file);
    const ref = loadNpy(path.join(dir, `${stem}.v1.npy`));
    const refNhwc = tf.transpose(ref, [0, 2, 3, 1]);
    const inputDiff = maxAbsDiff(x, refNhwc);
    const logits = tf.tidy(() => clf.model.forward(x, { training: false }));
    const refLogits = loadNpy(path.join(dir, `${stem}.v1.logits.npy`));
    const logitDiff = maxAbsDiff(logits, refLogits);
    const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(refLogits)).dataSync()[0]));
    const refTop = tf.tidy(() => tf.argMax(refLogits, 1).dataSync()[0]);
    const top = await clf.classify(file, { topk: 1 });

    const { rgb, height, width } = await decodeRgb(file);
    const v2 = preprocessRgb(rgb, height, width, IMAGENET_V2);
    const x2 = tf.tensor4d(v2.data, [1, v2.height, v2.width, v2.channels]);
    const ref2 = tf.tidy(() => tf.transpose(loadNpy(path.join(dir, `${stem}.v2.npy`)), [0, 2, 3, 1]));
    const inputDiff2 = maxAbsDiff(x2, ref2);
    console.log(
      `${photo}: max |input - torchvision| V1 ${inputDiff.toExponential(2)}, V2 ${inputDiff2.toExponential(2)}; ` +
        `max |logits - torch| ${logitDiff.toExponential(2)} (scale ${scale.toFixed(1)}); top-1 ${top[0].label}`,
    );
    expect(inputDiff).toBeLessThanOrEqual(INPUT_TOLERANCE);
    expect(inputDiff2).toBeLessThanOrEqual(INPUT_TOLERANCE);
    expect(logitDiff).toBeLessThanOrEqual(LOGIT_TOLERANCE * scale);
    expect(top).toHaveLength(1);
    expect(top[0].index).toBe(refTop);
    expect(top[0].label).toBe(IMAGENET_CLASSES[refTop]);
    tf.dispose([x, ref, refNhwc, logits, refLogits, x2, ref2]);
  }, 60_000);
});
