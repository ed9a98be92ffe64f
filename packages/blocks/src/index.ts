/**
 * @resnet-ts/blocks: the paper's two block types, registered with core on import.
 * - `basic`: 3x3 conv, BN, ReLU, 3x3 conv, BN (+ shortcut), ReLU. Expansion 1 (ResNet-18/34, CIFAR nets).
 * - `bottleneck`: 1x1 reduce, 3x3, 1x1 expand x4 (ResNet-50/101/152). The stride sits on the 3x3
 *   (`v1.5`, torchvision) or on the first 1x1 (`v1`, the paper).
 * - `preact-basic` (./preact.ts): the pre-activation basic block of He et al. 2016.
 * Each is residual or plain (`residual: false`: the same layers, no shortcut). Every block class
 * registers its graph (ONNX) exporter next to itself with core's `registerGraphExporter`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  BlockOptions,
  Conv2d,
  ForwardContext,
  GraphEmitter,
  Module,
  ResidualBlock,
  Shape,
  Tracer,
  convBnAct,
  convBnAddRelu,
  getShortcut,
  registerBlock,
  registerGraphExporter,
} from '@resnet-ts/core';

/** A conv followed (when enabled) by batch norm, named `convK` / `bnK` as torchvision does. */
interface ConvUnit {
  conv: Conv2d;
  bn: BatchNorm2d | null;
}

abstract class ConvStackBlock extends ResidualBlock {
  protected readonly units: ConvUnit[] = [];

  constructor(o: BlockOptions, outChannels: number) {
    super(o.inChannels, outChannels, o.stride, o.residual);
  }

  /** Adds conv `convK` (k x k, the given stride) and, with batch norm, `bnK`, as torchvision names them. */
  protected addUnit(index: number, inC: number, outC: number, k: number, stride: number, o: BlockOptions): void {
    const conv = this.registerModule(`conv${index}`, new Conv2d(inC, outC, k, { stride, padding: (k - 1) / 2, rng: o.rng, bias: !o.batchNorm }));
    const bn = o.batchNorm ? this.registerModule(`bn${index}`, new BatchNorm2d(outC)) : null;
    this.units.push({ conv, bn });
  }

  /** Adds the shortcut (after the convs, so state-dict order matches torchvision) and zero-init. */
  protected finish(o: BlockOptions): void {
    if (o.residual) {
      this.setShortcut(
        getShortcut(o.shortcut).create({
          params: o.shortcutParams ?? {},
          inChannels: o.inChannels,
          outChannels: this.outChannels,
          stride: o.stride,
          batchNorm: o.batchNorm,
          rng: o.rng,
        }),
      );
    }
    if (o.zeroInitResidual) {
      const last = this.units[this.units.length - 1];
      const target = last.bn ? last.bn.weight : last.conv.weight;
      tf.tidy(() => target.assign(tf.zerosLike(target))); // tidy: the zeros tensor is not kept by assign
    }
  }

  /** conv, bn, relu per unit (no relu after the last); in eval mode each unit is one fused conv (core's convBnAct). */
  branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let y = x;
      this.units.forEach((u, i) => {
        y = convBnAct(u.conv, u.bn, y, ctx, i < this.units.length - 1);
      });
      return y;
    });
  }

  /**
   * At branch scale 1 with a shortcut: the last unit's conv + bn, the residual add and the ReLU go
   * through core's `convBnAddRelu` (one fused kernel where fusion applies); the default combine
   * `relu(f + s)` is what it computes. Otherwise core's default.
   */
  protected override residualForward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!this.residual || this.branchScale !== 1) return super.residualForward(x, ctx);
    return tf.tidy(() => {
      const residual = this.shortcut(x, ctx);
      let y = x;
      const last = this.units.length - 1;
      this.units.forEach((u, i) => {
        y = i < last ? convBnAct(u.conv, u.bn, y, ctx, true) : convBnAddRelu(u.conv, u.bn, y, residual, ctx);
      });
      return y;
    });
  }

  /** The block in an export graph: units as Conv (+ folded or separate BN) and Relu, then core's residual combine. */
  emitGraph(g: GraphEmitter, path: string, x: string): string {
    return this.emitResidual(g, path, x, {
      shortcut: () => this.shortcutGraph(g, path, x),
      branch: () => {
        let y = x;
        this.units.forEach((u, i) => {
          y = g.conv(`${path}.conv${i + 1}`, u.conv, u.bn, y, `${path}.bn${i + 1}`);
          if (i < this.units.length - 1) y = g.node('Relu', `${path}.relu${i + 1}`, [y]);
        });
        return y;
      },
    });
  }

  describeBranch(input: Shape, tracer: Tracer): Shape {
    let s = input;
    this.units.forEach((u, i) => {
      s = u.conv.describe(s, tracer.scope(`conv${i + 1}`));
      if (u.bn) s = u.bn.describe(s, tracer.scope(`bn${i + 1}`));
    });
    return s;
  }
}

/** Two 3x3 convs (He et al. Fig. 2 left). */
export class BasicBlock extends ConvStackBlock {
  static readonly expansion = 1;
  constructor(o: BlockOptions) {
    super(o, o.width * BasicBlock.expansion);
    this.addUnit(1, o.inChannels, o.width, 3, o.stride, o);
    this.addUnit(2, o.width, o.width, 3, 1, o);
    this.finish(o);
  }
}

/** 1x1 reduce, 3x3, 1x1 expand to 4x width (He et al. Fig. 5 right). */
export class Bottleneck extends ConvStackBlock {
  static readonly expansion = 4;
  constructor(o: BlockOptions) {
    super(o, o.width * Bottleneck.expansion);
    const strideFirst = o.strideMode === 'v1';
    this.addUnit(1, o.inChannels, o.width, 1, strideFirst ? o.stride : 1, o);
    this.addUnit(2, o.width, o.width, 3, strideFirst ? 1 : o.stride, o);
    this.addUnit(3, o.width, o.width * Bottleneck.expansion, 1, 1, o);
    this.finish(o);
  }
}

// Both train exactly as their graph says (batch norms on batch statistics): compiled training plans may run them.
registerGraphExporter(BasicBlock, (g, block, path, x) => block.emitGraph(g, path, x), { sameInTraining: true });
registerGraphExporter(Bottleneck, (g, block, path, x) => block.emitGraph(g, path, x), { sameInTraining: true });

registerBlock('basic', {
  description: 'two 3x3 convs (ResNet-18/34, CIFAR ResNets)',
  expansion: BasicBlock.expansion,
  create: (o) => new BasicBlock(o),
});
registerBlock('bottleneck', {
  description: '1x1 reduce, 3x3, 1x1 expand x4 (ResNet-50/101/152)',
  expansion: Bottleneck.expansion,
  create: (o) => new Bottleneck(o),
});

export type { Module };
export { PreActBasicBlock } from './preact.js';
