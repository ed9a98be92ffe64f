import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer, assertNHWC, permuteValues } from '../module.js';
import { Rng } from '../rng.js';
import { SpecError } from '../errors.js';
import type { BatchNorm2d } from './batchnorm.js';

/** The weights of a conv with a batch norm folded in (see {@link Conv2d.inferenceWeights}). */
export interface FoldedWeights {
  /** HWIO filter, `weight * gamma / sqrt(running_var + eps)` per output channel. */
  filter: tf.Tensor4D;
  /** `beta + (bias - running_mean) * gamma / sqrt(running_var + eps)`; null without batch norm and bias. */
  bias: tf.Tensor1D | null;
}

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
  stride?: number;
  /** Zero padding on each side; default `floor(kernelSize / 2)` (PyTorch's default is 0). */
  padding?: number;
  /** Add a learned bias (default false: ResNets follow every conv with batch norm). */
  bias?: boolean;
  /** Initialiser's random source; seeded so models are reproducible. */
  rng?: Rng;
}

/** Output size of a convolution or pooling window along one axis. */
export function convOutSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * 2-D convolution over NHWC input, weight stored HWIO (`torch` layout OIHW in state dicts),
 * initialised as torchvision does: Kaiming normal, fan_out, ReLU gain.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number;
  /** Cached {@link FoldedWeights} (null: not foldable) and what they were computed from (tensor storage ids, the BN). */
  private folded: { key: unknown[]; weights: FoldedWeights | null } | null = null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv2dOptions = {},
  ) {
    super();
    if (!(inChannels > 0 && outChannels > 0 && kernelSize > 0)) {
      throw new SpecError(`Conv2d needs positive channels and kernel size; got in=${inChannels}, out=${outChannels}, k=${kernelSize}.`);
    }
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? Math.floor(kernelSize / 2);
    const rng = options.rng ?? new Rng(0);
    const fanOut = outChannels * kernelSize * kernelSize;
    const std = Math.sqrt(2 / fanOut);
    const shape: [number, number, number, number] = [kernelSize, kernelSize, inChannels, outChannels];
    // Drawn in PyTorch's OIHW order and reordered to HWIO, so a given seed means the same filters in both.
    const initial = rng.placeholder
      ? tf.zeros(shape)
      : tf.tensor4d(
          permuteValues(rng.normalArray(fanOut * inChannels, std), [outChannels, inChannels, kernelSize, kernelSize], [2, 3, 1, 0]),
          shape,
        );
    this.weight = this.registerParameter('weight', initial, 'conv2d');
    if (options.bias) {
      const bound = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
      this.bias = this.registerParameter('bias', tf.tensor1d(rng.uniformArray(outChannels, -bound, bound)));
    } else {
      this.bias = null;
    }
  }

  forward(x: tf.Tensor, _ctx?: ForwardContext): tf.Tensor4D {
    assertNHWC(x, this.inChannels, `Conv2d(${this.inChannels}->${this.outChannels})`);
    return tf.tidy(() => {
      const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.padding);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  /**
   * Filter and bias of this conv for inference with `bn` (eval mode, running statistics) folded in:
   * `w' = w * s`, `b' = beta + (b - mean) * s` with `s = gamma / sqrt(var + eps)` per output
   * channel (HWIO keeps the output channel last, so this is one broadcast multiply). Without `bn`
   * they are the conv's own weight and bias.
   *
   * The folded tensors are kept (outside any `tf.tidy`) and reused while the variables they come from
   * hold the same storage: `Variable.assign` (training steps, `loadStateDict`) gives a variable new
   * storage, so any change rebuilds them and frees the old ones. {@link Module.clearCaches} (called
   * by `dispose()` and `loadStateDict()`) frees them. Not differentiable with respect to the
   * parameters: for gradients use the layers one by one (as {@link convBnAct} does under a tape).
   *
   * Null when `s` holds ±Inf (a zero or infinite `gamma / sqrt(var + eps)`): the folded filter would
   * be ±Inf and its sums NaN where the unfolded batch norm gives ±Inf, so the caller runs the layers
   * one by one. A NaN `s` (e.g. a negative `running_var`) folds exactly: NaN either way.
   */
  inferenceWeights(bn: BatchNorm2d | null): FoldedWeights | null {
    if (!bn) return { filter: this.weight as tf.Tensor4D, bias: this.bias as tf.Tensor1D | null };
    const key: unknown[] = [
      bn,
      bn.eps,
      ...[this.weight, this.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((v) => v?.dataId ?? null),
    ];
    if (this.folded && this.folded.key.length === key.length && this.folded.key.every((k, i) => k === key[i])) return this.folded.weights;
    this.clearCaches();
    const factors = this.foldFactors(bn);
    let weights: FoldedWeights | null = null;
    if (factors) {
      weights = { filter: tf.tidy(() => tf.mul(this.weight, factors.scale) as tf.Tensor4D), bias: factors.bias };
      factors.scale.dispose();
      // Kept: an enclosing tidy (the forward pass) must not free the cache.
      tf.keep(weights.filter);
      tf.keep(factors.bias);
    }
    this.folded = { key, weights };
    return weights;
  }

  /**
   * The per-output-channel factors of the fold {@link inferenceWeights} makes: `scale` =
   * `gamma / sqrt(var + eps)` (the filter's multiplier) and the folded `bias`; null when the fold is
   * not exact (`scale` holds ±Inf). Fresh tensors the caller owns (not cached). An engine that copies
   * the weights anyway (the native inference plan) multiplies by `scale` while copying, instead of
   * keeping a folded copy of every filter.
   */
  foldFactors(bn: BatchNorm2d): { scale: tf.Tensor1D; bias: tf.Tensor1D } | null {
    const scale = tf.tidy(() => tf.mul(bn.weight, tf.rsqrt(tf.add(bn.runningVar, bn.eps))) as tf.Tensor1D);
    // One small read per fold (inferenceWeights caches its result).
    if ((scale.dataSync() as Float32Array).some((v) => v === Infinity || v === -Infinity)) {
      scale.dispose();
      return null;
    }
    const bias = tf.tidy(() => {
      const shift = this.bias ? tf.sub(this.bias, bn.runningMean) : tf.neg(bn.runningMean);
      return tf.add(bn.bias, tf.mul(shift, scale)) as tf.Tensor1D;
    });
    return { scale, bias };
  }

  override clearCaches(): void {
    if (!this.folded) return;
    const { weights } = this.folded;
    this.folded = null;
    weights?.filter.dispose();
    weights?.bias?.dispose();
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const [h, w] = input;
    const oh = convOutSize(h, this.kernelSize, this.stride, this.padding);
    const ow = convOutSize(w, this.kernelSize, this.stride, this.padding);
    const out = [oh, ow, this.outChannels];
    tracer.record({
      type: `Conv2d ${this.kernelSize}x${this.kernelSize}/${this.stride}`,
      inputShape: input,
      outputShape: out,
      params: this.weight.size + (this.bias?.size ?? 0),
      macs: oh * ow * this.outChannels * this.inChannels * this.kernelSize * this.kernelSize,
    });
    return out;
  }
}
