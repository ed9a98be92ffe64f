import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer } from './module.js';
import { ShapeError, fmtShape } from './errors.js';
import { canFuse } from './layers/fuse.js';

/**
 * The common shape of every block: `out = relu(branch(x) + shortcut(x))`, or `relu(branch(x))` for
 * a plain block. Subclasses (in @resnet-ts/blocks) define the branch. The shortcut module, when
 * there is one, is the child `downsample` (torchvision's name).
 *
 * The hooks used by the lab's experiments live here so they work for any block type:
 * - `branchEnabled = false` deletes the residual branch at test time (Veit et al.'s lesion):
 *   the block then computes `relu(shortcut(x))`; a plain block becomes the identity where shapes allow.
 * - `branchScale` multiplies the branch output (1 by default), e.g. 0 to silence it while keeping
 *   the graph, or a gate for path sampling.
 */
export abstract class ResidualBlock extends Module {
  branchEnabled = true;
  branchScale: number | tf.Tensor = 1;
  /** The shortcut module (`downsample`), or null for an identity shortcut / a plain block. */
  protected downsample: Module | null = null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
    readonly residual: boolean,
  ) {
    super();
  }

  /** Registers the shortcut module as `downsample` (null means identity). */
  protected setShortcut(module: Module | null): void {
    this.downsample = module ? this.registerModule('downsample', module) : null;
  }

  /** The residual branch F(x) (without the final ReLU). */
  abstract branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
  /** Describes the branch for summaries; returns its output shape. */
  abstract describeBranch(input: Shape, tracer: Tracer): Shape;

  /** The shortcut path: projection/padding when there is one, else x itself. */
  shortcut(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.downsample ? this.downsample.forward(x, ctx) : x;
  }

  /** Whether the shortcut is a plain identity (no module). */
  get hasIdentityShortcut(): boolean {
    return this.downsample === null;
  }

  forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor {
    const c = this.context(ctx);
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(`${this.typeName} expects [batch, h, w, ${this.inChannels}]; got ${fmtShape(x.shape)}.`);
    }
    return tf.tidy(() => {
      if (!this.branchEnabled) return this.lesioned(x, c);
      // Eval-mode fusion: the block may run its last conv, the add and the ReLU as one kernel.
      if (this.residual && this.branchScale === 1 && canFuse(c)) return this.branchAddRelu(x, this.shortcut(x, c), c);
      let f = this.branch(x, c);
      if (this.branchScale !== 1) f = tf.mul(f, this.branchScale);
      if (!this.residual) return tf.relu(f);
      return tf.relu(tf.add(f, this.shortcut(x, c)));
    });
  }

  /**
   * `relu(branch(x) + residual)`. Used in eval mode (see core's `canFuse`) so that a block can fuse
   * its last conv with the add and the ReLU (the blocks package's conv stacks do, via `convBnAddRelu`);
   * this default computes it plainly.
   */
  protected branchAddRelu(x: tf.Tensor, residual: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => tf.relu(tf.add(this.branch(x, ctx), residual)));
  }

  /** The block with its branch deleted. */
  private lesioned(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.residual) return tf.relu(this.shortcut(x, ctx));
    if (this.stride === 1 && this.inChannels === this.outChannels) return tf.clone(x);
    throw new ShapeError(
      `Cannot delete plain block ${this.typeName}(${this.inChannels}->${this.outChannels}, stride ${this.stride}): ` +
        'it changes the shape and has no shortcut to fall back on.',
    );
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const out = this.describeBranch(input, tracer);
    if (this.residual && this.downsample) this.downsample.describe(input, tracer.scope('downsample'));
    return out;
  }
}
