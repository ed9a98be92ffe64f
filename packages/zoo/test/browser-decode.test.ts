/**
 * The browser decoder (`decodeRgbBrowser`, bundled from source with esbuild, in Debian's Chromium
 * through playwright-core) gives the same RGB bytes as the Node decoder (`decodeRgb`, which is PIL's
 * `convert('RGB')`) for images with alpha: an RGBA PNG whose transparent pixels store colours and whose
 * other pixels have every alpha 1..254, an LA PNG, and GIFs with a transparent index (a 2D canvas
 * premultiplies: black under alpha 0, rounding under low alpha). Opaque PNG and JPEG decode as the old
 * 2D-canvas path did; without WebGL the canvas path still decodes; an empty file says so as Node
 * does. Fixtures are written by PIL at test time; skipped, saying why, without Chromium or PIL.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EMPTY_IMAGE_FILE } from '@resnet-ts/zoo';
import { decodeRgb } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const { CHROMIUM, CHROMIUM_FLAGS } = require('../../../scripts/chromium.cjs') as { CHROMIUM: string; CHROMIUM_FLAGS: string[] };
const ROOT = path.join(__dirname, '..', '..', '..');

const MAKE = String.raw`
import struct, sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(1)
rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
alpha = (np.arange(24 * 32) % 256).astype(np.uint8).reshape(24, 32)  # every alpha 0..255
alpha[4:10, 5:20] = 0  # a block of transparent pixels, each with its own stored colour
Image.fromarray(np.dstack([rgb, alpha])).save(f'{d}/rgba.png')
Image.fromarray(np.dstack([rgb[:, :, 1], alpha])).save(f'{d}/la.png')
binary = np.where(alpha < 128, 0, 255).astype(np.uint8)
Image.fromarray(np.dstack([rgb, binary])).save(f'{d}/rgba.gif')  # PIL picks the transparent index

def gif(name, W, H, x, y, idx, gct, transp):
    # one frame of 4-colour indices at (x, y) on a W x H screen; a clear code keeps LZW codes 3 bits wide
    out = b'GIF89a' + struct.pack('<HHBBB', W, H, 0x81, 1, 0) + b''.join(bytes(c) for c in gct)
    out += b'\x21\xf9\x04\x01\0\0' + bytes([transp]) + b'\0'
    h, w = idx.shape
    codes = []
    for i, p in enumerate(idx.ravel()):
        if i % 2 == 0: codes.append(4)
        codes.append(int(p))
    codes.append(5)
    bits = n = 0; data = bytearray()
    for c in codes:
        bits |= c << n; n += 3
        while n >= 8: data.append(bits & 255); bits >>= 8; n -= 8
    if n: data.append(bits & 255)
    blocks = b''.join(bytes([len(data[i:i + 255])]) + bytes(data[i:i + 255]) for i in range(0, len(data), 255))
    out += b'\x2c' + struct.pack('<HHHHB', x, y, w, h, 0) + b'\x02' + blocks + b'\0\x3b'
    open(f'{d}/{name}', 'wb').write(out)

gif('small-frame.gif', 8, 6, 2, 1, np.array([[0, 1, 2, 3], [3, 2, 1, 0], [2, 2, 3, 1]]), [(10, 20, 30), (200, 100, 50), (90, 180, 45), (250, 250, 5)], 2)
y, x = np.mgrid[0:37, 0:45]
smooth = np.dstack([x * 5, y * 6, (x + y) * 3]).astype(np.uint8)
Image.fromarray(smooth).save(f'{d}/opaque.png')
Image.fromarray(smooth).save(f'{d}/opaque.jpg', quality=90)
exif = Image.Exif(); exif[0x0112] = 6  # EXIF orientation: turn 90 degrees clockwise to show
Image.fromarray(smooth).save(f'{d}/rotated.jpg', quality=90, exif=exif)
Image.fromarray(np.dstack([rgb, alpha])).save(f'{d}/first.png')
Image.fromarray(np.dstack([255 - rgb, alpha])).save(f'{d}/second.png')
Image.fromarray(np.dstack([rgb, np.full((24, 32), 255, np.uint8)])).save(f'{d}/opaque-rgba.png')
Image.fromarray(rng.integers(0, 256, (2, 9000, 3), dtype=np.uint8)).save(f'{d}/wide.png')  # over an 8192 texture
open(f'{d}/empty.png', 'wb').close()
`;

const WITH_ALPHA = ['rgba.png', 'la.png', 'rgba.gif', 'small-frame.gif'];
const OPAQUE = ['opaque.png', 'opaque.jpg', 'opaque-rgba.png', 'wide.png'];

// The page: the new decoder, the old one (a 2D canvas of the same bitmap) and, with ?nowebgl, no WebGL.
const ENTRY = `
import { decodeRgbBrowser } from '@resnet-ts/zoo';
if (location.search === '?nowebgl') {
  const get = OffscreenCanvas.prototype.getContext;
  OffscreenCanvas.prototype.getContext = function (kind, ...rest) { return /webgl/.test(kind) ? null : get.call(this, kind, ...rest); };
}
async function old(url) {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob(), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const d = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return { rgb: d.filter((_, i) => i % 4 !== 3), width: bitmap.width, height: bitmap.height };
}
const plain = (r) => ({ rgb: Array.from(r.rgb), width: r.width, height: r.height });
window.decode = async (url, how) => plain(how === 'old' ? await old(url) : await decodeRgbBrowser(url));
window.decodeImg = async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  return plain(await decodeRgbBrowser(img));
};
window.repeat = async (url, times) => {
  const first = await decodeRgbBrowser(url);
  let differing = 0;
  for (let i = 1; i < times; i++) {
    const r = await decodeRgbBrowser(await (await fetch(url)).blob());
    if (r.rgb.some((v, j) => v !== first.rgb[j])) differing++;
  }
  return differing;
};
window.failure = async (input) => {
  const inputs = { blob: () => new Blob([]), canvas: () => new OffscreenCanvas(0, 0), img: () => Object.assign(new Image(), { src: 'missing.png' }) };
  try {
    await decodeRgbBrowser(inputs[input] ? inputs[input]() : input);
    return null;
  } catch (e) {
    return { message: e.message, problem: e.problem };
  }
};
window.ready = true;
`;

type Rgb = { rgb: number[]; width: number; height: number };

/** The largest difference of any byte between two decodes of one image (Infinity when their sizes differ). */
function maxDiff(a: Rgb, b: { rgb: Uint8Array; width: number; height: number }): number {
  if (a.width !== b.width || a.height !== b.height || a.rgb.length !== b.rgb.length) return Infinity;
  return a.rgb.reduce((m, v, i) => Math.max(m, Math.abs(v - b.rgb[i])), 0);
}

const skip = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : pythonSkipReason(['PIL', 'numpy']);

test("decodeRgbBrowser gives the Node decoder's RGB for images with alpha (not premultiplied), opaque ones as before", async () => {
  if (skip) return void console.log(`SKIP browser decoder against Node: ${skip}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-browser-decode-'));
  const esbuild = await import('esbuild');
  await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    outfile: path.join(dir, 'bundle.js'),
    alias: Object.fromEntries(['core', 'zoo'].map((p) => [`@resnet-ts/${p}`, path.join(ROOT, 'packages', p, 'src', 'index.ts')])),
    logLevel: 'error',
  });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/bundle.js"></script>');
  runPython(['-c', MAKE, dir]);
  let changingServed = 0;
  const server = http.createServer((req, res) => {
    let name = (req.url ?? '/').split('?')[0].slice(1) || 'index.html';
    // A URL whose image changes at each request (a webcam snapshot), never cached.
    if (name === 'changing.png') [name, changingServed] = [changingServed ? 'second.png' : 'first.png', changingServed + 1];
    const file = path.join(dir, name);
    if (!/^[\w.-]+$/.test(name) || !fs.existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, {
      'content-type': name.endsWith('.js') ? 'text/javascript' : name.endsWith('.html') ? 'text/html' : 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://localhost:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  try {
    const open = async (query: string) => {
      const page = await browser.newPage();
      const messages: string[] = [];
      page.on('pageerror', (e) => messages.push(e.message));
      page.on('console', (m) => messages.push(m.text()));
      await page.goto(base + query);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const decode = (f: string, how = 'new') =>
        page.evaluate(([u, h]) => (window as never as { decode: (u: string, h: string) => Promise<Rgb> }).decode(u, h), [f, how]);
      const decodeImg = (f: string) =>
        page.evaluate((u) => (window as never as { decodeImg: (u: string) => Promise<Rgb> }).decodeImg(u), f);
      return { page, messages, decode, decodeImg };
    };
    const { page, messages, decode, decodeImg } = await open('');
    const lines: string[] = [];
    for (const f of [...WITH_ALPHA, ...OPAQUE]) {
      const node = await decodeRgb(path.join(dir, f));
      const [now, before] = [await decode(f), await decode(f, 'old')];
      lines.push(
        `${f}: max |browser - node| ${maxDiff(before, node)} before, ${maxDiff(now, node)} now; old vs new path ${maxDiff(now, { ...before, rgb: Uint8Array.from(before.rgb) })}`,
      );
      // Opaque images: exactly the old path's pixels (Chromium's JPEG decoder may round unlike libjpeg in sharp).
      if (OPAQUE.includes(f)) expect([f, now.width, now.height, now.rgb]).toEqual([f, before.width, before.height, before.rgb]);
      if (f !== 'opaque.jpg') expect([f, maxDiff(now, node)]).toEqual([f, 0]);
      // An <img> of the file gives what its URL gives (it was a 2D canvas: black under alpha 0), but
      // for a GIF's transparent pixels, whose palette colour the element does not keep.
      if (!f.endsWith('.gif')) expect([f, maxDiff(await decodeImg(f), { ...now, rgb: Uint8Array.from(now.rgb) })]).toEqual([f, 0]);
    }
    // EXIF orientation as shown, as the URL's decode.
    const [shown, file] = [await decodeImg('rotated.jpg'), await decode('rotated.jpg')];
    expect([shown.width, shown.height, file.width, file.height]).toEqual([37, 45, 37, 45]);
    expect(maxDiff(shown, { ...file, rgb: Uint8Array.from(file.rgb) })).toBe(0);
    // The pixels the element shows, not the URL fetched again: this server sends another image each time.
    const changing = await decodeImg('changing.png');
    expect(changingServed).toBe(1);
    expect(maxDiff(changing, await decodeRgb(path.join(dir, 'first.png')))).toBe(0);
    console.log(`browser decoder vs Node decodeRgb:\n  ${lines.join('\n  ')}`);
    // One WebGL context for all decodes, its textures freed: 40 more decodes, all the same, no context warnings.
    expect(
      await page.evaluate(() => (window as never as { repeat: (u: string, n: number) => Promise<number> }).repeat('rgba.png', 40)),
    ).toBe(0);
    for (const input of ['empty.png', 'blob']) {
      const failure = await page.evaluate((i) => (window as never as { failure: (i: string) => Promise<unknown> }).failure(i), input);
      expect(failure).toEqual({ problem: 'empty', message: expect.stringContaining(`: it is ${EMPTY_IMAGE_FILE}.`) });
    }
    // A missing file by URL or <img>, a canvas of 0 pixels: one ImageDecodeError naming the image and why.
    const failed = async (input: string) =>
      page.evaluate((i) => (window as never as { failure: (i: string) => Promise<unknown> }).failure(i), input);
    expect(await failed('missing.png')).toEqual({
      problem: 'format',
      message: expect.stringMatching(/^Cannot decode missing\.png as an image \(the server answered HTTP 404/),
    });
    expect(await failed('img')).toEqual({
      problem: 'format',
      message: expect.stringMatching(/missing\.png as an image \(the <img> could not load or decode it \(/),
    });
    expect(await failed('canvas')).toEqual({
      problem: 'format',
      message: expect.stringMatching(/^Cannot decode the canvas as an image \(it is 0x0 pixels\)/),
    });
    expect(messages.filter((m) => /too many active webgl contexts|context lost|CONTEXT_LOST|error/i.test(m))).toEqual([]);
    // Without WebGL the 2D canvas still decodes: opaque images as before.
    const fallback = await open('?nowebgl');
    for (const f of OPAQUE)
      expect([f, maxDiff(await fallback.decode(f), await decodeRgb(path.join(dir, f)))]).toEqual([
        f,
        f === 'opaque.jpg' ? expect.any(Number) : 0,
      ]);
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
