/**
 * Pillow's resampling in plain TypeScript, so Node and the browser resize images exactly as
 * torchvision does on PIL images (`Resize(..., interpolation=BILINEAR)`, antialiased when
 * shrinking): separable triangle filter whose support grows with the scale factor, 8-bit fixed-point
 * coefficients with 22 fraction bits, a horizontal pass rounded to uint8, then a vertical pass
 * (Pillow's `ImagingResample`, `libImaging/Resample.c`). Also Pillow's RGB -> L conversion.
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Source ranges and integer weights of each output coordinate (Pillow's `precompute_coeffs`). */
function coefficients(inSize: number, outSize: number): { bounds: Int32Array; weights: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      k[x] = t < 1 ? 1 - t : 0;
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = Math.trunc(w * ONE + (w < 0 ? -0.5 : 0.5));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

/** A fixed-point sum back to uint8: Pillow's `clip8` (the sums stay within int32: weights sum to ONE). */
function clip8(ss: number): number {
  const x = ss >> PRECISION_BITS;
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/**
 * Resizes HWC uint8 pixels (`c` channels) from `h` x `w` to `outH` x `outW` with Pillow's
 * antialiased bilinear filter; the same bytes Pillow's `Image.resize(..., BILINEAR)` gives.
 * Integer arithmetic throughout (`Math.imul`, `| 0`), as Pillow's: a product of a pixel and a weight
 * is under 2^30 and a sum under 2^31, so V8 keeps the loops in int32.
 */
export function resizeBilinear(src: Uint8Array, h: number, w: number, c: number, outH: number, outW: number): Uint8Array {
  const wide = outW === w ? src : resizeRows(src, h, w, c, outW);
  return outH === h ? wide : resizeColumns(wide, h, outW * c, outH);
}

/** The horizontal pass: each of `h` rows from `w` to `outW` pixels of `c` channels, rounded to uint8. */
function resizeRows(src: Uint8Array, h: number, w: number, c: number, outW: number): Uint8Array {
  const { bounds, weights, ksize } = coefficients(w, outW);
  const out = new Uint8Array(h * outW * c);
  const acc = new Int32Array(c);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let xx = 0; xx < outW; xx++) {
      const n = bounds[xx * 2 + 1];
      const kb = xx * ksize;
      const o = (y * outW + xx) * c;
      if (c === 3) {
        // The common case unrolled over channels: one walk over the source pixels for all three.
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let x = 0, i = row + bounds[xx * 2] * 3; x < n; x++, i += 3) {
          const k = weights[kb + x];
          s0 = (s0 + Math.imul(src[i], k)) | 0;
          s1 = (s1 + Math.imul(src[i + 1], k)) | 0;
          s2 = (s2 + Math.imul(src[i + 2], k)) | 0;
        }
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
        continue;
      }
      acc.fill(HALF);
      for (let x = 0, i = row + bounds[xx * 2] * c; x < n; x++, i += c) {
        const k = weights[kb + x];
        for (let ch = 0; ch < c; ch++) acc[ch] = (acc[ch] + Math.imul(src[i + ch], k)) | 0;
      }
      for (let ch = 0; ch < c; ch++) out[o + ch] = clip8(acc[ch]);
    }
  }
  return out;
}

/** The vertical pass: `h` rows of `stride` bytes to `outH` rows, rounded to uint8; rows are summed whole, in memory order. */
function resizeColumns(img: Uint8Array, h: number, stride: number, outH: number): Uint8Array {
  const { bounds, weights, ksize } = coefficients(h, outH);
  const out = new Uint8Array(outH * stride);
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const k = weights[yy * ksize + y];
      const row = (y + ymin) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i] + Math.imul(img[row + i], k)) | 0;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]);
  }
  return out;
}

/** Pillow's `convert('L')` of HWC RGB uint8: L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R 601-2 luma). */
export function rgbToGray(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) out[i] = (19595 * rgb[j] + 38470 * rgb[j + 1] + 7471 * rgb[j + 2] + 32768) >>> 16;
  return out;
}
