/**
 * Inference fusion: in eval mode a conv followed by batch norm (and a ReLU) runs as ONE
 * `tf.fused.conv2d`, with the batch norm folded into the filter and bias and the ReLU fused as the
 * activation, on every backend. Training (batch statistics) and anything that records gradients
 * (`tf.grad`, `tf.variableGrads`, even with `training: false`) take the layer-by-layer path, so
 * gradients reach every parameter exactly as before.
 *
 * The folded weights are cached on the conv (see {@link Conv2d.inferenceWeights}) and rebuilt when
 * any of the tensors they come from was replaced (`Variable.assign`, `loadStateDict`).
 *
 * This file is the one place that decides whether something runs fused (`fusedWeights`): callers
 * (`Sequential` through `forwardSequence`, the blocks' `residualForward`) always go through
 * {@link convBnAct} / {@link convBnAddRelu}, in training too, and never test the mode themselves.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext } from '../module.js';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { convOutSize, type Conv2d, type FoldedWeights } from './conv2d.js';
import type { BatchNorm2d } from './batchnorm.js';

/** On unless $RESNET_TS_INFERENCE_FUSION is '0' (Node), e.g. to benchmark the layer-by-layer path. */
let fusionEnabled = !(typeof process !== 'undefined' && process.env?.RESNET_TS_INFERENCE_FUSION === '0');

/**
 * Turns inference fusion on (the default) or off, e.g. to compare with the layer-by-layer path.
 * Returns the previous setting.
 */
export function setInferenceFusion(enabled: boolean): boolean {
  const previous = fusionEnabled;
  fusionEnabled = enabled;
  return previous;
}

/** Whether a forward with `ctx` may run fused: eval mode, fusion on, no gradient being recorded. */
export function canFuse(ctx: ForwardContext): boolean {
  return fusionEnabled && !ctx.training && !tf.engine().isTapeOn();
}

/**
 * The one fusion decision: the folded filter and bias to run `bn?(conv(x))` (plus, with `residual`,
 * the add and ReLU) as one fused kernel, or null to run the layers one by one. Fused only when
 * {@link canFuse}, the shapes fit, the fold is exact (see {@link Conv2d.inferenceWeights}) and, for
 * the residual form, the backend has {@link CONV2D_ADD_RELU} and every tensor is float32.
 */
function fusedWeights(conv: Conv2d, bn: BatchNorm2d | null, x: tf.Tensor, ctx: ForwardContext, residual?: tf.Tensor): FoldedWeights | null {
  if (!canFuse(ctx) || x.rank !== 4 || x.shape[3] !== conv.inChannels || (bn && bn.numFeatures !== conv.outChannels)) return null;
  if (residual) {
    const [n, h, w] = x.shape as number[];
    const out = (size: number | undefined) => convOutSize(size ?? 0, conv.kernelSize, conv.stride, conv.padding);
    const outShape = [n, out(h), out(w), conv.outChannels];
    const oneKernel =
      tf.getKernel(CONV2D_ADD_RELU, tf.getBackend()) != null &&
      x.dtype === 'float32' &&
      residual.dtype === 'float32' &&
      residual.rank === 4 &&
      residual.shape.every((d, i) => d === outShape[i]);
    if (!oneKernel) return null;
  }
  return conv.inferenceWeights(bn);
}

/**
 * `relu?(bn?(conv(x)))`: one fused conv (folded batch norm, bias, ReLU) when fusion applies (see
 * {@link canFuse}), else the three layers one after the other.
 */
export function convBnAct(conv: Conv2d, bn: BatchNorm2d | null, x: tf.Tensor, ctx: ForwardContext, relu: boolean): tf.Tensor4D {
  const folded = fusedWeights(conv, bn, x, ctx);
  if (!folded) {
    return tf.tidy(() => {
      const y = conv.forward(x, ctx);
      if (bn) return bn.forward(y, ctx, { relu }); // in training: batch norm and ReLU in one kernel where the backend has it
      return (relu ? tf.relu(y) : y) as tf.Tensor4D;
    });
  }
  const { filter, bias } = folded;
  return tf.fused.conv2d({
    x: x as tf.Tensor4D,
    filter,
    strides: conv.stride,
    pad: conv.padding,
    bias: bias ?? undefined,
    activation: relu ? 'relu' : 'linear',
  });
}

/**
 * Kernel name of the eval-mode residual conv, `relu(conv(x, filter) + bias + residual)` in one pass
 * (oneDNN's sum + relu post-ops on the `native` engine). Inputs `{x, filter, bias?, residual}`
 * (float32, NHWC / HWIO, residual shaped like the conv output), attrs `{strides, pad}` (numbers).
 * Backends without it get the same value from a fused conv, an add and a relu.
 */
export const CONV2D_ADD_RELU = 'ResnetConv2DAddRelu';

/**
 * `relu(bn?(conv(x)) + residual)`: the last conv of a residual branch, its batch norm, the residual
 * add and the block's ReLU. When fusion applies (see {@link canFuse}) and the backend has
 * {@link CONV2D_ADD_RELU}: one kernel with the batch norm folded in; else a fused conv (when fusion
 * applies), the add and the ReLU.
 */
export function convBnAddRelu(conv: Conv2d, bn: BatchNorm2d | null, x: tf.Tensor, residual: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
  const folded = fusedWeights(conv, bn, x, ctx, residual);
  if (!folded) {
    return tf.tidy(() => {
      // Folding applies but the backend has no one-kernel residual conv: the folded conv, the add, the ReLU.
      if (canFuse(ctx) || !bn) return tf.relu(tf.add(convBnAct(conv, bn, x, ctx, false), residual)) as tf.Tensor4D;
      // Training: batch norm, the residual add and the ReLU in one kernel where the backend has it.
      return bn.forward(conv.forward(x, ctx), ctx, { residual, relu: true });
    });
  }
  const { filter, bias } = folded;
  const inputs: Record<string, tf.Tensor> = { x, filter, residual };
  if (bias) inputs.bias = bias;
  return tf.engine().runKernel(
    CONV2D_ADD_RELU,
    inputs as unknown as NamedTensorMap,
    {
      strides: conv.stride,
      pad: conv.padding,
    } as unknown as NamedAttrMap,
  ) as tf.Tensor4D;
}
