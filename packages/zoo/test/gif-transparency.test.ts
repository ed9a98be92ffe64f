/**
 * Images with transparent pixels decode to exactly PIL's `Image.open(f).convert('RGB')` (torchvision's
 * decoder), files written by PIL at test time (skipped, saying why, without it). A GIF's transparent
 * pixels take the palette colour of their index, as PIL's (libvips gives them black), and so does the
 * screen outside a first frame smaller than it; an RGBA or LA PNG keeps the colour hidden under alpha
 * 0, and a palette PNG with tRNS its palette colour.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeRgb } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

/** Writes each case, and beside it PIL's RGB pixels (`<file>.rgb`); prints {file: number of transparent pixels}. */
const MAKE = String.raw`
import json, struct, sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
alpha = np.zeros((20, 24), np.uint8); alpha[5:15, 6:18] = 255
Image.fromarray(np.dstack([rgb, alpha])).save(f'{d}/rgba.png')
# What a user does to get a transparent GIF: PIL quantises and picks the transparent index.
Image.open(f'{d}/rgba.png').convert('RGBA').save(f'{d}/rgba.gif')
Image.fromarray(np.dstack([rgb[:, :, 0], alpha])).save(f'{d}/la.png')
pal = Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=16)
pal.save(f'{d}/trns.png', transparency=3)

def lzw(indices, min_size):
    # codes of fixed width: a clear code before every 2**min_size - 2 pixels keeps the code table from growing a bit
    clear, end, width, run = 1 << min_size, (1 << min_size) + 1, min_size + 1, (1 << min_size) - 2
    codes = []
    for i, p in enumerate(indices):
        if i % run == 0: codes.append(clear)
        codes.append(int(p))
    codes.append(end)
    bits = n = 0; out = bytearray()
    for c in codes:
        bits |= c << n; n += width
        while n >= 8: out.append(bits & 255); bits >>= 8; n -= 8
    if n: out.append(bits & 255)
    return bytes([min_size]) + b''.join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255]) for i in range(0, len(out), 255)) + b'\0'

def gif(name, W, H, x, y, idx, gct, lct=None, transp=None, pre=b''):
    # one frame of 4-colour indices at (x, y) on a W x H screen, background index 1
    table = lambda t: b''.join(bytes(c) for c in t)
    out = b'GIF89a' + struct.pack('<HHBBB', W, H, 0x81, 1, 0) + table(gct) + pre
    if transp is not None: out += b'\x21\xf9\x04\x01\0\0' + bytes([transp]) + b'\0'
    h, w = idx.shape
    out += b'\x2c' + struct.pack('<HHHHB', x, y, w, h, 0x81 if lct else 0) + (table(lct) if lct else b'')
    open(f'{d}/{name}', 'wb').write(out + lzw(idx.ravel(), 2) + b'\x3b')

gct = [(10, 20, 30), (200, 100, 50), (90, 180, 45), (250, 250, 5)]
lct = [(1, 2, 3), (40, 50, 60), (170, 80, 210), (7, 222, 99)]
idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [2, 2, 3, 1]])
gif('index2.gif', 4, 3, 0, 0, idx, gct, transp=2)
gif('small-frame.gif', 8, 6, 2, 1, idx, gct, transp=2)
gif('small-frame-local.gif', 8, 6, 2, 1, idx, gct, lct=lct, transp=3)
gif('small-frame-opaque.gif', 8, 6, 2, 1, idx, gct, lct=lct)
gif('extensions.gif', 4, 3, 0, 0, idx, gct, transp=1, pre=b'\x21\xfe\x05hello\0\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0')
# An animation: the first frame is the image (PIL's and ours); its transparent index is 0.
frames = [Image.fromarray(np.dstack([rgb, alpha])), Image.fromarray(np.dstack([rgb[::-1], 255 - alpha]))]
frames[0].save(f'{d}/anim.gif', save_all=True, append_images=frames[1:], duration=100, loop=0)

import os
hidden = {}
for f in sorted(os.listdir(d)):
  im = Image.open(f'{d}/{f}')
  a = np.asarray(im.convert('RGBA'))[:, :, 3]
  hidden[f] = int((a == 0).sum())
  open(f'{d}/{f}.rgb', 'wb').write(np.asarray(im.convert('RGB')).tobytes())
print(json.dumps(hidden))
`;

const skip = pythonSkipReason(['PIL', 'numpy']);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-transparent-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('transparent pixels decode to PIL convert("RGB")\'s colours: GIF (palette colour, not black), RGBA/LA PNG, tRNS', async () => {
  if (skip) return void console.log(`SKIP transparent images against PIL: ${skip}`);
  const hidden = JSON.parse(runPython(['-c', MAKE, dir])) as Record<string, number>;
  // Each case but the opaque GIF has transparent pixels (the point of it), whose colour PIL keeps.
  expect(Object.keys(hidden).sort()).toEqual(
    [
      'anim.gif',
      'extensions.gif',
      'index2.gif',
      'la.png',
      'rgba.gif',
      'rgba.png',
      'small-frame-local.gif',
      'small-frame-opaque.gif',
      'small-frame.gif',
      'trns.png',
    ].sort(),
  );
  for (const [f, n] of Object.entries(hidden)) {
    const want = new Uint8Array(fs.readFileSync(path.join(dir, `${f}.rgb`)));
    if (f !== 'small-frame-opaque.gif') expect([f, n > 0]).toEqual([f, true]);
    // Every pixel as PIL's, from the path and from the bytes: libvips' black transparent pixels fail here.
    for (const input of [path.join(dir, f), new Uint8Array(fs.readFileSync(path.join(dir, f)))]) {
      const got = await decodeRgb(input);
      const differing = got.rgb.reduce((k, v, i) => k + (v !== want[i] ? 1 : 0), 0);
      expect([f, got.rgb.length, differing]).toEqual([f, want.length, 0]);
    }
  }
});
