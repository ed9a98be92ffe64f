import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Module, Shape, Tracer, assertNHWC, LayerRow } from './module.js';
import { Conv2d } from './layers/conv2d.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { GlobalAvgPool, Identity, Linear, MaxPool2d, ReLU, Sequential, forwardSequence } from './layers/simple.js';
import { Rng } from './rng.js';
import { SpecError, fmtValue } from './errors.js';
import { didYouMean } from './closest-names.js';
import { ShortcutParams, StrideMode, getBlock, getShortcut } from './registry.js';
import { ResidualBlock } from './block.js';
import { clearInferencePlans, compiledForward } from './inference-plan.js';
import { clearTrainingPlans, compiledTrainingForward } from './training-plan.js';
import { assertBatchStatisticsFor } from './batch-statistics.js';

/** One stage (torchvision's `layerN`): `depth` blocks of the same type and width. */
export interface StageSpec {
  /** Registered block name: 'basic' | 'bottleneck' | your own. */
  block: string;
  /** Base width; the stage outputs width * expansion channels. */
  width: number;
  /** Number of blocks. */
  depth: number;
  /** Stride of the stage's first block. */
  stride: number;
}

/** Everything needed to build a ResNet (or its plain counterpart). */
export interface ResNetSpec {
  /** `imagenet`: 7x7/2 conv + 3x3/2 max pool. `cifar`: one 3x3/1 conv. */
  stem: 'imagenet' | 'cifar';
  /** Channels of the stem conv (default 64 for imagenet, 16 for cifar). */
  stemWidth?: number;
  stages: StageSpec[];
  /** Registered shortcut option: 'A' (zero-pad identity), 'B' (project on shape change), 'C' (always project). */
  shortcut: string;
  /**
   * Parameters of the shortcut option, handed to its factory. Option A takes `padding`: 'after'
   * (default: the new zero channels follow the identity channels) or 'split' (half before, half
   * after, as the common PyTorch CIFAR code pads).
   */
  shortcutParams?: ShortcutParams;
  /** False builds the plain net: the same layers without shortcuts. Default true. */
  residual?: boolean;
  numClasses: number;
  /** Input channels (3 for RGB, 1 for grayscale). Default 3. */
  inChannels?: number;
  /** Default input size [h, w] for summaries (224 for imagenet, 32 for cifar). */
  inputSize?: [number, number];
  /** Bottleneck stride placement. Default 'v1.5' (torchvision). */
  strideMode?: StrideMode;
  /** Zero-init the last BN gamma of every residual branch (torchvision's zero_init_residual). */
  zeroInitResidual?: boolean;
  /** Batch norm after every conv (default true); false is for studying what BN hides. */
  batchNorm?: boolean;
  /**
   * What follows the stem conv: `bn-relu` (default: batch norm and ReLU, He et al. 2015) or `none`
   * (the bare conv: pre-activation nets, whose first block normalises its own input).
   */
  stemNorm?: NormPlacement;
  /**
   * What follows the last stage, before global pooling: `none` (default) or `bn-relu`, the final
   * batch norm and ReLU of pre-activation nets (He et al. 2016). The batch norm is the child `bn`
   * (state-dict keys `bn.weight`, `bn.bias`, `bn.running_mean`, ... as in the common PyTorch
   * pre-activation code); with `batchNorm: false` only the ReLU remains.
   */
  finalNorm?: NormPlacement;
  /** Seed of the initialiser (default 0). */
  seed?: number;
}

/** Batch norm + ReLU at a place in the network (`bn-relu`), or nothing there (`none`). */
export type NormPlacement = 'bn-relu' | 'none';

const NORM_PLACEMENTS: readonly NormPlacement[] = ['bn-relu', 'none'];
const STRIDE_MODES: readonly StrideMode[] = ['v1', 'v1.5'];
/** The largest seed: the initialiser's state is 32-bit, so larger seeds would repeat smaller ones. */
const MAX_SEED = 2 ** 32 - 1;

/** `value` if it is one of `choices`, `fallback` if undefined; else a {@link SpecError} naming the valid ones. */
function oneOf<T extends string>(value: unknown, field: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) {
    throw new SpecError(`spec.${field} must be ${choices.map((c) => `'${c}'`).join(' or ')}; got ${fmtValue(value)}.`);
  }
  return value as T;
}

function flag(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new SpecError(`spec.${field} must be true or false; got ${fmtValue(value)}.`);
  return value;
}

function positiveInt(value: unknown, field: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < 1) throw new SpecError(`spec.${field} must be a positive integer; got ${fmtValue(value)}.`);
  return value as number;
}

/** `value` as [height, width] of positive integers (`fallback` when absent); a SpecError naming `what` otherwise. */
function inputSizeOf(value: unknown, fallback: [number, number], what = 'spec.inputSize'): [number, number] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length !== 2 || !value.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new SpecError(`${what} must be [height, width] of positive integers; got ${fmtValue(value)}.`);
  }
  return [value[0], value[1]];
}

function seedOf(value: unknown): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_SEED) {
    throw new SpecError(`spec.seed must be a whole number from 0 to ${MAX_SEED}; got ${fmtValue(value)}.`);
  }
  return value as number;
}

/** A spec with every default filled in. */
export type ResolvedSpec = Required<ResNetSpec>;

/** The fields of a {@link ResNetSpec} and of a stage: any other is a typo that would be ignored. */
const SPEC_KEYS: readonly string[] = [
  'stem', 'stemWidth', 'stages', 'shortcut', 'shortcutParams', 'residual', 'numClasses', 'inChannels',
  'inputSize', 'strideMode', 'zeroInitResidual', 'batchNorm', 'stemNorm', 'finalNorm', 'seed',
];
const STAGE_KEYS: readonly string[] = ['block', 'width', 'depth', 'stride'];

/** A SpecError for a key of `value` (an object `what` names) that is none of `known`, with the closest known names. */
function checkSpecKeys(value: object, known: readonly string[], what: string): void {
  const k = Object.keys(value).find((key) => !known.includes(key) && (value as Record<string, unknown>)[key] !== undefined);
  if (k !== undefined)
    throw new SpecError(`${what} has no field '${k}'${didYouMean(k, known)}: it would be ignored. Its fields: ${known.join(', ')}.`);
}

/** Fills defaults and checks a spec, with errors that say which field is wrong (an unknown field too). */
export function resolveSpec(spec: ResNetSpec): ResolvedSpec {
  if (spec && typeof spec === 'object') checkSpecKeys(spec, SPEC_KEYS, 'A ResNet spec');
  if (Array.isArray(spec?.stages)) spec.stages.forEach((st, i) => st && typeof st === 'object' && checkSpecKeys(st, STAGE_KEYS, `Stage ${i} of the spec`));
  if (spec.stem !== 'imagenet' && spec.stem !== 'cifar') {
    throw new SpecError(`spec.stem must be 'imagenet' or 'cifar'; got ${fmtValue(spec.stem)}.`);
  }
  if (!Array.isArray(spec.stages) || spec.stages.length === 0) throw new SpecError('spec.stages must list at least one stage.');
  spec.stages.forEach((s, i) => {
    for (const k of ['width', 'depth', 'stride'] as const) positiveInt(s[k], `stages[${i}].${k}`);
    getBlock(s.block);
  });
  positiveInt(spec.numClasses, 'numClasses');
  const residual = flag(spec.residual, 'residual', true);
  if (residual) getShortcut(spec.shortcut);
  const imagenet = spec.stem === 'imagenet';
  return {
    stem: spec.stem,
    stemWidth: positiveInt(spec.stemWidth, 'stemWidth', imagenet ? 64 : 16),
    stages: spec.stages.map((s) => ({ ...s })),
    shortcut: spec.shortcut,
    shortcutParams: { ...(spec.shortcutParams ?? {}) },
    residual,
    numClasses: spec.numClasses,
    inChannels: positiveInt(spec.inChannels, 'inChannels', 3),
    inputSize: inputSizeOf(spec.inputSize, imagenet ? [224, 224] : [32, 32]),
    strideMode: oneOf(spec.strideMode, 'strideMode', STRIDE_MODES, 'v1.5'),
    zeroInitResidual: flag(spec.zeroInitResidual, 'zeroInitResidual', false),
    batchNorm: flag(spec.batchNorm, 'batchNorm', true),
    stemNorm: oneOf(spec.stemNorm, 'stemNorm', NORM_PLACEMENTS, 'bn-relu'),
    finalNorm: oneOf(spec.finalNorm, 'finalNorm', NORM_PLACEMENTS, 'none'),
    seed: seedOf(spec.seed),
  };
}

/** Output of {@link ResNet.summary}. */
export interface ModelSummary {
  rows: LayerRow[];
  inputShape: Shape;
  outputShape: Shape;
  totalParams: number;
  totalMacs: number;
}

/**
 * A ResNet assembled from a {@link ResNetSpec}, with torchvision's child names (`conv1`, `bn1`,
 * `layer1`..`layerN`, `fc`) so state dicts match torchvision checkpoints; the optional final norm
 * (`finalNorm: 'bn-relu'`) is `bn` (+ a parameter-free `relu_final`).
 */
export class ResNet extends Module {
  readonly spec: ResolvedSpec;
  readonly stem: Module[];
  readonly stages: Sequential[];
  /** The layers between the last stage and the pooling: the final norm, or none. */
  readonly head: Module[];
  readonly pool: GlobalAvgPool;
  readonly fc: Linear;

  /**
   * @param options.initialize false: zeros instead of the seeded random initialisation, for a model
   *   whose every weight is loaded right after (strict loading); much faster for large models.
   */
  constructor(spec: ResNetSpec, options: { initialize?: boolean } = {}) {
    super();
    this.spec = resolveSpec(spec);
    const s = this.spec;
    const rng = options.initialize === false ? Rng.placeholder() : new Rng(s.seed);
    const imagenet = s.stem === 'imagenet';
    const conv1 = new Conv2d(s.inChannels, s.stemWidth, imagenet ? 7 : 3, { stride: imagenet ? 2 : 1, padding: imagenet ? 3 : 1, rng });
    this.stem = [this.registerModule('conv1', conv1)];
    if (s.stemNorm === 'bn-relu') {
      if (s.batchNorm) this.stem.push(this.registerModule('bn1', new BatchNorm2d(s.stemWidth)));
      this.stem.push(this.registerModule('relu', new ReLU()));
    }
    if (imagenet) this.stem.push(this.registerModule('maxpool', new MaxPool2d(3, 2, 1)));

    let channels = s.stemWidth;
    this.stages = s.stages.map((stage, i) => {
      const factory = getBlock(stage.block);
      const blocks: ResidualBlock[] = [];
      for (let b = 0; b < stage.depth; b++) {
        const block = factory.create({
          inChannels: channels,
          width: stage.width,
          stride: b === 0 ? stage.stride : 1,
          residual: s.residual,
          shortcut: s.shortcut,
          shortcutParams: s.shortcutParams,
          strideMode: s.strideMode,
          batchNorm: s.batchNorm,
          zeroInitResidual: s.zeroInitResidual,
          rng,
        });
        channels = block.outChannels;
        blocks.push(block);
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.head = [];
    if (s.finalNorm === 'bn-relu') {
      if (s.batchNorm) this.head.push(this.registerModule('bn', new BatchNorm2d(channels)));
      this.head.push(this.registerModule('relu_final', new ReLU()));
    }
    this.pool = this.registerModule('avgpool', new GlobalAvgPool());
    this.fc = this.registerModule('fc', new Linear(channels, s.numClasses, { rng }));
  }

  /** Every residual block in order (stage by stage). */
  blocks(): ResidualBlock[] {
    return this.stages.flatMap((st) => st.layers as ResidualBlock[]);
  }

  /** Block paths in torchvision style (`layer2.0`), aligned with {@link ResNet.blocks}. */
  blockNames(): string[] {
    return this.stages.flatMap((st, i) => st.layers.map((_, b) => `layer${i + 1}.${b}`));
  }

  /** The features before the classifier: stem, stages and global pooling, [N, C]. */
  features(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor2D {
    this.assertAlive('features()');
    const c = this.context(ctx);
    assertNHWC(x, this.spec.inChannels, 'ResNet');
    // An empty batch: an empty result, batch norm statistics untouched (as PyTorch; engines differ on empty tensors).
    if (x.shape[0] === 0) return tf.zeros([0, this.fc.inFeatures]);
    // One image whose maps shrink to 1x1: refused before any batch norm updates its running statistics.
    if (c.training) assertBatchStatisticsFor(this, x, 'ResNet');
    return tf.tidy(() => {
      // The stem conv + bn + relu is one fused conv in eval mode (forwardSequence).
      let y: tf.Tensor = forwardSequence(this.stem, x, c);
      for (const st of this.stages) y = st.forward(y, c);
      if (this.head.length) y = forwardSequence(this.head, y, c);
      return this.pool.forward(y) as tf.Tensor2D;
    });
  }

  /**
   * Logits [N, numClasses] for NHWC input [N, H, W, inChannels]; an empty batch (N = 0) gives an
   * empty [0, numClasses] on every engine, and leaves batch norm's running statistics as they are.
   */
  forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor2D {
    this.assertAlive('forward()');
    const c = this.context(ctx);
    assertNHWC(x, this.spec.inChannels, 'ResNet');
    if (x.shape[0] === 0) return tf.zeros([0, this.spec.numClasses]);
    // The backend's compiled plan (if it has one and can express this model) runs the whole pass: the
    // inference plan in eval mode, the training plan (forward here, backward on the tape) in training.
    if (c.training) assertBatchStatisticsFor(this, x, 'ResNet');
    const planned = c.training ? compiledTrainingForward(this, x, c) : compiledForward(this, x, c);
    return planned ?? tf.tidy(() => this.fc.forward(this.features(x, c)));
  }

  /** Frees the compiled inference and training plans of this model (inference-plan.ts, training-plan.ts); rebuilt when next needed. */
  override clearCaches(): void {
    clearInferencePlans(this);
    clearTrainingPlans(this);
  }

  describe(input: Shape, tracer: Tracer): Shape {
    let s = input;
    for (const [name, child] of this.children()) s = child.describe(s, tracer.scope(name));
    return s;
  }

  /** Layer table, parameter count and multiply-adds for one image of `inputSize` (no tensors run). */
  summary(inputSize: [number, number] = this.spec.inputSize): ModelSummary {
    const [h, w] = inputSizeOf(inputSize, this.spec.inputSize, "summary's input size");
    const inputShape = [h, w, this.spec.inChannels];
    const tracer = new Tracer();
    const outputShape = this.describe(inputShape, tracer);
    const rows = tracer.rows;
    return {
      rows,
      inputShape,
      outputShape,
      totalParams: this.numParameters(),
      totalMacs: rows.reduce((s, r) => s + r.macs, 0),
    };
  }
}

export { Identity };
