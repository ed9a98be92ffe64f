import type { ResNetSpec, StageSpec, StrideMode } from '@resnet-ts/core';

/** What the paper reports for a model, for comparison in docs and tests. */
export interface PaperResult {
  /** Where the number comes from, e.g. "He et al. 2015, Table 6". */
  source: string;
  top1Error?: number;
  top5Error?: number;
  /** CIFAR-10 test error (%). */
  cifar10Error?: number;
}

/** A named architecture of the zoo. */
export interface ZooEntry {
  name: string;
  description: string;
  family: 'imagenet' | 'cifar';
  spec: ResNetSpec;
  paper?: PaperResult;
}

const IMAGENET_LAYERS: Record<number, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

const IMAGENET_PAPER: Record<string, PaperResult> = {
  plain18: { source: 'He et al. 2015, Table 2 (10-crop)', top1Error: 27.94 },
  plain34: { source: 'He et al. 2015, Tables 2-3 (10-crop)', top1Error: 28.54, top5Error: 10.02 },
  resnet18: { source: 'He et al. 2015, Table 2 (10-crop, option A)', top1Error: 27.88 },
  resnet34: { source: 'He et al. 2015, Table 3 (10-crop, option B)', top1Error: 24.52, top5Error: 7.46 },
  resnet50: { source: 'He et al. 2015, Table 3 (10-crop)', top1Error: 22.85, top5Error: 6.71 },
  resnet101: { source: 'He et al. 2015, Table 3 (10-crop)', top1Error: 21.75, top5Error: 6.05 },
  resnet152: { source: 'He et al. 2015, Table 3 (10-crop)', top1Error: 21.43, top5Error: 5.71 },
};

const CIFAR_PAPER: Record<number, number> = { 20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93 };

/** Stages of an ImageNet ResNet: widths 64, 128, 256, 512; the first stage keeps the resolution. */
export function imagenetStages(block: string, layers: number[], widths = [64, 128, 256, 512]): StageSpec[] {
  return layers.map((depth, i) => ({ block, width: widths[i] ?? widths[widths.length - 1] * 2 ** (i - widths.length + 1), depth, stride: i === 0 ? 1 : 2 }));
}

/** Stages of a CIFAR ResNet (section 4.2): n basic blocks at 16, 32, 64 channels. */
export function cifarStages(n: number, widths = [16, 32, 64], block = 'basic'): StageSpec[] {
  return widths.map((width, i) => ({ block, width, depth: n, stride: i === 0 ? 1 : 2 }));
}

function imagenetEntry(depth: number, residual: boolean, strideMode: StrideMode): ZooEntry {
  const { block, layers } = IMAGENET_LAYERS[depth];
  const base = `${residual ? 'resnet' : 'plain'}${depth}`;
  const name = strideMode === 'v1' ? `${base}-v1` : base;
  return {
    name,
    family: 'imagenet',
    description:
      `${residual ? 'ResNet' : 'Plain net'}-${depth} for ImageNet (${block} blocks ${layers.join(',')}` +
      `${residual ? ', option B' : ', no shortcuts'}${block === 'bottleneck' ? `, stride on the ${strideMode === 'v1' ? 'first 1x1 (paper v1)' : '3x3 (torchvision v1.5)'}` : ''})`,
    spec: { stem: 'imagenet', stages: imagenetStages(block, layers), shortcut: 'B', residual, numClasses: 1000, inChannels: 3, strideMode },
    paper: strideMode === 'v1.5' ? IMAGENET_PAPER[base] : undefined,
  };
}

function cifarEntry(depth: number, residual: boolean): ZooEntry {
  const n = (depth - 2) / 6;
  return {
    name: `${residual ? 'resnet' : 'plain'}${depth}`,
    family: 'cifar',
    description: `${residual ? 'ResNet' : 'Plain net'}-${depth} for CIFAR (3 stages of ${n} basic blocks at 16/32/64 channels${residual ? ', option A' : ', no shortcuts'})`,
    spec: { stem: 'cifar', stages: cifarStages(n), shortcut: 'A', residual, numClasses: 10, inChannels: 3 },
    paper: residual ? { source: 'He et al. 2015, Table 6', cifar10Error: CIFAR_PAPER[depth] } : undefined,
  };
}

/**
 * Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks"): blocks
 * `preact-basic` (BN-ReLU-conv x2, the sum not activated), a bare conv stem and a final BN-ReLU
 * before pooling; option B projections, taking the pre-activated input (see @resnet-ts/blocks).
 */
const PREACT_ENTRIES: ZooEntry[] = [
  {
    name: 'preact-resnet110',
    family: 'cifar',
    description: 'pre-activation ResNet-110 for CIFAR (3 stages of 18 preact-basic blocks at 16/32/64 channels, option B, final BN-ReLU)',
    spec: { stem: 'cifar', stemNorm: 'none', finalNorm: 'bn-relu', stages: cifarStages(18, [16, 32, 64], 'preact-basic'), shortcut: 'B', numClasses: 10, inChannels: 3 },
    paper: { source: 'He et al. 2016, Table 2 (full pre-activation)', cifar10Error: 6.37 },
  },
  {
    name: 'preact-resnet18',
    family: 'imagenet',
    description: 'pre-activation ResNet-18 for ImageNet (preact-basic blocks 2,2,2,2, 7x7 conv + max pool stem without BN, option B, final BN-ReLU)',
    spec: { stem: 'imagenet', stemNorm: 'none', finalNorm: 'bn-relu', stages: imagenetStages('preact-basic', [2, 2, 2, 2]), shortcut: 'B', numClasses: 1000, inChannels: 3 },
  },
];

/** Every named architecture. */
export const ARCHITECTURES: ZooEntry[] = [
  ...[18, 34, 50, 101, 152].flatMap((d) => [imagenetEntry(d, true, 'v1.5'), imagenetEntry(d, true, 'v1')]),
  ...[18, 34, 50, 101, 152].flatMap((d) => [imagenetEntry(d, false, 'v1.5')]),
  ...[20, 32, 44, 56, 110, 1202].flatMap((d) => [cifarEntry(d, true), cifarEntry(d, false)]),
  ...PREACT_ENTRIES,
];

/** Parameters of a conv (k x k, bias only without batch norm) followed by its batch norm. */
function convBn(k: number, cin: number, cout: number): number {
  return k * k * cin * cout + 2 * cout;
}

/** Parameters of one block of a zoo block type and its output channels; undefined for other types. */
function blockParameters(block: string, cin: number, w: number): { params: number; out: number } | undefined {
  if (block === 'basic') return { params: convBn(3, cin, w) + convBn(3, w, w), out: w };
  if (block === 'bottleneck') return { params: convBn(1, cin, w) + convBn(3, w, w) + convBn(1, w, 4 * w), out: 4 * w };
  // preact-basic: bn1 over the input channels, conv1, bn2, conv2 (same count as basic's convs and norms, bn1 wider).
  if (block === 'preact-basic') return { params: 2 * cin + 9 * cin * w + 2 * w + 9 * w * w, out: w };
  return undefined;
}

/** Parameters of the shortcut module of option `shortcut` for one block; undefined for other options. */
function shortcutParameters(shortcut: string, cin: number, out: number, stride: number): number | undefined {
  const changes = stride !== 1 || cin !== out;
  if (shortcut === 'A') return 0;
  // B and D: identity unless the shape changes; D's average pooling has no parameters.
  if (shortcut === 'B' || shortcut === 'D') return changes ? convBn(1, cin, out) : 0;
  if (shortcut === 'C') return convBn(1, cin, out);
  return undefined;
}

/**
 * Trainable parameters of a spec built from the zoo's blocks ('basic', 'bottleneck', 'preact-basic')
 * and shortcuts ('A', 'B', 'C', 'D'), counted without building the model (`resnet models` lists every
 * architecture this way); undefined for other blocks or shortcuts, or without batch norm. Equal to
 * `model.numParameters()` (tested).
 */
export function countParameters(spec: ResNetSpec): number | undefined {
  if (spec.batchNorm === false) return undefined;
  const residual = spec.residual ?? true;
  const stemWidth = spec.stemWidth ?? (spec.stem === 'imagenet' ? 64 : 16);
  const stemK = spec.stem === 'imagenet' ? 7 : 3;
  let total = spec.stemNorm === 'none' ? stemK * stemK * (spec.inChannels ?? 3) * stemWidth : convBn(stemK, spec.inChannels ?? 3, stemWidth);
  let cin = stemWidth;
  for (const stage of spec.stages) {
    for (let i = 0; i < stage.depth; i++) {
      const block = blockParameters(stage.block, cin, stage.width);
      if (!block) return undefined;
      const shortcut = residual ? shortcutParameters(spec.shortcut, cin, block.out, i === 0 ? stage.stride : 1) : 0;
      if (shortcut === undefined) return undefined;
      total += block.params + shortcut;
      cin = block.out;
    }
  }
  if (spec.finalNorm === 'bn-relu') total += 2 * cin;
  return total + cin * spec.numClasses + spec.numClasses;
}
