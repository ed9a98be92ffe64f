import { resizeBilinear, rgbToGray } from '@resnet-ts/zoo';
import { DataError } from '../errors.js';
import { Dataset } from './dataset.js';

/** Largest data set {@link fitDataset} makes (bytes): beyond it, use fewer images or a smaller size. */
export const MAX_FITTED_BYTES = 2 ** 31;

/**
 * An in-memory uint8 data set (IDX, CIFAR) brought to `size` (Pillow's antialiased bilinear resize,
 * as torchvision on PIL images; a square image stays square) and `channels` (RGB -> gray by Pillow's
 * luma; gray -> RGB by repeating the channel). Returns `d` itself when nothing changes.
 */
export function fitDataset(d: Dataset, size: [number, number], channels: number): Dataset {
  const [h, w, c] = d.shape;
  if (h === size[0] && w === size[1] && c === channels) return d;
  if (!(d.images instanceof Uint8Array)) throw new DataError(`Only 8-bit images can be resized; ${d.source ?? 'this data set'} holds floats.`);
  if ((c !== 1 && c !== 3) || (channels !== 1 && channels !== 3)) throw new DataError(`Channels can go between 1 and 3 only; got ${c} -> ${channels}.`);
  const n = d.labels.length;
  const [H, W] = size;
  const per = H * W * channels;
  if (n * per > MAX_FITTED_BYTES)
    throw new DataError(`${n} images of ${H}x${W}x${channels} need ${((n * per) / 2 ** 30).toFixed(1)} GiB: use --limit or a smaller --image-size.`);
  const out = new Uint8Array(n * per);
  const inPer = h * w * c;
  for (let i = 0; i < n; i++) {
    let px = d.images.subarray(i * inPer, (i + 1) * inPer);
    if (c === 3 && channels === 1) px = rgbToGray(px);
    if (h !== H || w !== W) px = resizeBilinear(px, h, w, c === 3 && channels === 1 ? 1 : c, H, W);
    if (c === 1 && channels === 3) {
      const rgb = new Uint8Array(H * W * 3);
      for (let j = 0; j < H * W; j++) rgb[3 * j] = rgb[3 * j + 1] = rgb[3 * j + 2] = px[j];
      px = rgb;
    }
    out.set(px, i * per);
  }
  return { ...d, images: out, shape: [H, W, channels], decoding: undefined };
}
