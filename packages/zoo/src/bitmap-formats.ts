/**
 * The image formats sharp's bundled libvips does not read, decoded to RGB in JavaScript: Windows
 * bitmaps (BMP: 1, 4, 8, 16, 24 and 32 bits, palettes, RLE8/RLE4, bit fields) and Netpbm (PBM/PGM/PPM,
 * P1-P6, ASCII and binary, any maxval). They are recognised by their first bytes, not their names, and
 * decode to exactly PIL's `Image.open(f).convert('RGB')` pixels, with one deliberate exception:
 * 16-bit gray PGM (maxval > 255), which PIL reads as integers and clips to 255 (mostly white), is
 * scaled to 8 bits like every other maxval (and as sharp scales 16-bit PNG). What PIL refuses, or
 * reads differently from one version to another, is refused in one line, never guessed at.
 */
import fs from 'node:fs';

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

/** A BMP's headers, checked: its size, where its pixels are and how they are stored. */
interface BmpHeader {
  width: number;
  height: number;
  /** Rows stored top row first (a negative height); else bottom row first. */
  topDown: boolean;
  bits: number;
  compression: number;
  /** Byte offset of the pixel data in the file. */
  start: number;
  /** Palette entries (1-8 bits): biClrUsed, or 2^bits when it is 0. */
  colors: number;
  /** Bytes per palette entry: 3 (OS/2 core header) or 4. */
  entry: number;
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;

/** A refusal that says what to do: files PIL refuses or misreads, or reads differently from one version to another. */
function unsupported(what: string): Error {
  return new Error(`${what}: convert the file to PNG`);
}

/** The headers, as PIL's BmpImagePlugin reads them (current Pillow's sizes 52 and 56 included); throws for what it cannot decode. */
function bmpHeader(view: Buffer, maxPixels: number): BmpHeader {
  if (view.length < 18) throw new Error('the BMP header is cut short');
  const size = view.readUInt32LE(14);
  if (![12, 40, 52, 56, 64, 108, 124].includes(size)) throw new Error(`not a BMP file (info header of ${size} bytes)`);
  if (view.length < 14 + size) throw new Error('the BMP header is cut short');
  const core = size === 12; // OS/2 1.x: 16-bit unsigned sizes, always bottom-up, no compression field
  const rawHeight = core ? view.readUInt16LE(20) : view.readUInt32LE(22);
  const topDown = !core && rawHeight >>> 24 === 0xff; // PIL's test for a negative height
  const h: BmpHeader = {
    width: core ? view.readUInt16LE(18) : view.readUInt32LE(18),
    height: topDown ? 2 ** 32 - rawHeight : rawHeight,
    topDown,
    bits: view.readUInt16LE(core ? 24 : 28),
    compression: core ? BI_RGB : view.readUInt32LE(30),
    start: view.readUInt32LE(10),
    colors: (!core && view.readUInt32LE(46)) || 2 ** view.readUInt16LE(core ? 24 : 28),
    entry: core ? 3 : 4,
  };
  const { bits, compression: c } = h;
  if (![1, 4, 8, 16, 24, 32].includes(bits)) throw new Error(`the BMP has ${bits} bits per pixel (1, 4, 8, 16, 24 or 32 are read)`);
  const inside = size !== 64 && ['', '', '', '', 'JPEG', 'PNG'][c]; // OS/2 2.x's 4 is RLE24
  if (inside) throw unsupported(`the BMP holds a ${inside} image (compression ${c})`);
  if (c > BI_BITFIELDS) throw unsupported(`the BMP has compression ${c}, which is not read`);
  if ((c === BI_RLE8 && bits !== 8) || (c === BI_RLE4 && bits !== 4) || (c === BI_BITFIELDS && bits <= 8))
    throw new Error(`the BMP's compression (${['', 'RLE8', 'RLE4', 'bit fields'][c]}) does not fit its ${bits} bits per pixel`);
  checkSize(h.width, h.height, maxPixels);
  if (bits <= 8 && h.colors > 256) throw new Error(`the BMP palette has ${h.colors} colours (256 at most)`);
  // PIL: pixel data said to start right after the header starts after the palette; at 0, after the header (and palette or masks).
  const afterHeader = 14 + size + (bits <= 8 ? h.entry * h.colors : c === BI_BITFIELDS && size === 40 ? 12 : 0);
  if (bits <= 8 && h.start === 14 + size) {
    if (core) throw new Error('the BMP pixel data offset lies inside its palette'); // PIL 9.4 skips 4 bytes an entry, later ones 3
    h.start = afterHeader;
  }
  h.start ||= afterHeader;
  return h;
}

/**
 * The RGB of each palette index (256 x 3 bytes). PIL gives an index past the palette, or past the
 * whole entries the file holds, the gray of its own value. Palettes that PIL turns into a 1-bit or
 * 8-bit gray mode on other depths are refused: PIL then unpacks the pixels at the wrong depth.
 */
function bmpPalette(view: Buffer, h: BmpHeader): Uint8Array {
  const at = view.readUInt32LE(14) + 14;
  const lut = new Uint8Array(768);
  let gray = true;
  for (let i = 0; i < 256; i++) {
    const p = at + h.entry * i;
    const inFile = i < h.colors && p + h.entry <= view.length;
    lut.set(inFile ? [view[p + 2], view[p + 1], view[p]] : [i, i, i], 3 * i);
    const want = h.colors === 2 ? 255 * i : i; // PIL's gray test: black and white for two colours, else 0, 1, 2, ...
    if (i < h.colors && (view[p] !== want || view[p + 1] !== want || view[p + 2] !== want)) gray = false; // (undefined past the end)
  }
  if (gray && ((h.colors === 2 && h.bits !== 1) || (h.colors !== 2 && h.bits !== 8 && h.compression === BI_RGB)))
    throw unsupported(
      `PIL does not read this BMP right (a ${h.colors === 2 ? 'black-and-white' : 'gray'} palette on ${h.bits}-bit pixels)`,
    );
  return lut;
}

/** PIL's 5- and 6-bit to 8-bit scaling (v * 255 / max, truncated). */
const SCALE5 = Uint8Array.from({ length: 32 }, (_, v) => Math.floor((v * 255) / 31));
const SCALE6 = Uint8Array.from({ length: 64 }, (_, v) => Math.floor((v * 255) / 63));

/** The 32-bit bit-field masks PIL reads (R, G, B, A), each a whole byte; all zero reads as B, G, R, A. */
const MASKS_32 = new Set([
  ...['ff0000 ff00 ff 0', 'ff000000 ff0000 ff00 0', 'ff000000 ff00 ff 0', 'ff000000 ff0000 ff00 ff'],
  ...['ff ff00 ff0000 ff000000', 'ff0000 ff00 ff ff000000', 'ff000000 ff00 ff ff0000', '0 0 0 0'],
]);

/**
 * How a 16/24/32-bit pixel is read: for 24/32 bits, the byte offsets of R, G and B in it (from the
 * bit-field masks when given, as PIL accepts them); for 16 bits, whether it is 5-6-5 rather than 5-5-5.
 */
function bmpChannels(view: Buffer, h: BmpHeader): { rgb: number[]; is565: boolean } {
  const plain = { rgb: [2, 1, 0], is565: false };
  if (h.compression !== BI_BITFIELDS) return plain;
  // The masks follow the 40 bytes of the Windows 3 header: its own fields in longer headers, else 12 more bytes.
  const size = view.readUInt32LE(14);
  if (view.length < 66) throw new Error('the BMP header is cut short');
  const masks = [54, 58, 62].map((p) => view.readUInt32LE(p));
  masks.push(size >= 56 ? view.readUInt32LE(66) : 0);
  const key = masks.map((m) => m.toString(16)).join(' ');
  const rgbKey = key.slice(0, key.lastIndexOf(' '));
  if (h.bits === 32 && MASKS_32.has(key))
    return { rgb: masks[0] ? masks.slice(0, 3).map((m) => (31 - Math.clz32(m)) >> 3) : [2, 1, 0], is565: false };
  if (h.bits === 24 && rgbKey === 'ff0000 ff00 ff') return plain;
  if (h.bits === 16 && (rgbKey === 'f800 7e0 1f' || rgbKey === '7c00 3e0 1f')) return { rgb: [], is565: rgbKey === 'f800 7e0 1f' };
  throw unsupported(`the BMP's bit-field masks (${key.replace(/ /g, ', ')} in hex) are not read`);
}

/**
 * Runs a BMP's RLE8/RLE4 codes as PIL does, writing palette indices in stored row order into `out`
 * (with room for 255 past the image) when given, and returns how many the codes give: a first run
 * without `out` refuses data that ends early before anything is allocated. PIL's ways, kept: a run
 * stops at its row's end but a literal run spills into the next row; an end-of-line fills the row
 * with index 0; literal runs are padded to an even offset in the file.
 */
function rleIndices(b: Uint8Array, h: BmpHeader, out?: Uint8Array): number {
  const total = h.width * h.height;
  const rle4 = h.compression === BI_RLE4;
  let n = 0;
  let x = 0;
  let p = h.start;
  while (n < total && p + 1 < b.length) {
    const count = b[p];
    const code = b[p + 1];
    p += 2;
    if (count > 0) {
      const run = Math.max(0, Math.min(count, h.width - x));
      if (out) for (let i = 0; i < run; i++) out[n + i] = !rle4 ? code : i % 2 ? code & 15 : code >> 4;
      n += run;
      x += run;
    } else if (code === 0) {
      n = Math.ceil(n / h.width) * h.width;
      x = 0;
    } else if (code === 1) {
      break; // end of bitmap
    } else if (code === 2) {
      throw unsupported("the BMP's RLE data skips pixels (a delta), which PIL versions decode differently");
    } else {
      if (rle4 && code % 2) throw unsupported("the BMP's RLE4 data has an odd literal run, which PIL versions decode differently");
      const end = Math.min(p + (rle4 ? code / 2 : code), b.length);
      for (let q = p; out && q < end; q++) {
        if (rle4) out.set([b[q] >> 4, b[q] & 15], n + 2 * (q - p));
        else out[n + q - p] = b[q];
      }
      n += (end - p) * (rle4 ? 2 : 1);
      if (end < p + (rle4 ? code / 2 : code)) break;
      x += code;
      p = end + (end % 2);
    }
  }
  return n;
}

/** PIL's row stride: bits per row rounded up to 4 bytes. */
function bmpStride(h: BmpHeader): number {
  return Math.ceil((h.width * h.bits) / 32) * 4;
}

function bmpToRgb(bytes: Uint8Array, maxPixels: number): RgbPixels {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = bmpHeader(view, maxPixels); // checks the size before anything is allocated
  const { width, height, bits } = h;
  const lut = bits <= 8 ? bmpPalette(view, h) : undefined;
  const channels = bits > 8 ? bmpChannels(view, h) : undefined;
  let indices: Uint8Array | undefined;
  if (h.compression === BI_RLE8 || h.compression === BI_RLE4) {
    if (rleIndices(bytes, h) < width * height) throw new Error('the BMP pixel data is cut short');
    indices = new Uint8Array(width * height + 256);
    rleIndices(bytes, h, indices);
  } else if (h.start + bmpStride(h) * (height - 1) + Math.ceil((width * bits) / 8) > bytes.length) {
    throw new Error('the BMP pixel data is cut short'); // PIL too needs every row, but not the last row's padding
  }
  const rgb = new Uint8Array(3 * width * height);
  const stride = indices ? width : bmpStride(h);
  for (let y = 0; y < height; y++) {
    const row = (h.topDown ? y : height - 1 - y) * stride;
    for (let x = 0, o = 3 * y * width; x < width; x++, o += 3) {
      if (lut) {
        const i = indices ? indices[row + x] : paletteIndex(bytes, h.start + row, x, bits);
        rgb[o] = lut[3 * i];
        rgb[o + 1] = lut[3 * i + 1];
        rgb[o + 2] = lut[3 * i + 2];
      } else {
        directPixel(bytes, h.start + row + (x * bits) / 8, bits, channels!, rgb, o);
      }
    }
  }
  return { rgb, width, height };
}

/** Pixel `x`'s palette index in an uncompressed row of 1, 4 or 8 bits per pixel (leftmost pixel in the high bits). */
function paletteIndex(b: Uint8Array, row: number, x: number, bits: number): number {
  if (bits === 8) return b[row + x];
  if (bits === 4) return (b[row + (x >> 1)] >> (x & 1 ? 0 : 4)) & 15;
  return (b[row + (x >> 3)] >> (7 - (x & 7))) & 1;
}

/** A 16/24/32-bit pixel at byte `i` to RGB at `o`. */
function directPixel(b: Uint8Array, i: number, bits: number, c: { rgb: number[]; is565: boolean }, out: Uint8Array, o: number): void {
  if (bits === 16) {
    const v = b[i] | (b[i + 1] << 8);
    out[o] = SCALE5[(v >> (c.is565 ? 11 : 10)) & 31];
    out[o + 1] = c.is565 ? SCALE6[(v >> 5) & 63] : SCALE5[(v >> 5) & 31];
    out[o + 2] = SCALE5[v & 31];
  } else {
    out[o] = b[i + c.rgb[0]];
    out[o + 1] = b[i + c.rgb[1]];
    out[o + 2] = b[i + c.rgb[2]];
  }
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

  /**
   * A header number as PIL reads it: a comment inside it is dropped (`1#c\n7` is 17) and exactly one
   * whitespace byte ends it, so binary pixels start right after that byte.
   */
  headerNumber(): number {
    const b = this.bytes;
    let token = '';
    while (this.pos < b.length && token.length <= 10) {
      const c = b[this.pos++];
      if (c === 0x23) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
        this.pos++; // the CR or LF ends the comment, and is no separator
      } else if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
        if (token) break;
      } else token += String.fromCharCode(c);
    }
    if (!token) throw new Error('the Netpbm data is cut short');
    if (!/^[0-9]+$/.test(token)) throw new Error('the Netpbm header holds a non-number');
    if (token.length > 10) throw new Error('the Netpbm header holds a number of over 10 digits');
    return Number(token);
  }

  /** The next number of an ASCII body; in a P1 body each digit is a number of its own. */
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
  const width = r.headerNumber();
  const height = r.headerNumber();
  checkSize(width, height, maxPixels);
  const bitmap = kind === 1 || kind === 4;
  const maxval = bitmap ? 1 : r.headerNumber();
  if (!(maxval >= 1 && maxval <= 65535)) throw new Error(`the Netpbm maxval is ${maxval} (1 to 65535)`);
  const samplesPerPixel = kind === 3 || kind === 6 ? 3 : 1;
  const n = width * height;
  const samples = new Uint16Array(n * samplesPerPixel);
  if (kind <= 3) {
    for (let i = 0; i < samples.length; i++) samples[i] = r.number(kind === 1);
  } else {
    readBinarySamples(bytes, r.pos, kind, width, height, maxval, samples);
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
