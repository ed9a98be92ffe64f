/**
 * The pre-activation basic block of He et al. 2016, "Identity Mappings in Deep Residual Networks"
 * (Fig. 1(b), Fig. 4(e) "full pre-activation"), registered as `preact-basic`:
 *
 *     h   = relu(bn1(x))                         the pre-activation
 *     f   = conv2(relu(bn2(conv1(h))))           3x3 convs, the stride on conv1
 *     out = f + shortcut                         the sum is NOT activated
 *
 * The shortcut is `x` itself where the shape is unchanged; where the spec's shortcut option builds a
 * module (a projection, option A's padding, option D's pooled projection), that module takes the
 * pre-activated `h`, as kuangliu's PreActBlock and timm's PreActBasic do (bearpaw's preresnet.py and
 * He's Torch code feed the raw `x` to all but the first projection: a different network). The net
 * around it needs `stemNorm: 'none'` and `finalNorm: 'bn-relu'` (the zoo's `preact-*` entries set
 * both): the first block normalises the stem's output, the final BN-ReLU the last block's sum.
 *
 * State-dict names: `bn1` (over the input channels), `conv1`, `bn2`, `conv2`, `downsample` as in the
 * common PyTorch pre-activation code. In eval mode conv1, bn2 and the ReLU run as one fused conv
 * (core's `convBnAct`); `zeroInitResidual` zeroes conv2's filter (timm's `zero_init_last`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  BlockOptions,
  Conv2d,
  ForwardContext,
  GraphEmitter,
  ResidualBlock,
  Shape,
  Tracer,
  convBnAct,
  getShortcut,
  registerBlock,
  registerGraphExporter,
} from '@resnet-ts/core';

/** BN-ReLU-conv x2 with an unactivated addition (He et al. 2016). Expansion 1. */
export class PreActBasicBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly bn1: BatchNorm2d | null;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d | null;
  readonly conv2: Conv2d;

  constructor(o: BlockOptions) {
    super(o.inChannels, o.width * PreActBasicBlock.expansion, o.stride, o.residual);
    const conv = (inC: number, stride: number) => new Conv2d(inC, o.width, 3, { stride, padding: 1, rng: o.rng, bias: !o.batchNorm });
    this.bn1 = o.batchNorm ? this.registerModule('bn1', new BatchNorm2d(o.inChannels)) : null;
    this.conv1 = this.registerModule('conv1', conv(o.inChannels, o.stride));
    this.bn2 = o.batchNorm ? this.registerModule('bn2', new BatchNorm2d(o.width)) : null;
    this.conv2 = this.registerModule('conv2', conv(o.width, 1));
    if (o.residual) {
      const { inChannels, stride, batchNorm, rng } = o;
      this.setShortcut(getShortcut(o.shortcut).create({ params: o.shortcutParams ?? {}, inChannels, outChannels: this.outChannels, stride, batchNorm, rng }));
    }
    if (o.zeroInitResidual) tf.tidy(() => this.conv2.weight.assign(tf.zerosLike(this.conv2.weight)));
  }

  /** `relu(bn1(x))`: what the branch and a shortcut module see. */
  private preActivate(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => tf.relu(this.bn1 ? this.bn1.forward(x, ctx) : x));
  }

  /** conv1 + bn2 + ReLU (one fused conv in eval mode), then conv2. */
  private branchFrom(h: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => convBnAct(this.conv2, null, convBnAct(this.conv1, this.bn2, h, ctx, true), ctx, false));
  }

  branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => this.branchFrom(this.preActivate(x, ctx), ctx));
  }

  override shortcut(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.downsample ? tf.tidy(() => this.downsample!.forward(this.preActivate(x, ctx), ctx)) : x;
  }

  /** `f + s`, unactivated; a lone `f` or `s` passes through unchanged. */
  override combine(f: tf.Tensor | null, s: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => (f && s ? tf.add(f, s) : tf.clone((f ?? s)!)));
  }

  override combineGraph(g: GraphEmitter, path: string, f: string | null, s: string | null): string {
    return f && s ? g.node('Add', `${path}.add`, [f, s]) : (f ?? s)!;
  }

  /** The pre-activation computed once for branch and shortcut (its batch norm updates its statistics once per step). */
  protected override residualForward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      const h = this.preActivate(x, ctx);
      const s = this.residual ? (this.downsample ? this.downsample.forward(h, ctx) : x) : null;
      return this.combine(this.scaleBranch(this.branchFrom(h, ctx)), s);
    });
  }

  /** The block in an export graph: BatchNormalization + Relu once, shared by the branch and a shortcut module. */
  emitGraph(g: GraphEmitter, path: string, x: string): string {
    let h: string | undefined;
    const pre = () => (h ??= g.node('Relu', `${path}.relu1`, [this.bn1 ? g.batchNorm(`${path}.bn1`, this.bn1, x) : x]));
    return this.emitResidual(g, path, x, {
      shortcut: () => this.shortcutGraph(g, path, x, this.downsample ? pre() : x),
      branch: () => {
        const y = g.node('Relu', `${path}.relu2`, [g.conv(`${path}.conv1`, this.conv1, this.bn2, pre(), `${path}.bn2`)]);
        return g.conv(`${path}.conv2`, this.conv2, null, y);
      },
    });
  }

  describeBranch(input: Shape, tracer: Tracer): Shape {
    let s = this.bn1 ? this.bn1.describe(input, tracer.scope('bn1')) : input;
    s = this.conv1.describe(s, tracer.scope('conv1'));
    if (this.bn2) s = this.bn2.describe(s, tracer.scope('bn2'));
    return this.conv2.describe(s, tracer.scope('conv2'));
  }
}

// The same in training as the graph says (batch norms on batch statistics): compiled training plans may run it.
registerGraphExporter(PreActBasicBlock, (g, block, path, x) => block.emitGraph(g, path, x), { sameInTraining: true });
registerBlock('preact-basic', {
  description: 'pre-activation basic block: BN-ReLU-conv x2, sum not activated (He et al. 2016)',
  expansion: PreActBasicBlock.expansion,
  create: (o) => new PreActBasicBlock(o),
  networkNorms: { stemNorm: 'none', finalNorm: 'bn-relu' },
});
