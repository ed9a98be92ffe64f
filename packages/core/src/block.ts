import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer } from './module.js';
import { ShapeError, fmtShape } from './errors.js';
import type { GraphEmitter } from './graph-export.js';

/**
 * The common shape of every block: `out = combine(branch(x), shortcut(x))`, where `combine` is
 * `relu(f + s)` by default (He et al. 2015) and a block may define its own (a pre-activation block
 * leaves the sum unactivated: He et al. 2016). A plain block has no shortcut: `combine(f, null)`.
 * Subclasses (in @resnet-ts/blocks, or your own) define the branch. The shortcut module, when there
 * is one, is the child `downsample` (torchvision's name).
 *
 * The hooks used by the lab's experiments live here so they work for any block type:
 * - `branchEnabled = false` deletes the residual branch at test time (Veit et al.'s lesion):
 *   the block then computes `combine(null, shortcut(x))` (`relu(shortcut(x))` by default); a plain
 *   block becomes the identity where shapes allow.
 * - `branchScale` multiplies the branch output (1 by default), e.g. 0 to silence it while keeping
 *   the graph, or a gate for path sampling.
 *
 * Eval-mode fusion is not decided here: a block's {@link ResidualBlock.residualForward} may run
 * through core's fusing helpers (`convBnAct`, `convBnAddRelu`), which decide in one place.
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

  /** The residual branch F(x) of the block input x (before {@link ResidualBlock.combine}). */
  abstract branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
  /** Describes the branch for summaries; returns its output shape. */
  abstract describeBranch(input: Shape, tracer: Tracer): Shape;

  /** The shortcut path of the block input x: projection/padding when there is one, else x itself. */
  shortcut(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.downsample ? this.downsample.forward(x, ctx) : x;
  }

  /** Whether the shortcut is a plain identity (no module). */
  get hasIdentityShortcut(): boolean {
    return this.downsample === null;
  }

  /**
   * How the branch `f` and the shortcut `s` make the block's output; either may be null (a plain
   * block has no shortcut, a lesioned block no branch), never both. Default `relu(f + s)`.
   * A block that overrides this overrides {@link ResidualBlock.combineGraph} to match.
   */
  combine(f: tf.Tensor | null, s: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => tf.relu(f && s ? tf.add(f, s) : (f ?? s)!));
  }

  /** {@link ResidualBlock.combine} written into an export graph (value names instead of tensors). */
  combineGraph(g: GraphEmitter, path: string, f: string | null, s: string | null): string {
    const sum = f && s ? g.node('Add', `${path}.add`, [f, s]) : (f ?? s)!;
    return g.node('Relu', `${path}.relu`, [sum]);
  }

  /** `f * branchScale` (f itself at the default scale 1). */
  protected scaleBranch(f: tf.Tensor): tf.Tensor {
    return this.branchScale === 1 ? f : tf.mul(f, this.branchScale);
  }

  /**
   * The block's output with its branch enabled: `combine(branch(x) * branchScale, shortcut(x))`.
   * A block overrides this for a fused inference form (e.g. the last conv, the add and the ReLU as
   * one kernel) or to share work between branch and shortcut; it must give the same values.
   */
  protected residualForward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const f = this.scaleBranch(this.branch(x, ctx));
    const s = this.residual ? this.shortcut(x, ctx) : null;
    if (s) this.assertSameShape(f.shape, s.shape);
    return this.combine(f, s);
  }

  /** Branch and shortcut must have one shape: `tf.add` would broadcast a 1-channel branch over all channels. */
  private assertSameShape(branch: readonly number[], shortcut: readonly number[]): void {
    if (tf.util.arraysEqual(branch as number[], shortcut as number[])) return;
    throw new ShapeError(
      `${this.typeName}(${this.inChannels}->${this.outChannels}, stride ${this.stride}): its branch gives ${fmtShape(branch)} but its shortcut ` +
        `${fmtShape(shortcut)}; they are added, so they must have one shape (a branch ends with ${this.outChannels} channels at the shortcut's size).`,
    );
  }

  forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor {
    const c = this.context(ctx);
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(`${this.typeName} expects [batch, h, w, ${this.inChannels}]; got ${fmtShape(x.shape)}.`);
    }
    return tf.tidy(() => (this.branchEnabled ? this.residualForward(x, c) : this.lesioned(x, c)));
  }

  /** The block with its branch deleted. */
  private lesioned(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.residual) return this.combine(null, this.shortcut(x, ctx));
    this.assertDeletable();
    return tf.clone(x);
  }

  private assertDeletable(): void {
    if (this.stride === 1 && this.inChannels === this.outChannels) return;
    throw new ShapeError(
      `Cannot delete plain block ${this.typeName}(${this.inChannels}->${this.outChannels}, stride ${this.stride}): ` +
        'it changes the shape and has no shortcut to fall back on.',
    );
  }

  /**
   * Writes the block into an export graph the way {@link ResidualBlock.forward} computes it:
   * `branchEnabled`, `branchScale` and {@link ResidualBlock.combineGraph} applied here, the parts
   * given by the block's registered exporter. `shortcut` emits the shortcut's value (called only
   * for residual blocks); `branch` emits F (called only when the branch is enabled).
   */
  emitResidual(g: GraphEmitter, path: string, x: string, parts: { shortcut: () => string; branch: () => string }): string {
    const s = this.residual ? parts.shortcut() : null;
    if (!this.branchEnabled) {
      if (s) return this.combineGraph(g, path, null, s);
      this.assertDeletable();
      return x;
    }
    let f = parts.branch();
    if (this.branchScale !== 1) {
      if (typeof this.branchScale !== 'number') {
        throw new ShapeError(`Block '${path}' has a tensor branchScale; graph export supports numbers only.`);
      }
      f = g.node('Mul', `${path}.scale`, [f, g.floatConstant(`${path}.branch_scale`, Float32Array.of(this.branchScale), [])]);
    }
    return this.combineGraph(g, path, f, s);
  }

  /** The shortcut's graph value: the `downsample` module emitted from `input`, or `x` for an identity. */
  protected shortcutGraph(g: GraphEmitter, path: string, x: string, input = x): string {
    return this.downsample ? g.module(`${path}.downsample`, this.downsample, input) : x;
  }

  describe(input: Shape, tracer: Tracer): Shape {
    const out = this.describeBranch(input, tracer);
    if (this.residual) {
      const shortcut = this.downsample ? this.downsample.describe(input, tracer.scope('downsample')) : input;
      this.assertSameShape(out, shortcut);
    }
    return out;
  }
}
