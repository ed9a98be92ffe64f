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

/**
 * BMP variants PIL cannot all write, built byte by byte, each beside PIL's RGB of it (`<file>.rgb`;
 * where PIL 9.4 does not read a variant that later Pillow reads, PIL's RGB of an equivalent file), a
 * few Netpbm headers, and files to refuse (`bad`, with PIL's error or null where PIL decodes them).
 * Prints {good: {file: [width, height]}, bad: {file: error | null}}.
 */
const MAKE_VARIANTS = String.raw`
import io, json, struct, sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(1)
good, bad = {}, {}

def bmp(w, h, bits, pix, pal=b'', comp=0, hs=40, colors=0, off=None, masks=None, gap=0):
  # header of hs bytes (bit-field masks inside it from 52 bytes, after it at 40), palette, a gap, the pixels
  if hs == 12:
    info = struct.pack('<IHHHH', 12, w, h, 1, bits)
  else:
    info = struct.pack('<IiiHHIIiiII', hs, w, h, 1, bits, comp, len(pix), 2835, 2835, colors, 0)
    extra = struct.pack('<4I', *masks) if masks else b''
    info = info + extra[:12] if hs == 40 else info + (extra + bytes(hs))[:hs - 40]
  head = info + pal + bytes(gap)
  off = 14 + len(head) if off is None else off
  return b'BM' + struct.pack('<IHHI', 14 + len(head) + len(pix), 0, 0, off) + head + pix

def rows(a, bits, top=False):
  # (h, w) indices of 1/4 bits, or (h, n) bytes, as rows padded to 4 bytes, bottom row first unless top
  out = b''
  for r in a if top else a[::-1]:
    b = np.packbits(r.astype(np.uint8)[:, None] >> np.arange(bits)[::-1] & 1).tobytes() if bits < 8 else r.astype(np.uint8).tobytes()
    out += b + bytes(-len(b) % 4)
  return out

def pal(n, gray=False, entry=4):
  c = np.repeat(np.arange(n)[:, None], 3, 1) if gray else rng.integers(0, 256, (n, 3))
  return b''.join(bytes([*e, 0][:entry]) for e in c.tolist())

def save(name, data, like=None):
  open(f'{d}/{name}', 'wb').write(data)
  im = Image.open(io.BytesIO(like or data)).convert('RGB')
  good[name] = im.size
  open(f'{d}/{name}.rgb', 'wb').write(im.tobytes())

def refuse(name, data):
  open(f'{d}/{name}', 'wb').write(data)
  try:
    Image.open(io.BytesIO(data)).convert('RGB')
    bad[name] = None
  except Exception as e:
    bad[name] = f'{type(e).__name__}: {e}'

# 1, 4 and 8 bits: odd widths (rows padded), bottom-up and top-down, small and OS/2 palettes
for bits in (1, 4, 8):
  for w in (1, 3, 5, 7, 33):
    for top in (False, True):
      h = 1 + (w + top) % 4
      idx = rng.integers(0, 1 << bits, (h, w))
      save(f'p{bits}-w{w}{"-top" if top else ""}.bmp', bmp(w, -h if top else h, bits, rows(idx, bits, top), pal(1 << bits)))
  idx = rng.integers(0, 1 << bits, (5, 7))
  for n in sorted({1, 2, 3, min(20, 1 << bits)}):  # biClrUsed: indices past the palette
    save(f'p{bits}-colors{n}.bmp', bmp(7, 5, bits, rows(idx, bits), pal(n), colors=n))
  save(f'p{bits}-colors256.bmp', bmp(7, 5, bits, rows(idx, bits), pal(256), colors=256))
  save(f'p{bits}-os2.bmp', bmp(7, 5, bits, rows(idx, bits), pal(1 << bits, entry=3), hs=12))
save('p1-black-white.bmp', bmp(7, 5, 1, rows(rng.integers(0, 2, (5, 7)), 1), b'\0\0\0\0\xff\xff\xff\0'))
save('p8-gray.bmp', bmp(7, 5, 8, rows(rng.integers(0, 256, (5, 7)), 8), pal(256, gray=True)))
save('p8-gray10.bmp', bmp(7, 5, 8, rows(rng.integers(0, 256, (5, 7)), 8), pal(10, gray=True), colors=10))
idx = rng.integers(0, 256, (4, 9))
save('p8-gap.bmp', bmp(9, 4, 8, rows(idx, 8), pal(256), gap=100))
save('p8-offset-at-header.bmp', bmp(9, 4, 8, rows(idx, 8), pal(256), off=54))  # PIL skips the palette
save('p8-offset-0.bmp', bmp(9, 4, 8, rows(idx, 8), pal(256), off=0))
save('p8-os2v2.bmp', bmp(9, 4, 8, rows(idx, 8), pal(256), hs=64))

# 16, 24 and 32 bits: 5 pixels a row (padded), plain and bit fields, every header
px = rng.integers(0, 256, (4, 5 * 4))
def direct(bits, h=4, top=False, **k):
  return bmp(5, h, bits, rows(px[:, :5 * bits // 8], 8, top), **k)
save('rgb24.bmp', direct(24))
save('rgb24-top.bmp', direct(24, h=-4, top=True))
save('rgb24-gap.bmp', direct(24, gap=37))
save('rgb24-bitfields.bmp', direct(24, comp=3, masks=(0xff0000, 0xff00, 0xff, 0)))
save('rgb24-os2.bmp', direct(24, hs=12))
save('rgb24-os2v2.bmp', direct(24, hs=64))
save('rgb24-no-last-padding.bmp', direct(24)[:-1])  # PIL needs no padding after the last row
M555, M565 = (0x7c00, 0x3e0, 0x1f, 0), (0xf800, 0x7e0, 0x1f, 0)
for name, m in {'555': M555, '565': M565}.items():
  for hs in (40, 108, 124):
    save(f'rgb16-{name}-{hs}.bmp', direct(16, comp=3, masks=m, hs=hs))
  every = np.arange(65536, dtype='<u2').reshape(256, 256).view(np.uint8)
  save(f'rgb16-{name}-every-value.bmp', bmp(256, -256, 16, every.tobytes(), comp=3, masks=m))
save('rgb16.bmp', direct(16))
save('rgb16-v5.bmp', direct(16, hs=124))
save('rgb32.bmp', direct(32))
save('rgb32-v5-zero-masks.bmp', direct(32, hs=124))  # BI_RGB: B, G, R, X
for m in [(0xff0000, 0xff00, 0xff, 0), (0xff000000, 0xff0000, 0xff00, 0), (0, 0, 0, 0)]:
  save(f'rgb32-masks-{m[0]:x}.bmp', direct(32, comp=3, masks=m))
for m in [(0xff0000, 0xff00, 0xff, 0xff000000), (0xff, 0xff00, 0xff0000, 0xff000000), (0xff000000, 0xff0000, 0xff00, 0xff)]:
  for hs in (108, 124):
    save(f'rgb32-{hs}-masks-{m[0]:x}-{m[3]:x}.bmp', direct(32, comp=3, masks=m, hs=hs))
# PIL 9.4 refuses these; later Pillow reads them as the equivalent files given
save('rgb24-hdr52.bmp', direct(24, hs=52), direct(24, hs=108))
RGBA = (0xff, 0xff00, 0xff0000, 0xff000000)
save('rgb32-hdr56-masks.bmp', direct(32, hs=56, comp=3, masks=RGBA), direct(32, hs=108, comp=3, masks=RGBA))
save('rgb16-hdr52-565.bmp', direct(16, hs=52, comp=3, masks=M565), direct(16, comp=3, masks=M565))
swapped = rows(px[:, [j for i in range(5) for j in (4 * i, 4 * i + 1, 4 * i + 3, 4 * i + 2)]], 8)
for a in (0, 0xff0000):
  save(f'rgb32-masks-bg{a and "a" or "x"}r.bmp', bmp(5, 4, 32, swapped, comp=3, hs=124, masks=(0xff000000, 0xff00, 0xff, a)), direct(32))

# RLE8 and RLE4: random streams, and PIL's ways by hand
def rle(name, w, h, bits, codes, p=None, top=False, gap=0, like=None):
  save(name, bmp(w, -h if top else h, bits, bytes(codes), pal(1 << bits) if p is None else p, comp=1 if bits == 8 else 2, gap=gap), like)
def encode(a, rle4):
  out = []
  for r in a[::-1]:
    x = 0
    while x < len(r):
      n = int(rng.integers(1, len(r) - x + 1))
      if n >= 3 and (not rle4 or n % 2 == 0) and rng.random() < 0.5:  # a literal run, padded to 2 bytes
        body = bytes(r[x:x + n]) if not rle4 else bytes(r[x:x + n:2] << 4 | r[x + 1:x + n:2])
        out += [0, n, *body] + [0] * (len(body) % 2)
      else:
        out += [n, int(rng.integers(0, 256))]
      x += n
    out += [0, 0]  # end of line
  return out + [0, 1]  # end of bitmap
for bits in (8, 4):
  for w, h in ((1, 1), (5, 3), (16, 7), (33, 4)):
    rle(f'rle{bits}-{w}x{h}.bmp', w, h, bits, encode(rng.integers(0, 1 << bits, (h, w)), bits == 4))
rle('rle8-hand.bmp', 6, 4, 8, [3, 9, 0, 3, 1, 2, 3, 0, 0, 0,  # a run, a literal run of 3 and its pad, end of line (index 0)
                               9, 4, 0, 0,  # a run past the row's end stops there
                               0, 8, 1, 2, 3, 4, 5, 6, 7, 8,  # a literal run goes on into the next row
                               2, 5, 0, 0, 0, 0, 6, 7, 0, 1])
rle('rle8-top.bmp', 4, 2, 8, [4, 5, 0, 0, 2, 6, 2, 7, 0, 1], top=True)
rle('rle8-odd-offset.bmp', 4, 2, 8, [0, 3, 1, 2, 3, 1, 9, 0, 0, 4, 6, 0, 1], gap=1)  # PIL pads to an even file offset
rle('rle8-small-palette.bmp', 4, 2, 8, [4, 200, 0, 4, 1, 2, 3, 250], pal(3))
rle('rle4-hand.bmp', 8, 3, 4, [5, 0x12, 3, 0x34, 0, 0, 0, 4, 0x56, 0x78, 2, 0x9a, 0, 0, 0, 6, 0xab, 0xcd, 0xef, 0, 9, 0x11, 0, 1])
rle('rle4-gray.bmp', 8, 1, 4, [7, 0x1f, 0, 0, 0, 1], pal(16, gray=True))

# Netpbm headers: a comment inside a number, CR LF, a comment after the one whitespace byte (pixels then)
vals = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
save('comment-in-number.ppm', b'P6 5 # five\n3 2#comment in the number\n55\n' + vals.tobytes())
save('crlf.pgm', b'P5\r\n5 3\r\n255\r\n' + vals[:, :, 0].tobytes() + b'!')
save('comment-after-space.pgm', b'P5 5 3 255 #c\n' + vals[:, :, 0].tobytes()[:12])

idx = rng.integers(0, 256, (4, 12))
refuse('jpeg-inside.bmp', bmp(5, 4, 24, b'\xff\xd8\xff\xe0' + bytes(60), comp=4))
refuse('png-inside.bmp', bmp(5, 4, 24, b'\x89PNG\r\n\x1a\n' + bytes(60), comp=5))
refuse('alpha-bitfields.bmp', direct(32, comp=6, hs=124, masks=(0xff0000, 0xff00, 0xff, 0xff000000)))
refuse('rle8-on-24-bits.bmp', direct(24, comp=1))
refuse('rle4-on-8-bits.bmp', bmp(4, 1, 8, bytes([4, 0x12, 0, 1]), pal(256), comp=2))
refuse('bitfields-on-8-bits.bmp', bmp(12, 4, 8, rows(idx, 8), pal(256), comp=3, masks=(0xff0000, 0xff00, 0xff, 0)))
refuse('masks-rgbx.bmp', direct(32, comp=3, masks=(0xff, 0xff00, 0xff0000, 0)))
refuse('masks-444.bmp', direct(16, comp=3, masks=(0xf00, 0xf0, 0xf, 0)))
refuse('header-20.bmp', b'BM' + struct.pack('<IHHIIii', 100, 0, 0, 34, 20, 5, 4) + bytes(80))
refuse('bits-2.bmp', bmp(12, 4, 2, rows(idx, 8), pal(4)))
refuse('width-0.bmp', bmp(0, 4, 24, bytes(16)))
refuse('height-0.bmp', bmp(5, 0, 24, bytes(16)))
refuse('width-negative.bmp', bmp(-5, 4, 24, bytes(80)))
refuse('huge.bmp', bmp(20000, 20000, 24, bytes(64)))
refuse('short.bmp', direct(24)[:-2])
refuse('offset-past-end.bmp', direct(24, off=10000))
refuse('palette-300.bmp', bmp(12, 4, 8, rows(idx, 8), pal(300), colors=300))
refuse('black-white-palette-8-bits.bmp', bmp(12, 4, 8, rows(idx % 2, 8), b'\0\0\0\0\xff\xff\xff\0', colors=2))
refuse('gray-palette-4-bits.bmp', bmp(12, 4, 4, rows(idx % 16, 4), pal(16, gray=True)))
refuse('black-palette-1-bit.bmp', bmp(12, 4, 1, rows(idx % 2, 1), b'\0\0\0\0', colors=1))
refuse('rle8-black-white-palette.bmp', bmp(4, 1, 8, bytes([4, 1, 0, 1]), b'\0\0\0\0\xff\xff\xff\0', colors=2, comp=1))
refuse('rle8-ends-early.bmp', bmp(4, 2, 8, bytes([4, 5, 0, 0, 2, 6, 0, 1]), pal(256), comp=1))
refuse('rle8-data-cut.bmp', bmp(4, 2, 8, bytes([4, 5, 0, 0, 2, 6, 0, 3, 1]), pal(256), comp=1))
refuse('rle8-delta.bmp', bmp(4, 3, 8, bytes([1, 5, 0, 2, 1, 1, 1, 7, 0, 0, 4, 8, 0, 1]), pal(256), comp=1))
refuse('rle4-odd-literal.bmp', bmp(6, 1, 4, bytes([0, 3, 0x12, 0x30, 3, 0x45, 0, 1]), pal(16), comp=2))
refuse('os2-offset-at-header.bmp', bmp(7, 5, 8, rows(rng.integers(0, 256, (5, 7)), 8), pal(256, entry=3), hs=12, off=26))
refuse('rle8-16000x16000.bmp', bmp(16000, 16000, 8, bytes([255, 1, 0, 0, 0, 0]), b'\x10\x20\x30\0', colors=1, comp=1))
refuse('comment-after-maxval.ppm', b'P6 5 3 255#c\n' + vals.tobytes())
print(json.dumps({'good': good, 'bad': bad}))
`;

/** chelsea (skimage's cat photo) saved by PIL as 24-bit and 8-bit palette BMP, each beside PIL's RGB of it. */
const CHELSEA = String.raw`
import sys
from PIL import Image
src, d = sys.argv[1], sys.argv[2]
im = Image.open(src).convert('RGB')
im.save(f'{d}/chelsea24.bmp')
im.convert('P', palette=Image.ADAPTIVE, colors=256).save(f'{d}/chelsea8.bmp')
for f in ('chelsea24.bmp', 'chelsea8.bmp'):
  open(f'{d}/{f}.rgb', 'wb').write(Image.open(f'{d}/{f}').convert('RGB').tobytes())
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
    await expect(decodeRgb(write('p3.txt', 'P3tree'))).rejects.toThrow(/Give a JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM file/);
  });
});

describe('BMP variants and damaged files', () => {
  const variants = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bmp-variants-'));
  afterAll(() => fs.rmSync(variants, { recursive: true, force: true }));
  let made: { good: Record<string, [number, number]>; bad: Record<string, string | null> } | undefined;
  const make = () => (made ??= JSON.parse(runPython(['-c', MAKE_VARIANTS, variants])) as NonNullable<typeof made>);

  test('1-32 bits, small palettes, OS/2, V4/V5, bit fields, offsets, RLE8/RLE4 and Netpbm headers decode to exactly PIL', async () => {
    if (skip) return void console.log(`SKIP BMP variants against PIL: ${skip}`);
    const { good } = make();
    expect(Object.keys(good).length).toBeGreaterThan(100);
    for (const [f, [width, height]] of Object.entries(good)) {
      const want = fs.readFileSync(path.join(variants, `${f}.rgb`));
      const got = await decodeRgb(path.join(variants, f));
      expect([f, got.width, got.height, Buffer.from(got.rgb).equals(want)]).toEqual([f, width, height, true]);
    }
  });

  test('what PIL refuses, misreads, or reads differently by version is refused in one line', async () => {
    if (skip) return void console.log(`SKIP refused BMP variants: ${skip}`);
    const { bad } = make();
    // [file, our message, whether PIL refuses it: in every version (true), decodes it (false), depends on the version (null)]
    const cases: [string, RegExp, boolean | null][] = [
      ['jpeg-inside.bmp', /the BMP holds a JPEG image \(compression 4\): convert the file to PNG/, true],
      ['png-inside.bmp', /the BMP holds a PNG image \(compression 5\): convert the file to PNG/, true],
      ['alpha-bitfields.bmp', /the BMP has compression 6, which is not read: convert the file to PNG/, true],
      ['rle8-on-24-bits.bmp', /compression \(RLE8\) does not fit its 24 bits per pixel/, true],
      ['rle4-on-8-bits.bmp', /compression \(RLE4\) does not fit its 8 bits per pixel/, false],
      ['bitfields-on-8-bits.bmp', /compression \(bit fields\) does not fit its 8 bits per pixel/, true],
      ['masks-rgbx.bmp', /bit-field masks \(ff, ff00, ff0000, 0 in hex\) are not read: convert the file to PNG/, true],
      ['masks-444.bmp', /bit-field masks \(f00, f0, f, 0 in hex\) are not read: convert the file to PNG/, true],
      ['header-20.bmp', /not a BMP file \(info header of 20 bytes\)/, true],
      ['bits-2.bmp', /the BMP has 2 bits per pixel/, true],
      ['width-0.bmp', /the header gives a 0x4 image/, true],
      ['height-0.bmp', /the header gives a 5x0 image/, true],
      ['width-negative.bmp', /exceeds the decoder's limit/, true],
      ['huge.bmp', /exceeds the decoder's limit/, true],
      ['short.bmp', /the BMP pixel data is cut short/, true],
      ['offset-past-end.bmp', /the BMP pixel data is cut short/, true],
      ['palette-300.bmp', /the BMP palette has 300 colours \(256 at most\)/, true],
      [
        'black-white-palette-8-bits.bmp',
        /PIL does not read this BMP right \(a black-and-white palette on 8-bit pixels\): convert the file to PNG/,
        false,
      ],
      ['gray-palette-4-bits.bmp', /PIL does not read this BMP right \(a gray palette on 4-bit pixels\): convert the file to PNG/, true],
      ['black-palette-1-bit.bmp', /PIL does not read this BMP right \(a gray palette on 1-bit pixels\): convert the file to PNG/, true],
      ['rle8-black-white-palette.bmp', /PIL does not read this BMP right .*: convert the file to PNG/, true],
      ['rle8-ends-early.bmp', /the BMP pixel data is cut short/, true],
      ['rle8-data-cut.bmp', /the BMP pixel data is cut short/, true],
      ['rle8-delta.bmp', /RLE data skips pixels \(a delta\), which PIL versions decode differently: convert the file to PNG/, false],
      ['rle4-odd-literal.bmp', /RLE4 data has an odd literal run, which PIL versions decode differently: convert the file to PNG/, null],
      ['os2-offset-at-header.bmp', /the BMP pixel data offset lies inside its palette/, null],
      ['rle8-16000x16000.bmp', /the BMP pixel data is cut short/, true],
      ['comment-after-maxval.ppm', /the Netpbm header holds a non-number/, true],
    ];
    expect(cases.map(([f]) => f).sort()).toEqual(Object.keys(bad).sort());
    for (const [f, message, pilRefuses] of cases) {
      const error = await decodeRgb(path.join(variants, f)).then(
        () => new Error('decoded'),
        (e: Error) => e,
      );
      expect([f, error.message]).toEqual([f, expect.stringMatching(message)]);
      expect([f, error.message.includes('\n')]).toEqual([f, false]);
      if (pilRefuses !== null) expect([f, bad[f] !== null]).toEqual([f, pilRefuses]);
    }
  });
});

describe('BMP headers that claim a huge image', () => {
  /** A 40-byte-header BMP of `width` x `height` at `bits` bits, with `compression`, followed by `data`. */
  const bmp = (width: number, height: number, bits: number, compression: number, data: number[]) => {
    const head = Buffer.alloc(58);
    head.write('BM', 0);
    head.writeUInt32LE(58 + data.length, 2);
    head.writeUInt32LE(58, 10);
    head.writeUInt32LE(40, 14);
    head.writeInt32LE(width, 18);
    head.writeInt32LE(height, 22);
    head.writeUInt16LE(1, 26);
    head.writeUInt16LE(bits, 28);
    head.writeUInt32LE(compression, 30);
    head.writeUInt32LE(1, 46); // one palette entry
    head.writeUInt32LE(0x302010, 54);
    return Buffer.concat([head, Buffer.from(data)]);
  };

  test('64 bytes declaring 16000x16000 RLE8 or 24-bit pixels are refused at once, nothing allocated for them', async () => {
    for (const file of [bmp(16000, 16000, 8, 1, [255, 1, 0, 0, 0, 0]), bmp(16000, -16000, 24, 0, [1, 2, 3, 4, 5, 6])]) {
      expect(file.length).toBe(64);
      const [start, memory] = [performance.now(), process.memoryUsage().arrayBuffers];
      await expect(decodeRgb(new Uint8Array(file))).rejects.toThrow(/the BMP pixel data is cut short/);
      expect(performance.now() - start).toBeLessThan(5000); // no decode of 256 MB and more, even on a loaded machine
      expect(process.memoryUsage().arrayBuffers - memory).toBeLessThan(64 << 20); // 16000 x 16000 would be 256 MB and more
    }
  });
});

describe('a photo through PIL-written BMPs', () => {
  const chelsea = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';
  const photoSkip = skip ?? (fs.existsSync(chelsea) ? null : `${chelsea} not found (apt-get install python3-skimage)`);

  test('chelsea as 24-bit and 8-bit palette BMP decodes to exactly PIL', async () => {
    if (photoSkip) return void console.log(`SKIP chelsea BMPs: ${photoSkip}`);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-chelsea-'));
    try {
      runPython(['-c', CHELSEA, chelsea, out]);
      for (const f of ['chelsea24.bmp', 'chelsea8.bmp']) {
        const want = fs.readFileSync(path.join(out, `${f}.rgb`));
        const got = await decodeRgb(path.join(out, f));
        expect([f, got.width, got.height, Buffer.from(got.rgb).equals(want)]).toEqual([f, 451, 300, true]);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
