import * as tf from '@tensorflow/tfjs-core';
import { sgdStep } from '@resnet-ts/core';
import { TrainError } from './errors.js';

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

  /** `params`: named parameters (e.g. `model.namedParameters()`). */
  constructor(params: [string, tf.Variable][], options: SGDOptions = {}) {
    this.lr = options.lr ?? 0.1;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.decay = options.decay ?? 'all';
    this.lrScale = { ...options.lrScale };
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new TrainError('Nesterov momentum requires a momentum > 0 and zero dampening (as in PyTorch).', 'OPTIONS');
    }
    this.params = new Map(params);
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
      if (t.size !== p.size)
        throw new TrainError(`Momentum buffer '${name}' has ${t.size} values; the parameter has ${p.size}.`, 'CHECKPOINT');
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
