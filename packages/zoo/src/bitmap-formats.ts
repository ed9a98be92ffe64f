/**
 * The image formats sharp's bundled libvips does not read, decoded to RGB in JavaScript: Windows
 * bitmaps (BMP/DIB, by bmp-ts: 1-32 bits, palettes, RLE, bit fields) and Netpbm (PBM/PGM/PPM, P1-P6,
 * ASCII and binary, any maxval). They are recognised by their first bytes, not their names, and
 * decode to exactly PIL's `Image.open(f).convert('RGB')` pixels, with one deliberate exception:
 * 16-bit gray PGM (maxval > 255), which PIL reads as integers and clips to 255 (mostly white), is
 * scaled to 8 bits like every other maxval (and as sharp scales 16-bit PNG).
 */
import fs from 'node:fs';
import { decode as decodeBmp } from 'bmp-ts';

/** Decoded pixels: HWC uint8 RGB. */
export interface RgbPixels {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** sharp's default limit on decoded pixels (libvips' 0x3FFF x 0x3FFF, against decompression bombs), for bitmaps too. */
export const PIXEL_LIMIT = 0x3fff * 0x3fff;

/** The formats this module reads, in words, for messages. */
export const BITMAP_FORMATS = 'BMP, PPM, PGM or PBM';

/** Which of this module's formats `head` (a file's first bytes) starts, if any. */
export function bitmapFormat(head: Uint8Array): 'bmp' | 'netpbm' | null {
  if (head.length < 2) return null;
  if (head[0] === 0x42 && head[1] === 0x4d) return 'bmp'; // "BM"
  // "P1".."P6", then whitespace (or a comment), as the format requires
  if (head[0] === 0x50 && head[1] >= 0x31 && head[1] <= 0x36 && (head.length < 3 || /[\s#]/.test(String.fromCharCode(head[2]))))
    return 'netpbm';
  return null;
}

/** The first bytes of a file (fewer if it is shorter). */
function readHead(file: string, n = 3): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const head = new Uint8Array(n);
    return head.subarray(0, fs.readSync(fd, head, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Decodes `input` (a file path or encoded bytes) when it is a BMP or Netpbm image; null for anything
 * else (left to sharp). Throws a plain Error naming what is wrong with a damaged file.
 * `maxPixels` guards against a header that claims a huge image.
 */
export function decodeBitmap(input: string | Uint8Array, maxPixels = PIXEL_LIMIT): RgbPixels | null {
  let head: Uint8Array;
  try {
    head = typeof input === 'string' ? readHead(input) : input;
  } catch {
    return null; // a missing or unreadable file: sharp says which
  }
  const format = bitmapFormat(head);
  if (!format) return null;
  const bytes = typeof input === 'string' ? fs.readFileSync(input) : input;
  return format === 'bmp' ? bmpToRgb(bytes, maxPixels) : netpbmToRgb(bytes, maxPixels);
}

function checkSize(width: number, height: number, maxPixels: number): void {
  if (!(width > 0 && height > 0)) throw new Error(`the header gives a ${width}x${height} image`);
  if (width * height > maxPixels) throw new Error(`the header gives ${width}x${height} pixels, over the pixel limit`);
}

/** The sizes of BMP info headers: OS/2 core, Windows 3 (40) and its extensions up to V5 (124). */
const BMP_HEADER_SIZES = [12, 40, 52, 56, 64, 108, 124];

function bmpToRgb(bytes: Uint8Array, maxPixels: number): RgbPixels {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < 30) throw new Error('the BMP header is cut short');
  // The header checked before bmp-ts allocates width x height x 4 bytes: a file that merely starts
  // with "BM" is refused here rather than decoded into noise.
  const headerSize = view.readUInt32LE(14);
  if (!BMP_HEADER_SIZES.includes(headerSize)) throw new Error(`not a BMP file (info header of ${headerSize} bytes)`);
  const core = headerSize === 12;
  const [w, h] = core ? [view.readUInt16LE(18), view.readInt16LE(20)] : [view.readInt32LE(18), view.readInt32LE(22)];
  const [planes, bitsPerPixel] = core ? [view.readUInt16LE(22), view.readUInt16LE(24)] : [view.readUInt16LE(26), view.readUInt16LE(28)];
  if (planes !== 1 || ![1, 4, 8, 16, 24, 32].includes(bitsPerPixel) || view.readUInt32LE(10) >= view.length)
    throw new Error(`not a BMP file (${planes} planes, ${bitsPerPixel} bits per pixel, pixel data at byte ${view.readUInt32LE(10)})`);
  checkSize(w, Math.abs(h), maxPixels);
  const img = decodeBmp(view); // ABGR, top row first
  const n = img.width * img.height;
  if (img.data.length < 4 * n) throw new Error('the BMP pixel data is cut short');
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = img.data[4 * i + 3];
    rgb[3 * i + 1] = img.data[4 * i + 2];
    rgb[3 * i + 2] = img.data[4 * i + 1];
  }
  return { rgb, width: img.width, height: img.height };
}

/** Reads a Netpbm header's or ASCII body's whitespace-separated numbers, skipping `#` comments. */
class NetpbmReader {
  pos = 2;
  constructor(private readonly bytes: Uint8Array) {}

  private skipSpace(): void {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c === 0x23) while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
      else if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) this.pos++;
      else break;
    }
  }

  /** The next number; in a P1 body each digit is a number of its own. */
  number(singleDigit = false): number {
    this.skipSpace();
    const start = this.pos;
    const b = this.bytes;
    while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39 && !(singleDigit && this.pos > start)) this.pos++;
    if (this.pos === start) throw new Error(this.pos >= b.length ? 'the Netpbm data is cut short' : 'the Netpbm data holds a non-number');
    return Number(new TextDecoder().decode(b.subarray(start, this.pos)));
  }
}

function netpbmToRgb(bytes: Uint8Array, maxPixels: number): RgbPixels {
  const kind = bytes[1] - 0x30; // 1-3 ASCII, 4-6 binary; 1/4 bitmap, 2/5 gray, 3/6 colour
  const r = new NetpbmReader(bytes);
  const width = r.number();
  const height = r.number();
  checkSize(width, height, maxPixels);
  const bitmap = kind === 1 || kind === 4;
  const maxval = bitmap ? 1 : r.number();
  if (!(maxval >= 1 && maxval <= 65535)) throw new Error(`the Netpbm maxval is ${maxval} (1 to 65535)`);
  const samplesPerPixel = kind === 3 || kind === 6 ? 3 : 1;
  const n = width * height;
  const samples = new Uint16Array(n * samplesPerPixel);
  if (kind <= 3) {
    for (let i = 0; i < samples.length; i++) samples[i] = r.number(kind === 1);
  } else {
    readBinarySamples(bytes, r.pos + 1, kind, width, height, maxval, samples); // one whitespace byte ends the header
  }
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(samples[samplesPerPixel === 3 ? 3 * i + c : i], maxval);
      // PBM: 1 is black. Others: scaled to 0-255 as PIL scales a maxval other than 255.
      rgb[3 * i + c] = bitmap ? (v ? 0 : 255) : scaleTo255(v, maxval);
    }
  }
  return { rgb, width, height };
}

/** v * 255 / maxval rounded half to even, as PIL rounds it (exact: integer arithmetic). */
function scaleTo255(v: number, maxval: number): number {
  const t = v * 255;
  const q = Math.floor(t / maxval);
  const twiceRest = 2 * (t - q * maxval);
  return twiceRest > maxval || (twiceRest === maxval && q % 2 === 1) ? q + 1 : q;
}

/** The samples of a binary (P4-P6) body: bits for P4 (rows padded to bytes), else 1 or 2 bytes each (big-endian). */
function readBinarySamples(
  bytes: Uint8Array,
  start: number,
  kind: number,
  width: number,
  height: number,
  maxval: number,
  out: Uint16Array,
): void {
  if (kind === 4) {
    const rowBytes = Math.ceil(width / 8);
    if (start + rowBytes * height > bytes.length) throw new Error('the Netpbm pixel data is cut short');
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) out[y * width + x] = (bytes[start + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1;
    return;
  }
  const wide = maxval > 255;
  if (start + out.length * (wide ? 2 : 1) > bytes.length) throw new Error('the Netpbm pixel data is cut short');
  for (let i = 0; i < out.length; i++) out[i] = wide ? (bytes[start + 2 * i] << 8) | bytes[start + 2 * i + 1] : bytes[start + i];
}
