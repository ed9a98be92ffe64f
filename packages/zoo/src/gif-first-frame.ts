/**
 * What PIL shows where libvips' GIF decoder shows nothing. libvips gives a GIF's transparent pixels
 * as black (0, 0, 0) with alpha 0, and the screen outside the first frame's rectangle as black;
 * PIL's `Image.open(f).convert('RGB')` (torchvision's decoder) gives them the palette colour of
 * the frame's transparent index (index 0 outside the frame when there is none). Only the first
 * frame matters: both decoders read no other.
 */

/** The first frame of a GIF as its header gives it, read by {@link gifFirstFrame}. */
export interface GifFirstFrame {
  /** The logical screen (the decoded image's size). */
  width: number;
  height: number;
  /** The first frame's rectangle on the screen. */
  left: number;
  top: number;
  frameWidth: number;
  frameHeight: number;
  /** The frame's palette as RGB triples (its local table, else the global one); null: the file has neither. */
  palette: Uint8Array | null;
  /** The frame's transparent palette index (its Graphic Control Extension), or null. */
  transparent: number | null;
}

/** The size in bytes of a colour table given by a packed flags byte, or 0 when its flag (bit 7) is off. */
function tableBytes(flags: number): number {
  return flags & 0x80 ? 3 * (1 << ((flags & 7) + 1)) : 0;
}

/**
 * Reads a GIF's header up to its first image descriptor: the screen, the first frame's rectangle,
 * palette and transparent index. Null when the bytes are not a GIF or stop before the first frame
 * (the decoder reports such files itself).
 */
export function gifFirstFrame(bytes: Uint8Array): GifFirstFrame | null {
  const at = (i: number) => (i < bytes.length ? bytes[i] : -1);
  const u16 = (i: number) => at(i) | (at(i + 1) << 8);
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if ((magic !== 'GIF87a' && magic !== 'GIF89a') || bytes.length < 13) return null;
  const gct = tableBytes(at(10));
  let i = 13 + gct;
  let transparent: number | null = null;
  while (i < bytes.length) {
    const block = at(i);
    if (block === 0x2c) {
      if (i + 10 > bytes.length) return null;
      const lct = tableBytes(at(i + 9));
      const table = lct ? bytes.subarray(i + 10, i + 10 + lct) : gct ? bytes.subarray(13, 13 + gct) : null;
      if (table && table.length < (lct || gct)) return null;
      return {
        width: u16(6),
        height: u16(8),
        left: u16(i + 1),
        top: u16(i + 3),
        frameWidth: u16(i + 5),
        frameHeight: u16(i + 7),
        palette: table,
        transparent,
      };
    }
    if (block !== 0x21) return null;
    // An extension: its label, then sub-blocks (a length byte each) up to a zero length.
    if (at(i + 1) === 0xf9 && at(i + 2) >= 4 && at(i + 3) & 1) transparent = at(i + 6);
    i += 2;
    while (i < bytes.length && at(i) !== 0) i += at(i) + 1;
    i += 1;
  }
  return null;
}

/**
 * Gives the pixels libvips leaves black the colour PIL gives them: a pixel outside the first frame's
 * rectangle takes the palette colour of the transparent index (index 0 when the frame has none), a
 * transparent pixel (alpha 0) inside it that of the transparent index. `rgba` is libvips' decode of
 * the GIF at the screen's size, 4 channels; returns RGB. Without a palette (a file with no colour
 * table, which PIL reads as grey levels) the index is its own grey level, as PIL's.
 */
export function gifRgbAsPil(rgba: Uint8Array, width: number, height: number, gif: GifFirstFrame): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  const colour = (index: number): [number, number, number] => {
    const p = gif.palette;
    if (!p) return [index, index, index];
    return 3 * index + 2 < p.length ? [p[3 * index], p[3 * index + 1], p[3 * index + 2]] : [0, 0, 0];
  };
  const fill = colour(gif.transparent ?? 0);
  const x1 = gif.left + gif.frameWidth;
  const y1 = gif.top + gif.frameHeight;
  for (let y = 0; y < height; y++) {
    const inRows = y >= gif.top && y < y1;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const inFrame = inRows && x >= gif.left && x < x1;
      const hidden = !inFrame || (gif.transparent !== null && rgba[4 * i + 3] === 0);
      for (let c = 0; c < 3; c++) rgb[3 * i + c] = hidden ? fill[c] : rgba[4 * i + c];
    }
  }
  return rgb;
}

/** RGB of RGBA pixels (alpha dropped, the colour under it kept, as PIL's `convert('RGB')`). */
export function dropAlpha(rgba: Uint8Array | Uint8ClampedArray): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/**
 * RGB of a decoder's RGBA at `width` x `height` as PIL gives it: for a GIF (`gif`, its header) whose
 * screen is that size, {@link gifRgbAsPil}; else alpha dropped. A first frame larger than the screen
 * grows the decoder's canvas, and PIL's colours of it are not known here.
 */
export function rgbAsPil(rgba: Uint8Array, width: number, height: number, gif: GifFirstFrame | null): Uint8Array {
  return gif && width === gif.width && height === gif.height ? gifRgbAsPil(rgba, width, height, gif) : dropAlpha(rgba);
}
