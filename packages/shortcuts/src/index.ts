/**
 * @resnet-ts/shortcuts: the paper's three shortcut options, registered with core on import.
 * - `A`: identity; where the shape changes, subsample by the stride and zero-pad the new channels
 *   (no parameters).
 * - `B`: identity; where the shape changes, a 1x1 conv (with the stride) + batch norm projection.
 * - `C`: the projection on every block.
 * - `D` (./option-d.ts): where the shape changes, average pooling + a 1x1 conv + batch norm (ResNet-D).
 * Each module type registers its graph (ONNX) exporter next to itself with core's `registerGraphExporter`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GraphEmitter,
  Module,
  Sequential,
  Shape,
  ShapeError,
  ShortcutOptions,
  SpecError,
  Tracer,
  fmtShape,
  registerGraphExporter,
  registerShortcut,
} from '@resnet-ts/core';
import { refuseShortcutParams } from './params.js';

/**
 * Where option A puts the new zero channels: `after` the identity channels (the default), or
 * `split` half before and half after (`F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`
 * in the common PyTorch CIFAR code; with an odd count the extra channel goes after).
 */
export type ZeroPadPlacement = 'after' | 'split';

/** Option A's placements. */
export const ZERO_PAD_PLACEMENTS: readonly ZeroPadPlacement[] = ['after', 'split'];

/**
 * Option A's shortcut where the shape changes: keep every `stride`-th pixel and add
 * `outChannels - inChannels` zero channels, placed as `padding` says.
 */
export class ZeroPadShortcut extends Module {
  /** Zero channels before the identity channels (0 for 'after'). */
  readonly padBefore: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
    readonly padding: ZeroPadPlacement = 'after',
  ) {
    super();
    if (outChannels < inChannels) {
      throw new ShapeError(`Option A cannot shrink channels (${inChannels} -> ${outChannels}); use shortcut 'B' or 'C'.`);
    }
    this.padBefore = padding === 'split' ? Math.floor((outChannels - inChannels) / 2) : 0;
  }

  /** The fixed [1, 1, in, out] 0/1 matrix that maps input channel i to output channel i + padBefore. */
  private selector?: tf.Tensor4D;

  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(`ZeroPadShortcut expects [batch, h, w, ${this.inChannels}]; got ${fmtShape(x.shape)}.`);
    }
    // x[:, ::s, ::s, :] followed by zero channels, computed as a strided 1x1 convolution with a
    // fixed 0/1 selection matrix: the same values exactly (x * 1 plus zeros), and forward and
    // backward run as the engine's convolution kernels. The obvious avgPool + pad is what it
    // replaces: pad's gradient is a channel slice, which the cpu-derived engines copy element by
    // element (281 ms of a 554 ms ResNet-20 training step at batch 128 on native: bench/zoo-step-profile.ts in backend-node).
    // Built from a Float32Array: tfjs-backend-wasm 4.22's OneHot ignores dtype 'float32' (it writes
    // integer bits, i.e. 1.4e-45 for 1), which made option A wrong on wasm.
    if (!this.selector) {
      const values = new Float32Array(this.inChannels * this.outChannels);
      for (let i = 0; i < this.inChannels; i++) values[i * this.outChannels + i + this.padBefore] = 1;
      this.selector = tf.keep(tf.tensor4d(values, [1, 1, this.inChannels, this.outChannels]));
    }
    return tf.conv2d(x as tf.Tensor4D, this.selector, this.stride, 'valid');
  }

  /** Frees the selector (rebuilt on the next forward). Called by `dispose()` of this module or of any ancestor (core's Module.clearAllCaches). */
  override clearCaches(): void {
    this.selector?.dispose();
    this.selector = undefined;
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const [h, w] = input;
    const out = [Math.ceil(h / this.stride), Math.ceil(w / this.stride), this.outChannels];
    tracer.record({ type: 'ZeroPadShortcut', inputShape: input, outputShape: out, params: 0, macs: 0 });
    return out;
  }

  /** In an export graph (NCHW): subsample by the stride (Slice with steps), then the zero channels (Pad). */
  emitGraph(g: GraphEmitter, path: string, x: string): string {
    let y = x;
    if (this.stride > 1) {
      y = g.node('Slice', `${path}.subsample`, [
        y,
        g.int64Constant(`${path}.starts`, [0, 0]),
        g.int64Constant(`${path}.ends`, [2147483647, 2147483647]),
        g.int64Constant(`${path}.axes`, [2, 3]),
        g.int64Constant(`${path}.steps`, [this.stride, this.stride]),
      ]);
    }
    const extra = this.outChannels - this.inChannels;
    if (extra === 0) return y;
    // NCHW pads [begins..., ends...]: the zero channels go before (padBefore) and after the identity channels.
    const pads = g.int64Constant(`${path}.pads`, [0, this.padBefore, 0, 0, 0, extra - this.padBefore, 0, 0]);
    return g.node('Pad', `${path}.pad`, [y, pads], { mode: { string: 'constant' } });
  }
}

// The same in training as the graph says (batch norms on batch statistics): compiled training plans may run it.
registerGraphExporter(ZeroPadShortcut, (g, m, path, x) => m.emitGraph(g, path, x), { sameInTraining: true });

/** The 1x1 conv + batch norm projection of options B and C (`downsample.0`, `downsample.1`). */
export function projection(o: ShortcutOptions): Sequential {
  const conv = new Conv2d(o.inChannels, o.outChannels, 1, { stride: o.stride, padding: 0, rng: o.rng, bias: !o.batchNorm });
  return o.batchNorm ? new Sequential(conv, new BatchNorm2d(o.outChannels)) : new Sequential(conv);
}

const shapeChanges = (o: ShortcutOptions) => o.stride !== 1 || o.inChannels !== o.outChannels;

/** Option A's placement from the spec's `shortcutParams` (`{padding: 'after' | 'split'}`). */
export function zeroPadPlacement(params: ShortcutOptions['params'] = {}): ZeroPadPlacement {
  for (const key of Object.keys(params)) {
    if (key !== 'padding') throw new SpecError(`Shortcut option A has no parameter '${key}' (it takes padding: 'after' | 'split').`);
  }
  const p = params.padding ?? 'after';
  if (!ZERO_PAD_PLACEMENTS.includes(p as ZeroPadPlacement)) {
    throw new SpecError(`spec.shortcutParams.padding must be 'after' or 'split' for option A; got ${JSON.stringify(p)}.`);
  }
  return p as ZeroPadPlacement;
}

registerShortcut('A', {
  description: "zero-padding identity: subsample and pad new channels with zeros (no parameters); shortcutParams {padding: 'after' | 'split'}",
  create: (o) => {
    const padding = zeroPadPlacement(o.params);
    return shapeChanges(o) ? new ZeroPadShortcut(o.inChannels, o.outChannels, o.stride, padding) : null;
  },
});
registerShortcut('B', {
  description: 'identity, with a 1x1 conv + BN projection where the shape changes',
  create: (o) => {
    refuseShortcutParams('B', o.params);
    return shapeChanges(o) ? projection(o) : null;
  },
});
registerShortcut('C', {
  description: 'a 1x1 conv + BN projection on every block',
  create: (o) => {
    refuseShortcutParams('C', o.params);
    return projection(o);
  },
});

export { CeilAvgPool2d, pooledProjection } from './option-d.js';
