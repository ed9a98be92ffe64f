/**
 * `resnet train` on an image folder decodes each image exactly as `resnet predict` / `resnet eval`
 * prepare it from the decoding the run stores with its weights, so the validation loss a run prints
 * is the one `resnet eval` gives for its weights on the same images. Before, training resized with
 * sharp (Lanczos, premultiplied alpha: transparent pixels black, colour-managed CMYK, libvips' gray)
 * while predict and eval use the classifier's Pillow-equivalent decoder: on cut-outs with transparent
 * corners a run printed val loss 0.21 for weights eval scored at 0.11. Images here: RGBA cut-outs
 * with random colour under the transparency, CMYK JPEGs and grayscale+alpha PNGs, at two aspect
 * ratios. Runs the built CLI (`npx tsc -b packages/cli` first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { runCli } from './cli-run';

let dir: string;

/** A w x h RGBA image: a filled disc of `colour` on transparent pixels that hide random colours. */
function cutout(w: number, h: number, colour: [number, number, number], seed: number): Buffer {
  const px = Buffer.alloc(w * h * 4);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      const inside = (y - h / 2) ** 2 + (x - w / 2) ** 2 < (Math.min(w, h) / 3) ** 2;
      for (let c = 0; c < 3; c++) px[i + c] = inside ? colour[c] : rand();
      px[i + 3] = inside ? 255 : 0;
    }
  return px;
}

/** Writes image `i` of a class: an RGBA PNG, a CMYK JPEG or a grayscale+alpha PNG, 64x48 or 40x64. */
async function writeImage(file: string, i: number, colour: [number, number, number]): Promise<void> {
  const [w, h] = i % 2 ? [64, 48] : [40, 64];
  const img = sharp(cutout(w, h, colour, 17 * i + colour[0]), { raw: { width: w, height: h, channels: 4 } });
  if (i % 3 === 0) await img.png().toFile(`${file}.png`);
  else if (i % 3 === 1) await img.flatten().toColourspace('cmyk').jpeg({ quality: 95 }).toFile(`${file}.jpg`);
  else await img.toColourspace('b-w').png().toFile(`${file}.png`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-train-decode-'));
  for (const [split, n] of [
    ['train', 6],
    ['val', 3],
  ] as const)
    for (const [cls, colour] of [
      ['blue', [40, 40, 220]],
      ['red', [220, 40, 40]],
    ] as const) {
      fs.mkdirSync(path.join(dir, 'photos', split, cls), { recursive: true });
      for (let i = 0; i < n; i++) await writeImage(path.join(dir, 'photos', split, cls, String(i)), i, [...colour]);
    }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("the validation loss train prints for its weights is eval's on the same images", async () => {
  const meta = await sharp(path.join(dir, 'photos', 'train', 'red', '1.jpg')).metadata();
  expect(meta.space).toBe('cmyk');
  const train = await runCli(['train', '--data', 'photos', '--epochs', '2', '--batch', '4', '--lr', '0.05', '--out', 'run'], dir, 120_000);
  expect(train.status).toBe(0);
  expect(train.stderr).not.toMatch(/skipped|could not/);
  // Progress and epoch lines go to stderr.
  const last = `${train.stdout}\n${train.stderr}`.split('\n').filter((l) => l.startsWith('epoch 2/2'))[0];
  const printed = /val loss (\d+\.\d+) top-1 (\d+\.\d+) %/.exec(last ?? '');
  expect(printed).not.toBeNull();
  const evaluated = await runCli(['eval', '--weights', 'run/model.safetensors', '--data', 'photos'], dir, 120_000);
  expect(evaluated.status).toBe(0);
  expect(evaluated.stdout).toContain('images: 6 ');
  const scored = /loss: (\d+\.\d+)\s+top-1: (\d+\.\d+) %/.exec(evaluated.stdout);
  expect(scored).not.toBeNull();
  expect([scored![1], scored![2]]).toEqual([printed![1], printed![2]]);
});
