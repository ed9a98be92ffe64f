import * as tf from '@tensorflow/tfjs-core';
import { didYouMean, sgdStep } from '@resnet-ts/core';
import { TrainError } from './errors.js';
import { checkNumber, checkSGDOptions } from './option-checks.js';

/** Options of {@link SGD}, as `torch.optim.SGD`. */
export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /**
   * Which parameters get weight decay: 'all' (default, as the paper) or 'no-bn-bias' (skip 1-D
   * parameters: batch-norm gammas/betas and biases).
   */
  decay?: 'all' | 'no-bn-bias';
  /** Per-parameter factors on the learning rate, by name (e.g. a head trained 10x faster); default 1. */
  lrScale?: Record<string, number>;
}

/**
 * Stochastic gradient descent with momentum and weight decay, computed exactly as
 * `torch.optim.SGD`: d = g + wd*w; buf = momentum*buf + (1-dampening)*d (buf = d on the first
 * step); with nesterov d = d + momentum*buf, else d = buf; w -= lr*d.
 */
export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly decay: 'all' | 'no-bn-bias';
  readonly lrScale: Readonly<Record<string, number>>;
  private readonly params: Map<string, tf.Variable>;
  private readonly buffers = new Map<string, tf.Variable>();

  /**
   * `params`: named parameters (e.g. `model.namedParameters()`). Options `torch.optim.SGD` refuses
   * (a negative or non-finite lr, momentum or weight decay; Nesterov without momentum), an unknown
   * `decay`, and an `lrScale` naming no parameter are a `TrainError` (code 'OPTIONS').
   */
  constructor(params: [string, tf.Variable][], options: SGDOptions = {}) {
    checkSGDOptions(options);
    this.lr = options.lr ?? 0.1;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.decay = options.decay ?? 'all';
    this.params = new Map(params);
    this.lrScale = { ...options.lrScale };
    for (const [name, f] of Object.entries(this.lrScale)) {
      if (!this.params.has(name))
        throw new TrainError(
          `lrScale names '${name}', which is none of the ${this.params.size} parameters${didYouMean(name, this.params.keys())}: give parameter names as namedParameters() lists them.`,
          'OPTIONS',
        );
      checkNumber(`lrScale['${name}']`, f, { min: 0 }, 'give a factor on the learning rate such as 10, or 0 to hold the parameter');
    }
  }

  private decays(name: string, p: tf.Variable): boolean {
    return this.weightDecay !== 0 && (this.decay === 'all' || p.rank > 1);
  }

  /**
   * Applies one update from gradients keyed by parameter name (or by variable name, as
   * `tf.variableGrads` returns them). Runs inside its own `tf.tidy`.
   */
  step(grads: Record<string, tf.Tensor> | Map<string, tf.Tensor>, lr = this.lr): void {
    const byName = grads instanceof Map ? grads : new Map(Object.entries(grads));
    checkNumber('lr', lr, { min: 0 }, 'give e.g. 0.1 (a negative rate climbs the loss)');
    this.checkGrads(byName);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = byName.get(name) ?? byName.get(p.name);
        if (!g) continue;
        const buf = this.buffers.get(name) ?? null;
        const next = sgdStep(p, g, buf, {
          lr: lr * (this.lrScale[name] ?? 1),
          momentum: this.momentum,
          dampening: this.dampening,
          weightDecay: this.decays(name, p) ? this.weightDecay : 0,
          nesterov: this.nesterov,
        });
        if (next.buf && buf) buf.assign(next.buf);
        else if (next.buf) this.buffers.set(name, tf.variable(next.buf, false, undefined, 'float32'));
        p.assign(next.param);
      }
    });
  }

  /**
   * Refuses gradients that would silently do nothing or the wrong thing: a name that is neither a
   * parameter's nor its variable's, or a shape other than the parameter's.
   */
  private checkGrads(byName: Map<string, tf.Tensor>): void {
    if (byName.size === 0 && this.params.size > 0)
      throw new TrainError('SGD.step got no gradients: give one per parameter to update, by name.', 'OPTIONS');
    const names = new Map<string, string>();
    for (const [name, p] of this.params) names.set(name, name).set(p.name, name);
    for (const [key, g] of byName) {
      const name = names.get(key);
      if (name === undefined)
        throw new TrainError(
          `SGD.step got a gradient for '${key}', which is none of its ${this.params.size} parameters${didYouMean(key, this.params.keys())}: key gradients by parameter name (or variable name, as tf.variableGrads does).`,
          'OPTIONS',
        );
      const p = this.params.get(name)!;
      if (!sameShape(g.shape, p.shape))
        throw new TrainError(
          `SGD.step got a gradient of shape [${g.shape}] for '${name}', whose shape is [${p.shape}]: give each gradient its parameter's shape.`,
          'OPTIONS',
        );
    }
  }

  /** The momentum buffers by parameter name (copies the caller owns). Absent before the first step. */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, buf] of this.buffers) out.set(name, tf.clone(buf));
    return out;
  }

  /** Restores momentum buffers saved by {@link SGD.stateDict}. */
  loadStateDict(state: Map<string, tf.Tensor>): void {
    for (const [name, t] of state) {
      const p = this.params.get(name);
      if (!p) throw new TrainError(`Optimizer state has a momentum buffer for '${name}', which the model does not have.`, 'CHECKPOINT');
      // Same size is not enough: a PyTorch-layout (OIHW) buffer of an HWIO kernel would be reshaped into nonsense.
      if (!sameShape(t.shape, p.shape))
        throw new TrainError(
          `Momentum buffer '${name}' has shape [${t.shape}]; the parameter's is [${p.shape}]: give buffers in the parameters' layout (as stateDict() returns them).`,
          'CHECKPOINT',
        );
      const v = tf.tidy(() => tf.reshape(t, p.shape));
      const old = this.buffers.get(name);
      if (old) {
        old.assign(v);
        v.dispose();
      } else {
        this.buffers.set(name, tf.variable(v, false));
        v.dispose();
      }
    }
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
