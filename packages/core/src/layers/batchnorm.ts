import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer, assertNHWC } from '../module.js';
import { BatchNormEpilogue, applyEpilogue, batchNormTrain } from '../kernels/batchnorm-train.js';

/** Options of {@link BatchNorm2d}. */
export interface BatchNorm2dOptions {
  /** Added to the variance (PyTorch default 1e-5). */
  eps?: number;
  /** Weight of the new batch in the running averages (PyTorch default 0.1). */
  momentum?: number;
}

/**
 * Batch normalisation over the channel (last) axis, matching `torch.nn.BatchNorm2d`: in train mode
 * it normalises with the batch statistics and updates the running averages (the variance with
 * Bessel's correction); in eval mode it uses the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;
  readonly eps: number;
  readonly momentum: number;
  /**
   * Frozen statistics, for fine-tuning with a frozen part (PyTorch's `bn.eval()` under
   * `model.train()`, Keras' `trainable = false`): normalise with the running statistics and never
   * update them, even in train mode. Gradients still flow through the layer to its input.
   */
  frozenStatistics = false;

  constructor(
    readonly numFeatures: number,
    options: BatchNorm2dOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', tf.ones([numFeatures]));
    this.bias = this.registerParameter('bias', tf.zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', tf.ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  /**
   * The normalised x, then the optional `epilogue` (`relu(y + residual)`): in training one fused
   * kernel does all of it where the backend registers it (see core's `batchNormTrain`); otherwise,
   * and in eval mode, they are separate ops.
   */
  forward(x: tf.Tensor, ctx?: ForwardContext, epilogue?: BatchNormEpilogue): tf.Tensor4D {
    assertNHWC(x, this.numFeatures, `BatchNorm2d(${this.numFeatures})`);
    const { training } = this.context(ctx);
    if (!training || this.frozenStatistics) {
      return tf.tidy(() => {
        const y = tf.batchNorm4d(
          x as tf.Tensor4D,
          this.runningMean as tf.Tensor1D,
          this.runningVar as tf.Tensor1D,
          this.bias as tf.Tensor1D,
          this.weight as tf.Tensor1D,
          this.eps,
        );
        return applyEpilogue(y, epilogue) as tf.Tensor4D;
      });
    }
    // One fused kernel (forward and backward) where the backend registers it, else tf.moments + tf.batchNorm.
    const { y, mean, variance } = batchNormTrain(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps, epilogue);
    this.updateRunningStats(mean, variance, x.size / this.numFeatures);
    mean.dispose();
    variance.dispose();
    return y as tf.Tensor4D;
  }

  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    tf.tidy(() => {
      const m = this.momentum;
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(unbiased, m)));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
    });
  }

  describe(input: Shape, tracer: Tracer): Shape {
    tracer.record({ type: 'BatchNorm2d', inputShape: input, outputShape: input, params: 2 * this.numFeatures, macs: 0 });
    return input;
  }
}
