import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer, assertNHWC, permuteValues } from '../module.js';
import { Rng } from '../rng.js';
import { ShapeError, fmtShape } from '../errors.js';
import { Conv2d, convOutSize } from './conv2d.js';
import { BatchNorm2d } from './batchnorm.js';
import { convBnAct } from './fuse.js';
import { maxPool2d } from '../kernels/max-pool.js';

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
  describe(input: Shape, tracer: Tracer): Shape {
    tracer.record({ type: 'ReLU', inputShape: input, outputShape: input, params: 0, macs: 0 });
    return input;
  }
}

/** Returns its input unchanged. */
export class Identity extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.clone(x);
  }
  describe(input: Shape): Shape {
    return input;
  }
}

/** Max pooling; the ImageNet stem uses 3x3, stride 2, padding 1 (padding never wins a max). */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize = 3,
    readonly stride = 2,
    readonly padding = 1,
  ) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4) throw new ShapeError(`MaxPool2d expects NHWC input; got ${fmtShape(x.shape)}.`);
    return maxPool2d(x as tf.Tensor4D, this.kernelSize, this.stride, this.padding);
  }
  describe(input: Shape, tracer: Tracer): Shape {
    const [h, w, c] = input;
    const out = [convOutSize(h, this.kernelSize, this.stride, this.padding), convOutSize(w, this.kernelSize, this.stride, this.padding), c];
    tracer.record({
      type: `MaxPool2d ${this.kernelSize}x${this.kernelSize}/${this.stride}`,
      inputShape: input,
      outputShape: out,
      params: 0,
      macs: 0,
    });
    return out;
  }
}

/** Mean over height and width: [N, H, W, C] -> [N, C]. */
export class GlobalAvgPool extends Module {
  forward(x: tf.Tensor): tf.Tensor2D {
    if (x.rank !== 4) throw new ShapeError(`GlobalAvgPool expects NHWC input; got ${fmtShape(x.shape)}.`);
    return tf.mean(x, [1, 2]) as tf.Tensor2D;
  }
  describe(input: Shape, tracer: Tracer): Shape {
    const out = [input[2]];
    tracer.record({ type: 'GlobalAvgPool', inputShape: input, outputShape: out, params: 0, macs: 0 });
    return out;
  }
}

/** Options of {@link Linear}. */
export interface LinearOptions {
  bias?: boolean;
  rng?: Rng;
}

/** y = x W + b with W stored [in, out] (`torch` layout [out, in]); PyTorch's default init. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const rng = options.rng ?? new Rng(0);
    const bound = 1 / Math.sqrt(inFeatures);
    // Drawn in PyTorch's [out, in] order and reordered to [in, out], like Conv2d.
    const initial = rng.placeholder
      ? tf.zeros([inFeatures, outFeatures])
      : tf.tensor2d(permuteValues(rng.uniformArray(inFeatures * outFeatures, -bound, bound), [outFeatures, inFeatures], [1, 0]), [
          inFeatures,
          outFeatures,
        ]);
    this.weight = this.registerParameter('weight', initial, 'linear');
    this.bias = options.bias === false ? null : this.registerParameter('bias', tf.tensor1d(rng.uniformArray(outFeatures, -bound, bound)));
  }

  forward(x: tf.Tensor): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new ShapeError(
        `Linear(${this.inFeatures}->${this.outFeatures}) expects [batch, ${this.inFeatures}]; got ${fmtShape(x.shape)}.`,
      );
    }
    return tf.tidy(() => {
      const y = tf.matMul(x as tf.Tensor2D, this.weight as tf.Tensor2D);
      return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor2D;
    });
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const out = [this.outFeatures];
    tracer.record({
      type: 'Linear',
      inputShape: input,
      outputShape: out,
      params: this.weight.size + (this.bias?.size ?? 0),
      macs: this.inFeatures * this.outFeatures,
    });
    return out;
  }
}

/** Runs children in order; children are named '0', '1', ... as in `torch.nn.Sequential`. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }
  forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor {
    return forwardSequence(this.layers, x, this.context(ctx));
  }
  describe(input: Shape, tracer: Tracer): Shape {
    let s = input;
    this.layers.forEach((layer, i) => (s = layer.describe(s, tracer.scope(String(i)))));
    return s;
  }
}

/** A run of layers that executes as one unit: `Conv2d [BatchNorm2d] [ReLU]`, or any other single layer. */
export type LayerRun =
  | { kind: 'conv'; conv: Conv2d; bn: BatchNorm2d | null; relu: boolean; indices: number[] }
  | { kind: 'layer'; layer: Module; indices: number[] };

/**
 * Splits `layers` into the runs that execute together (eval-mode fusion at run time, batch-norm
 * folding in graph export): each `Conv2d`, with the `BatchNorm2d` and the `ReLU` right after it.
 */
export function layerRuns(layers: readonly Module[]): LayerRun[] {
  const runs: LayerRun[] = [];
  for (let i = 0; i < layers.length;) {
    const layer = layers[i];
    if (!(layer instanceof Conv2d)) {
      runs.push({ kind: 'layer', layer, indices: [i++] });
      continue;
    }
    const indices = [i++];
    const bn = layers[i] instanceof BatchNorm2d ? (layers[i] as BatchNorm2d) : null;
    if (bn) indices.push(i++);
    const relu = layers[i] instanceof ReLU;
    if (relu) indices.push(i++);
    runs.push({ kind: 'conv', conv: layer, bn, relu, indices });
  }
  return runs;
}

/**
 * Runs `layers` in order on `x` (freeing intermediate results; the result is never `x` itself).
 * Each `Conv2d [BatchNorm2d] [ReLU]` run goes through `convBnAct`, which decides whether it runs as
 * one fused conv (eval mode: batch norm folded in, ReLU as its activation) or layer by layer.
 */
export function forwardSequence(layers: readonly Module[], x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
  let y = x;
  for (const run of layerRuns(layers)) {
    const next = run.kind === 'conv' ? convBnAct(run.conv, run.bn, y, ctx, run.relu) : run.layer.forward(y, ctx);
    if (y !== x) y.dispose();
    y = next;
  }
  return y === x ? tf.clone(x) : y;
}

export { assertNHWC };
