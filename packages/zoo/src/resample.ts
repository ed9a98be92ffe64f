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

function clip8(v: number): number {
  const x = Math.floor(v / ONE);
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/**
 * Resizes HWC uint8 pixels (`c` channels) from `h` x `w` to `outH` x `outW` with Pillow's
 * antialiased bilinear filter; the same bytes Pillow's `Image.resize(..., BILINEAR)` gives.
 */
export function resizeBilinear(src: Uint8Array, h: number, w: number, c: number, outH: number, outW: number): Uint8Array {
  let img = src;
  let width = w;
  if (outW !== w) {
    const { bounds, weights, ksize } = coefficients(w, outW);
    const tmp = new Uint8Array(h * outW * c);
    for (let y = 0; y < h; y++) {
      const row = y * w * c;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2];
        const n = bounds[xx * 2 + 1];
        const kb = xx * ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          for (let x = 0; x < n; x++) ss += src[row + (x + xmin) * c + ch] * weights[kb + x];
          tmp[(y * outW + xx) * c + ch] = clip8(ss);
        }
      }
    }
    img = tmp;
    width = outW;
  }
  if (outH === h) return img;
  const { bounds, weights, ksize } = coefficients(h, outH);
  const out = new Uint8Array(outH * width * c);
  const stride = width * c;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    const kb = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let ss = HALF;
      for (let y = 0; y < n; y++) ss += img[(y + ymin) * stride + i] * weights[kb + y];
      out[yy * stride + i] = clip8(ss);
    }
  }
  return out;
}

/** Pillow's `convert('L')` of HWC RGB uint8: L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R 601-2 luma). */
export function rgbToGray(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) out[i] = (19595 * rgb[j] + 38470 * rgb[j + 1] + 7471 * rgb[j + 2] + 32768) >>> 16;
  return out;
}
