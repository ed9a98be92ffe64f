/**
 * BMP and Netpbm (PBM/PGM/PPM), which sharp's libvips does not read: decoded by zoo's own path to
 * exactly PIL's `convert('RGB')` pixels (files written by PIL at test time; skipped, saying why,
 * without it), through `decodeRgb` (predict) and train's folder decoder; damaged files and files
 * that only start like one are refused in one line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImage, loadData } from '@resnet-ts/train';
import { decodeRgb } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

/** Writes each case as a file, and beside it PIL's RGB pixels (`<file>.rgb`, with 16-bit gray scaled to 8 bits). */
const MAKE = String.raw`
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
rgb = Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8))
cases = {
  'rgb24.bmp': rgb, 'gray8.bmp': rgb.convert('L'), 'bw1.bmp': rgb.convert('1'),
  'pal4.bmp': rgb.convert('P', palette=Image.ADAPTIVE, colors=16),
  'pal8.bmp': rgb.convert('P', palette=Image.ADAPTIVE, colors=200),
  'rgba32.bmp': Image.fromarray(np.dstack([np.asarray(rgb), rng.integers(0, 256, (13, 17, 1), dtype=np.uint8)])),
  'colour.ppm': rgb, 'gray.pgm': rgb.convert('L'), 'bw.pbm': rgb.convert('1'),
}
for name, im in cases.items():
  im.save(f'{d}/{name}')
def raw(name, data):
  open(f'{d}/{name}', 'wb').write(data)
vals = rng.integers(0, 1001, (13, 17, 3))
raw('max1000.ppm', b'P6\n17 13\n1000\n' + vals.astype('>u2').tobytes())
raw('max15.pgm', b'P5\n# a comment\n17 13\n15\n' + rng.integers(0, 16, (13, 17), dtype=np.uint8).tobytes())
raw('ascii.ppm', b'P3\n17 13 255\n' + ' '.join(map(str, rng.integers(0, 256, 13 * 17 * 3))).encode() + b'\n')
raw('ascii.pgm', b'P2\n17 13\n# comment\n255\n' + '\n'.join(map(str, rng.integers(0, 256, 13 * 17))).encode() + b'\n')
raw('ascii.pbm', b'P1\n17 13\n' + ''.join(map(str, rng.integers(0, 2, 13 * 17))).encode() + b'\n')
raw('deep.pgm', b'P5\n17 13\n65535\n' + rng.integers(0, 65536, (13, 17)).astype('>u2').tobytes())
import os
for name in sorted(os.listdir(d)):
  if name.endswith('.rgb'): continue
  im = Image.open(f'{d}/{name}')
  if im.mode == 'I':  # PIL reads 16-bit gray as 32-bit integers, and convert('RGB') clips them
    a = np.rint(np.asarray(im).astype(np.float64) * 255 / 65535).astype(np.uint8)
    out = np.repeat(a[:, :, None], 3, axis=2)
  else:
    out = np.asarray(im.convert('RGB'))
  open(f'{d}/{name}.rgb', 'wb').write(out.tobytes())
`;

const skip = pythonSkipReason(['PIL', 'numpy']);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bitmaps-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('BMP, PPM, PGM and PBM files', () => {
  test('decode to exactly PIL convert("RGB") through predict\'s decoder and train\'s', async () => {
    if (skip) return void console.log(`SKIP bitmap formats against PIL: ${skip}`);
    runPython(['-c', MAKE, dir]);
    const files = fs.readdirSync(dir).filter((f) => !f.endsWith('.rgb'));
    expect(files.length).toBe(15);
    for (const f of files) {
      const want = new Uint8Array(fs.readFileSync(path.join(dir, `${f}.rgb`)));
      const got = await decodeRgb(path.join(dir, f));
      expect([f, got.width, got.height]).toEqual([f, 17, 13]);
      expect([f, Buffer.from(got.rgb).equals(Buffer.from(want))]).toEqual([f, true]);
      // The bytes themselves (an upload, not a path) decode the same.
      const fromBytes = await decodeRgb(new Uint8Array(fs.readFileSync(path.join(dir, f))));
      expect(Buffer.from(fromBytes.rgb).equals(Buffer.from(want))).toBe(true);
      // Train's folder decoder at the image's own size gives the same pixels.
      const trained = await decodeImage(path.join(dir, f), { size: [13, 17] });
      expect([f, Buffer.from(trained).equals(Buffer.from(want))]).toEqual([f, true]);
    }
  });

  test('an image folder of them trains: listed, decoded, nothing skipped', async () => {
    if (skip) return void console.log(`SKIP bitmap folder: ${skip}`);
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bitmap-folder-'));
    try {
      runPython(['-c', MAKE, folder]);
      for (const [cls, files] of [
        ['cat', ['rgb24.bmp', 'pal4.bmp', 'gray.pgm']],
        ['dog', ['colour.ppm', 'bw.pbm', 'deep.pgm']],
      ] as const) {
        fs.mkdirSync(path.join(folder, 'photos', cls), { recursive: true });
        for (const f of files) fs.renameSync(path.join(folder, f), path.join(folder, 'photos', cls, f));
      }
      const notes: string[] = [];
      const pair = await loadData(path.join(folder, 'photos'), { imageSize: [8, 8], val: 0, log: (m) => notes.push(m) });
      expect(notes).toEqual([]);
      expect(pair.skipped).toEqual([]);
      expect(pair.train.classes).toEqual(['cat', 'dog']);
      expect(Array.from(pair.train.labels).sort()).toEqual([0, 0, 0, 1, 1, 1]);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  test('damaged files and look-alikes get a one-line error, never noise', async () => {
    const write = (name: string, data: string | Buffer) => {
      fs.writeFileSync(path.join(dir, name), data);
      return path.join(dir, name);
    };
    const cases: [string, string | Buffer, RegExp][] = [
      ['short.ppm', 'P6\n10 10\n255\nabc', /Netpbm pixel data is cut short/],
      ['words.pgm', 'P2\n2 2\n255\n1 2 x 4\n', /non-number/],
      ['huge.pgm', 'P5\n20000 20000\n255\n', /exceeds the decoder's limit/],
      ['maxval.pgm', 'P5\n2 2\n70000\n', /maxval is 70000/],
      ['tiny.bmp', 'BM', /BMP header is cut short/],
      ['notes.bmp', `BMW engine notes ${'x'.repeat(60)}`, /not a BMP file/],
    ];
    for (const [name, data, message] of cases) {
      const file = write(name, data);
      await expect(decodeRgb(file)).rejects.toThrow(message);
      await expect(decodeImage(file, { size: [4, 4] })).rejects.toThrow(/Cannot decode image/);
    }
    // "P3" not followed by whitespace is not Netpbm: sharp's own error, naming the formats.
    await expect(decodeRgb(write('p3.txt', 'P3tree'))).rejects.toThrow(/Give a JPEG, PNG, WebP, BMP, PPM, PGM or PBM file/);
  });
});
