/**
 * @resnet-ts/shortcuts: the paper's three shortcut options, registered with core on import.
 * - `A`: identity; where the shape changes, subsample by the stride and zero-pad the new channels
 *   (no parameters).
 * - `B`: identity; where the shape changes, a 1x1 conv (with the stride) + batch norm projection.
 * - `C`: the projection on every block.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  Module,
  Sequential,
  Shape,
  ShapeError,
  ShortcutOptions,
  Tracer,
  fmtShape,
  registerShortcut,
} from '@resnet-ts/core';

/**
 * Option A's shortcut where the shape changes: keep every `stride`-th pixel and append
 * `outChannels - inChannels` zero channels (the identity channels come first).
 */
export class ZeroPadShortcut extends Module {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
  ) {
    super();
    if (outChannels < inChannels) {
      throw new ShapeError(`Option A cannot shrink channels (${inChannels} -> ${outChannels}); use shortcut 'B' or 'C'.`);
    }
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(`ZeroPadShortcut expects [batch, h, w, ${this.inChannels}]; got ${fmtShape(x.shape)}.`);
    }
    return tf.tidy(() => {
      // A 1x1 average pool with a stride is x[:, ::s, ::s, :] and, unlike strided slice, has a gradient.
      let y = this.stride > 1 ? tf.avgPool(x as tf.Tensor4D, 1, this.stride, 'valid') : (x as tf.Tensor4D);
      const extra = this.outChannels - this.inChannels;
      if (extra > 0) y = tf.pad(y, [[0, 0], [0, 0], [0, 0], [0, extra]]);
      return y === x ? tf.clone(y) : y;
    });
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const [h, w] = input;
    const out = [Math.ceil(h / this.stride), Math.ceil(w / this.stride), this.outChannels];
    tracer.record({ type: 'ZeroPadShortcut', inputShape: input, outputShape: out, params: 0, macs: 0 });
    return out;
  }
}

/** The 1x1 conv + batch norm projection of options B and C (`downsample.0`, `downsample.1`). */
export function projection(o: ShortcutOptions): Sequential {
  const conv = new Conv2d(o.inChannels, o.outChannels, 1, { stride: o.stride, padding: 0, rng: o.rng, bias: !o.batchNorm });
  return o.batchNorm ? new Sequential(conv, new BatchNorm2d(o.outChannels)) : new Sequential(conv);
}

const shapeChanges = (o: ShortcutOptions) => o.stride !== 1 || o.inChannels !== o.outChannels;

registerShortcut('A', {
  description: 'zero-padding identity: subsample and pad new channels with zeros (no parameters)',
  create: (o) => (shapeChanges(o) ? new ZeroPadShortcut(o.inChannels, o.outChannels, o.stride) : null),
});
registerShortcut('B', {
  description: 'identity, with a 1x1 conv + BN projection where the shape changes',
  create: (o) => (shapeChanges(o) ? projection(o) : null),
});
registerShortcut('C', {
  description: 'a 1x1 conv + BN projection on every block',
  create: (o) => projection(o),
});

/** The option names this package registers. */
export const SHORTCUT_OPTIONS = ['A', 'B', 'C'] as const;
