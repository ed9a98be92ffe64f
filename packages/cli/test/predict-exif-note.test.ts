/**
 * `resnet predict` says when an image was turned by its EXIF orientation (as photo viewers show it;
 * torchvision's PIL pipeline would not turn it), one note line per turned image and none for the
 * others, through the built CLI (`npx tsc -b packages/cli` first). JPEGs written by PIL at test time
 * (skipped, saying why, without it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './cli-run.js';
import { orientationNote } from '../src/commands/predict.js';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const MAKE = String.raw`
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8))
for o in (1, 2, 6, 7):
  exif = Image.Exif(); exif[0x0112] = o
  im.save(f'{d}/exif{o}.jpg', exif=exif.tobytes())
im.save(f'{d}/plain.jpg')
`;

const skip = pythonSkipReason(['PIL', 'numpy']);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-predict-exif-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('predict prints one note per image its EXIF orientation turned or mirrored, and answers every image', async () => {
  if (skip) return void console.log(`SKIP EXIF orientation notes: ${skip}`);
  runPython(['-c', MAKE, dir]);
  const images = ['plain.jpg', 'exif1.jpg', 'exif6.jpg', 'exif2.jpg', 'exif7.jpg'];
  const r = await runCli(['predict', '--model', 'resnet20-fashion-mnist', '--top', '1', ...images], dir);
  expect(r.status).toBe(0);
  expect(r.stderr.split('\n').filter((l) => l.startsWith('note: '))).toEqual([
    "note: exif6.jpg: turned upright by its EXIF orientation (6), as photo viewers show it; torchvision's PIL pipeline would not turn it",
    "note: exif2.jpg: mirrored by its EXIF orientation (2), as photo viewers show it; torchvision's PIL pipeline would not mirror it",
    "note: exif7.jpg: turned and mirrored by its EXIF orientation (7), as photo viewers show it; torchvision's PIL pipeline would not turn or mirror it",
  ]);
  for (const image of images) expect(r.stdout).toContain(`${image}\n`);
});

test('orientation 1 and values outside 2-8 give no note', () => {
  expect(orientationNote('a.jpg', 1)).toBeNull();
  expect(orientationNote('a.jpg', 9)).toBeNull();
  expect(orientationNote('a.jpg', 3)).toMatch(/^note: a\.jpg: turned upright by its EXIF orientation \(3\)/);
});
