import { Rng } from '@resnet-ts/core';
import { Dataset } from './data/dataset.js';
import { TrainError } from './errors.js';

/**
 * How raw pixels become network input: pixel/255 (uint8 data; float data is taken as already in
 * [0, 1]), centred padding with black pixels to `padTo` (28x28 -> 32x32 for the CIFAR stems),
 * then (x - mean[c]) / std[c] over the whole padded image, so the border holds -mean[c] / std[c],
 * not 0. Saved in checkpoints so eval/predict (and the browser example) prepare images the same way.
 */
export interface Preprocessing {
  mean: number[];
  std: number[];
  /** Output [height, width] (>= the image size; the border is black pixels, i.e. -mean/std after normalising). Default: the image size. */
  padTo?: [number, number];
}

/** The paper's augmentation: pad by `pad` black pixels, random crop back, random horizontal flip. */
export interface Augmentation {
  pad: number;
  flip: boolean;
}

/** Per-channel mean and (population) standard deviation of the images, on the [0, 1] scale. */
export function channelStats(d: Dataset): { mean: number[]; std: number[] } {
  const c = d.shape[2];
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const scale = d.images instanceof Uint8Array ? 1 / 255 : 1;
  const px = d.images;
  for (let i = 0; i < px.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = px[i + k] * scale;
      sum[k] += v;
      sq[k] += v * v;
    }
  }
  const n = px.length / c;
  const mean = [...sum].map((s) => s / n);
  const std = [...sq].map((s, k) => Math.sqrt(Math.max(s / n - mean[k] * mean[k], 1e-12)));
  return { mean, std };
}

/** Mixes a seed with small integers into a new 32-bit seed (so epoch orders are derivable). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x5bd1e995) >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}

/** The order in which an epoch visits the images: a permutation from (seed, epoch) alone. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new Rng(deriveSeed(seed, epoch, 0x5eed)).permutation(n);
}

/** A fresh augmentation generator for an epoch (its state is saved in checkpoints). */
export function augmentRng(seed: number, epoch: number): Rng {
  return new Rng(deriveSeed(seed, epoch, 0xa06));
}

/**
 * Fills mini-batches of NHWC float32 input from a {@link Dataset} with plain typed-array loops into
 * one reusable buffer: padding, normalisation and augmentation in a single pass.
 */
export class Batcher {
  readonly outH: number;
  readonly outW: number;
  readonly channels: number;
  private buffer: Float32Array;
  private labelBuffer: Int32Array;
  private readonly scale: Float32Array;
  private readonly shift: Float32Array;

  constructor(
    readonly data: Dataset,
    readonly batchSize: number,
    readonly prep: Preprocessing,
  ) {
    const [h, w, c] = data.shape;
    this.channels = c;
    [this.outH, this.outW] = prep.padTo ?? [h, w];
    if (this.outH < h || this.outW < w)
      throw new TrainError(`padTo ${this.outH}x${this.outW} is smaller than the images (${h}x${w}).`, 'OPTIONS');
    if (prep.mean.length !== c || prep.std.length !== c) {
      throw new TrainError(`Normalisation has ${prep.mean.length} means and ${prep.std.length} stds for ${c}-channel images.`, 'OPTIONS');
    }
    const raw = data.images instanceof Uint8Array ? 1 / 255 : 1;
    this.scale = Float32Array.from(prep.std, (s) => raw / s);
    this.shift = Float32Array.from(prep.mean, (m, k) => -m / prep.std[k]);
    this.buffer = new Float32Array(batchSize * this.outH * this.outW * c);
    this.labelBuffer = new Int32Array(batchSize);
  }

  /** Values per output image. */
  get imageSize(): number {
    return this.outH * this.outW * this.channels;
  }

  /**
   * Writes the images `indices` (at most batchSize) into the reusable buffer and returns views of
   * it: `x` is [n, outH, outW, C] flattened, `labels` has n entries. The views are overwritten by
   * the next call: make the tensor and dispose it before asking for the next batch.
   */
  fill(indices: ArrayLike<number>, augment?: Augmentation | false, rng?: Rng): { x: Float32Array; labels: Int32Array; n: number } {
    const n = indices.length;
    if (n > this.batchSize) throw new TrainError(`Batch of ${n} images exceeds the batch size ${this.batchSize}.`, 'OPTIONS');
    const [h, w, c] = this.data.shape;
    const H = this.outH;
    const W = this.outW;
    const oy0 = (H - h) >> 1;
    const ox0 = (W - w) >> 1;
    const src = this.data.images;
    const out = this.buffer;
    const scale = this.scale;
    const shift = this.shift;
    const per = h * w * c;
    const rowOut = W * c;
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      this.labelBuffer[b] = this.data.labels[idx];
      let dy = 0;
      let dx = 0;
      let flip = false;
      if (augment && rng) {
        const p = augment.pad;
        dy = rng.int(2 * p + 1) - p;
        dx = rng.int(2 * p + 1) - p;
        flip = augment.flip && rng.uniform() < 0.5;
      }
      // Output (y, x) reads image pixel (y + dy - oy0, xs + dx - ox0), xs = flipped x.
      const base = idx * per;
      const ob = b * H * rowOut;
      for (let y = 0; y < H; y++) {
        const sy = y + dy - oy0;
        const o = ob + y * rowOut;
        if (sy < 0 || sy >= h) {
          for (let x = 0; x < W; x++) for (let k = 0; k < c; k++) out[o + x * c + k] = shift[k];
          continue;
        }
        const srow = base + sy * w * c;
        for (let x = 0; x < W; x++) {
          const sx = (flip ? W - 1 - x : x) + dx - ox0;
          const oo = o + x * c;
          if (sx < 0 || sx >= w) {
            for (let k = 0; k < c; k++) out[oo + k] = shift[k];
          } else {
            const si = srow + sx * c;
            for (let k = 0; k < c; k++) out[oo + k] = src[si + k] * scale[k] + shift[k];
          }
        }
      }
    }
    return { x: out.subarray(0, n * this.imageSize), labels: this.labelBuffer.subarray(0, n), n };
  }
}
