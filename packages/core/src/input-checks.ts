/**
 * The check of what a layer or model is given: a 4-D NHWC tensor with the channels it takes, of
 * images of at least 1x1 pixels; anything else is a {@link ShapeError} naming what was given.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, fmtShape } from './errors.js';

/**
 * Throws a {@link ShapeError} unless `x` is a rank-4 NHWC tensor with `channels` channels and images of
 * at least 1x1 pixels (a batch of 0 images passes).
 */
export function assertNHWC(x: tf.Tensor, channels: number, where: string): asserts x is tf.Tensor4D {
  if (!isTensor(x)) {
    throw new ShapeError(
      `${where} takes a 4-D NHWC tf.Tensor [batch, height, width, ${channels}]; got ${describeValue(x)}. ` +
        `Make one with tf.tensor4d(values, [batch, height, width, ${channels}]).`,
    );
  }
  if ((x as { isDisposed?: boolean }).isDisposed)
    throw new ShapeError(`${where} was given a disposed tensor ${fmtShape(x.shape)}: it holds no values any more; pass one that is alive.`);
  if (x.dtype !== 'float32')
    throw new ShapeError(
      `${where} takes float32 images; got ${x.dtype} ${fmtShape(x.shape)}. Cast it with x.toFloat() (and scale and normalise as the model expects).`,
    );
  if (x.rank !== 4) {
    throw new ShapeError(
      `${where} expects a 4-D NHWC tensor [batch, height, width, ${channels}]; got rank ${x.rank} ${fmtShape(x.shape)}. ` +
        (x.rank === 3 ? 'Add a batch dimension with x.expandDims(0).' : ''),
    );
  }
  if (x.shape[3] !== channels) {
    const nchwHint = x.shape[1] === channels ? ' It looks like NCHW (PyTorch order): transpose it with tf.transpose(x, [0, 2, 3, 1]).' : '';
    throw new ShapeError(`${where} expects ${channels} input channels in the last dimension (NHWC); got ${fmtShape(x.shape)}.${nchwHint}`);
  }
  if (x.shape[1] === 0 || x.shape[2] === 0)
    throw new ShapeError(
      `${where} expects images of at least 1x1 pixels; got ${fmtShape(x.shape)} (height ${x.shape[1]}, width ${x.shape[2]}).`,
    );
}

/** Whether `x` is a tfjs tensor (by its fields: a second copy of tfjs-core makes tensors of another class). */
function isTensor(x: unknown): x is tf.Tensor {
  const t = x as { rank?: unknown; shape?: unknown; dtype?: unknown } | null;
  return typeof t === 'object' && t !== null && typeof t.rank === 'number' && Array.isArray(t.shape) && typeof t.dtype === 'string';
}

/** What a value that is not a tensor is, for messages: `a Float32Array of 3072 values`, `a JavaScript array`, `undefined`. */
function describeValue(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}${'length' in x ? ` of ${(x as Uint8Array).length} values` : ''}`;
  if (Array.isArray(x)) return 'a JavaScript array';
  return `a ${typeof x === 'object' ? (x.constructor?.name ?? 'object') : typeof x}`;
}
