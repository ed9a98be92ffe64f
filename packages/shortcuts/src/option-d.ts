/**
 * Shortcut option `D` (He et al. 2019, "Bag of Tricks for Image Classification with Convolutional
 * Neural Networks", ResNet-D): identity where the shape is unchanged; where it changes, average
 * pooling does the subsampling and a stride-1 1x1 conv + batch norm the projection, so no input
 * pixel is skipped (a strided 1x1 conv reads one pixel in four).
 *
 * The module is timm's `downsample_avg`, names and all: `Sequential(pool, conv, bn)` as
 * `downsample.0` (AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), or Identity at stride 1),
 * `downsample.1` (1x1 conv, no bias) and `downsample.2` (batch norm), so a timm ResNet-D shortcut's
 * state-dict keys load as they are. Without batch norm the conv has a bias and `downsample.2` is absent.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GraphEmitter,
  Identity,
  Module,
  Sequential,
  Shape,
  ShapeError,
  ShortcutOptions,
  Tracer,
  fmtShape,
  registerGraphExporter,
  registerShortcut,
} from '@resnet-ts/core';
import { refuseShortcutParams } from './params.js';

/**
 * `stride` x `stride` average pooling with stride `stride` in ceil mode, averaging only the pixels
 * inside the input (PyTorch's `AvgPool2d(s, s, ceil_mode=True, count_include_pad=False)`): an odd
 * size keeps its last row/column as a smaller window.
 */
export class CeilAvgPool2d extends Module {
  constructor(readonly stride: number) {
    super();
    if (!Number.isInteger(stride) || stride < 1) throw new ShapeError(`CeilAvgPool2d needs a positive integer stride; got ${stride}.`);
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4) throw new ShapeError(`CeilAvgPool2d expects [batch, h, w, channels]; got ${fmtShape(x.shape)}.`);
    const s = this.stride;
    const [, h, w] = x.shape as number[];
    const [padH, padW] = [(s - (h % s)) % s, (s - (w % s)) % s];
    if (padH === 0 && padW === 0) return tf.avgPool(x as tf.Tensor4D, s, s, 'valid');
    // A partial last window: zero-pad to whole windows, sum, divide by the in-bounds pixel count.
    // (tfjs's own 'same' pooling averages the same way forward, but its gradient divides every
    // window by s * s: wrong at the edge.)
    return tf.tidy(() => {
      const padded = tf.pad(x as tf.Tensor4D, [
        [0, 0],
        [0, padH],
        [0, padW],
        [0, 0],
      ]);
      const sums = tf.mul(tf.avgPool(padded, s, s, 'valid'), s * s);
      return tf.div(sums, windowCounts(h, w, s)) as tf.Tensor4D;
    });
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const [h, w, c] = input;
    const out = [Math.ceil(h / this.stride), Math.ceil(w / this.stride), c];
    tracer.record({ type: `AvgPool2d ${this.stride}x${this.stride}/${this.stride} ceil`, inputShape: input, outputShape: out, params: 0, macs: 0 });
    return out;
  }

  /** ONNX AveragePool in ceil mode; padding is not counted (count_include_pad = 0). */
  emitGraph(g: GraphEmitter, path: string, x: string): string {
    const s = this.stride;
    return g.node('AveragePool', path, [x], {
      kernel_shape: { ints: [s, s] },
      strides: { ints: [s, s] },
      ceil_mode: { int: 1 },
      count_include_pad: { int: 0 },
    });
  }
}

/** In-bounds pixels of each ceil-mode window of an h x w input, as [1, ceil(h/s), ceil(w/s), 1]. */
function windowCounts(h: number, w: number, s: number): tf.Tensor4D {
  const [oh, ow] = [Math.ceil(h / s), Math.ceil(w / s)];
  const counts = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) counts[i * ow + j] = Math.min(s, h - i * s) * Math.min(s, w - j * s);
  return tf.tensor4d(counts, [1, oh, ow, 1]);
}

// The same in training as the graph says (batch norms on batch statistics): compiled training plans may run it.
registerGraphExporter(CeilAvgPool2d, (g, m, path, x) => m.emitGraph(g, path, x), { sameInTraining: true });

/** Option D's shortcut module: `Sequential(pool or Identity, 1x1 conv, [bn])`. */
export function pooledProjection(o: ShortcutOptions): Sequential {
  const pool = o.stride > 1 ? new CeilAvgPool2d(o.stride) : new Identity();
  const conv = new Conv2d(o.inChannels, o.outChannels, 1, { stride: 1, padding: 0, rng: o.rng, bias: !o.batchNorm });
  return o.batchNorm ? new Sequential(pool, conv, new BatchNorm2d(o.outChannels)) : new Sequential(pool, conv);
}

registerShortcut('D', {
  description: 'identity, with 2x2 average pooling (ceil mode) + 1x1 conv + BN where the shape changes (Bag of Tricks ResNet-D, timm downsample_avg)',
  create: (o) => {
    refuseShortcutParams('D', o.params);
    return o.stride !== 1 || o.inChannels !== o.outChannels ? pooledProjection(o) : null;
  },
});
