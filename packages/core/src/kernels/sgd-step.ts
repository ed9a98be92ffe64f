/**
 * One `torch.optim.SGD` update of one parameter as ONE kernel: `ResnetSgdStep`. The tfjs ops it
 * replaces are ~6 small kernels per parameter (plus their scalars), which on a fast engine cost more
 * in dispatch than in arithmetic (ResNet-20: ~65 parameters, ~400 kernel calls per step).
 *
 * A backend that wants the speed registers the kernel under this name (the `native` engine of
 * @resnet-ts/backend-node does); everywhere else {@link sgdStep} runs the same float32 operations as
 * separate tfjs ops, in the same order, so both give the same bits.
 *
 * Kernel contract (float32; param, grad and buf of one shape):
 * `ResnetSgdStep({param, grad, buf?}, {lr, momentum, dampening, weightDecay, nesterov})` ->
 * [param'] without momentum, [param', buf'] with it (buf' = d when no `buf` is given: the first step).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';

/** Kernel name of the fused SGD update. */
export const SGD_STEP = 'ResnetSgdStep';

/** The hyperparameters of one update, as `torch.optim.SGD` names them. */
export interface SgdStepOptions {
  /** Learning rate (any per-parameter factor already applied). */
  lr: number;
  momentum?: number;
  dampening?: number;
  /** L2 penalty added to the gradient (0 for a parameter that is not decayed). */
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * `torch.optim.SGD`'s update of one parameter: d = g + weightDecay*p; with momentum,
 * buf = momentum*buf + (1-dampening)*d (buf = d on the first step, when `buf` is null) and
 * d = nesterov ? d + momentum*buf : buf; then p - lr*d. Returns the new parameter and the new
 * momentum buffer (null without momentum); the caller assigns them. One fused kernel where the
 * backend has it, else tfjs ops with the same bits.
 */
export function sgdStep(
  param: tf.Tensor,
  grad: tf.Tensor,
  buf: tf.Tensor | null,
  options: SgdStepOptions,
): { param: tf.Tensor; buf: tf.Tensor | null } {
  const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = options;
  const sameShape = (t: tf.Tensor | null): boolean => t == null || (t.dtype === 'float32' && tf.util.arraysEqual(t.shape, param.shape));
  if (tf.getKernel(SGD_STEP, tf.getBackend()) != null && param.dtype === 'float32' && sameShape(grad) && sameShape(buf)) {
    const inputs = buf && momentum !== 0 ? { param, grad, buf } : { param, grad };
    const outs = tf.engine().runKernel(
      SGD_STEP,
      inputs as unknown as NamedTensorMap,
      {
        lr,
        momentum,
        dampening,
        weightDecay,
        nesterov,
      } as unknown as NamedAttrMap,
    ) as tf.Tensor[];
    return { param: outs[0], buf: momentum !== 0 ? outs[1] : null };
  }
  const [nextParam, nextBuf] = tf.tidy(() => {
    let d: tf.Tensor = grad;
    if (weightDecay !== 0) d = tf.add(d, tf.mul(param, weightDecay));
    if (momentum === 0) return [tf.sub(param, tf.mul(d, lr))];
    const b = buf ? tf.add(tf.mul(buf, momentum), dampening === 0 ? d : tf.mul(d, 1 - dampening)) : tf.clone(d);
    d = nesterov ? tf.add(d, tf.mul(b, momentum)) : b;
    return [tf.sub(param, tf.mul(d, lr)), b];
  });
  return { param: nextParam, buf: nextBuf ?? null };
}
