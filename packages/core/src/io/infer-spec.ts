/**
 * The architecture a torchvision-named state dict implies: stem from conv1's kernel, block type,
 * blocks per stage and widths from the layerN.M keys and shapes, classes from fc, and the shortcut
 * option from which downsample tensors exist (`downsample.1` a conv: option D), pre-activation blocks
 * from a block's `bn1` over conv1's input channels (else a final `bn` without a stem `bn1`). Options
 * the weights cannot show (option A's padding placement, stride placement, plain nets) come from hints.
 * Architectures resnet-ts does not build (wide or grouped bottlenecks, conv-only shortcut projections)
 * are an {@link UnsupportedArchitectureError} that says what it builds.
 */
import { SpecError } from '../errors.js';
import type { ResNetSpec, StageSpec } from '../resnet.js';
import type { RawStateDict } from './weights.js';

/** The remedy when the weights do not say enough: the user names the architecture (both ways it can be given). */
const NAME_IT = 'Name the architecture: --model <name> on the command line (e.g. --model resnet50), the model option in the JS API.';

function cannot(what: string, sd: RawStateDict, remedy = NAME_IT): SpecError {
  const keys = [...sd.tensors.keys()];
  return new SpecError(`Cannot tell the architecture from these weights: ${what} (first keys: ${keys.slice(0, 4).join(', ')}). ${remedy}`);
}

/** What resnet-ts builds, for refusals of the architectures it does not. */
const BUILT =
  "resnet-ts builds ResNets of basic blocks and plain bottlenecks (4x expansion, no groups): torchvision's resnet18..152, " +
  'the CIFAR resnet20..1202, plain nets and pre-activation basic-block nets';

/**
 * Weights of an architecture resnet-ts does not build (wide or grouped bottlenecks, pre-activation
 * bottlenecks): no model name or option makes them load, so the message suggests none.
 */
export class UnsupportedArchitectureError extends SpecError {}

function unsupported(what: string): UnsupportedArchitectureError {
  return new UnsupportedArchitectureError(`These weights are of an architecture resnet-ts does not build: ${what}. ${BUILT}.`);
}

/** Why a bottleneck of these shapes is not the plain one: wide (Wide ResNet) and/or grouped (ResNeXt). */
function bottleneckKind(at: string, conv1: number[], conv2: number[], out: number): string {
  const width = conv1[0];
  const grouped = conv2[1] !== width && conv2[1] > 0 && width % conv2[1] === 0;
  const kind = grouped
    ? `grouped 3x3 convolutions (${width / conv2[1]} groups, as ResNeXt's, e.g. resnext50_32x4d)`
    : `a wide middle (${width} channels for ${out} outputs, not ${out / 4}, as Wide ResNet's, e.g. wide_resnet50_2)`;
  return `${at}'s bottleneck is ${conv1[1]} -> ${width} -> ${conv2[0]} -> ${out} channels with ${kind}`;
}

function shapeOf(sd: RawStateDict, key: string): number[] | undefined {
  return sd.tensors.get(key)?.shape;
}

/** Blocks of each stage: stage index -> sorted block indices. */
function blockIndices(sd: RawStateDict): number[][] {
  const stages: Set<number>[] = [];
  for (const k of sd.tensors.keys()) {
    const m = /^layer(\d+)\.(\d+)\./.exec(k);
    if (!m) continue;
    const s = Number(m[1]) - 1;
    (stages[s] ??= new Set()).add(Number(m[2]));
  }
  return Array.from(stages, (s) => [...(s ?? [])].sort((a, b) => a - b));
}

function inferStage(
  sd: RawStateDict,
  i: number,
  blocks: number[],
  inChannels: number,
  preact: boolean,
): { stage: StageSpec; out: number; projections: number; pooled: number; needless: number } {
  const at = `layer${i + 1}`;
  if (blocks.length === 0 || blocks.some((b, j) => b !== j))
    throw cannot(`stage ${at} has blocks ${blocks.join(', ') || 'none'}, not 0..n-1`, sd);
  const bottleneck = sd.tensors.has(`${at}.0.conv3.weight`);
  const conv1 = shapeOf(sd, `${at}.0.conv1.weight`);
  if (!conv1 || conv1.length !== 4) throw cannot(`'${at}.0.conv1.weight' is missing or not a conv`, sd);
  const width = conv1[0];
  let out = width;
  if (bottleneck) {
    out = shapeOf(sd, `${at}.0.conv3.weight`)?.[0] ?? 0;
    const conv2 = shapeOf(sd, `${at}.0.conv2.weight`);
    if (!conv2 || conv2.length !== 4) throw cannot(`'${at}.0.conv2.weight' is missing or not a conv`, sd);
    if (out !== 4 * width || conv2[1] !== width) throw unsupported(bottleneckKind(at, conv1, conv2, out));
  }
  if (conv1[1] !== inChannels) throw cannot(`${at}.0.conv1 takes ${conv1[1]} channels but the stage before gives ${inChannels}`, sd);
  for (const b of blocks) {
    if (sd.tensors.has(`${at}.${b}.conv3.weight`) !== bottleneck) throw cannot(`${at} mixes basic and bottleneck blocks`, sd);
  }
  const stride = i === 0 ? 1 : 2;
  if (preact && bottleneck) throw unsupported(`${at} has pre-activation bottleneck blocks (only pre-activation basic blocks are built)`);
  // Option D (timm's downsample_avg): the 1x1 conv is downsample.1 (after a parameter-free pool), its batch norm downsample.2.
  const pooledAt = (b: number) => shapeOf(sd, `${at}.${b}.downsample.1.weight`)?.length === 4;
  const projected = blocks.filter((b) => sd.tensors.has(`${at}.${b}.downsample.0.weight`) || pooledAt(b));
  const convOnly = projected.find((b) => !pooledAt(b) && !sd.tensors.has(`${at}.${b}.downsample.1.weight`));
  if (convOnly !== undefined && sd.tensors.has(`${at}.${convOnly}.bn2.weight`)) throw convOnlyShortcut(sd, `${at}.${convOnly}`, preact);
  // Projections where the shape does not change (every block but a stride-2 or widening first one) mean option C.
  const changes = stride !== 1 || inChannels !== out;
  const needless = projected.filter((b) => b > 0 || !changes).length;
  const block = preact ? 'preact-basic' : bottleneck ? 'bottleneck' : 'basic';
  return { stage: { block, width, depth: blocks.length, stride }, out, projections: projected.length, pooled: blocks.filter(pooledAt).length, needless };
}

/**
 * The refusal of a shortcut projection that is a 1x1 conv alone in a net whose blocks have batch
 * norms (kuangliu's CIFAR PreActResNet): resnet-ts's projections are a 1x1 conv and a batch norm.
 */
function convOnlyShortcut(sd: RawStateDict, block: string, preact: boolean): UnsupportedArchitectureError {
  const net = preact
    ? `a pre-activation net${sd.tensors.has('bn.weight') ? '' : " without a final batch norm (no 'bn.weight')"} and`
    : 'a net';
  return unsupported(
    `${net} with shortcut projections of a 1x1 conv alone, without a batch norm (the first in block ${block})` +
      `${preact ? ", as in kuangliu's CIFAR PreActResNet" : ''}; resnet-ts's projections are a 1x1 conv and a batch norm`,
  );
}

/**
 * Whether the blocks are pre-activation: a pre-activation block's `bn1` normalises conv1's input (the
 * block's input channels), a post-activation block's conv1's output. Told by the first block with a
 * `bn1` whose conv1 changes the channel count; undefined when none does.
 */
function preactBlocks(sd: RawStateDict, indices: number[][]): boolean | undefined {
  for (const [i, blocks] of indices.entries()) {
    for (const b of blocks ?? []) {
      const conv1 = shapeOf(sd, `layer${i + 1}.${b}.conv1.weight`);
      const bn1 = shapeOf(sd, `layer${i + 1}.${b}.bn1.weight`);
      if (conv1?.length === 4 && bn1?.length === 1 && conv1[0] !== conv1[1]) return bn1[0] === conv1[1];
    }
  }
  return undefined;
}

/**
 * The refusal of weights without a single linear head `fc` (a feature extractor, or a custom head
 * such as `fc.0`/`fc.3` of an nn.Sequential). Only the JS API can load the backbone alone; the
 * command line runs whole models, so the other remedy is re-saving from PyTorch.
 */
function noClassifier(sd: RawStateDict): SpecError {
  const head = [...sd.tensors.keys()].filter((k) => /^fc\./.test(k));
  const what = head.length
    ? `its head (${head.slice(0, 4).join(', ')}) is not the single linear layer 'fc' that resnet-ts builds`
    : "no classifier 'fc.weight' (a feature-extractor checkpoint?)";
  return cannot(
    what,
    sd,
    'To use the backbone alone (JS API only): give numClasses (a hint of inferSpec, or the spec) and load with { strict: false } ' +
      '(loadWeightsInto, loadRawStateDict), which leaves the head freshly initialised. ' +
      'To run it whole (command line too), save it from PyTorch with the head as one nn.Linear named fc.',
  );
}

/**
 * The {@link ResNetSpec} a torchvision-named state dict implies (use `adaptStateDict` first for
 * other conventions). `hints` (from the convention, a stored spec or the caller) override what the
 * weights say; a SpecError says what could not be told.
 */
export function inferSpec(sd: RawStateDict, hints: Partial<ResNetSpec> = {}): ResNetSpec {
  const conv1 = shapeOf(sd, 'conv1.weight');
  if (!conv1 || conv1.length !== 4) throw cannot("no stem conv 'conv1.weight' of rank 4", sd);
  const [stemWidth, inChannels, kh, kw] = conv1;
  if (kh !== kw || (kh !== 7 && kh !== 3)) throw cannot(`conv1 is ${kh}x${kw}; the stem is 7x7 (imagenet) or 3x3 (cifar)`, sd);
  const indices = blockIndices(sd);
  if (indices.length === 0) throw cannot('no layerN.M blocks', sd);
  // Pre-activation nets (resnet-ts's `preact-basic`): blocks whose bn1 normalises their input; else a
  // final batch norm `bn` and none after the stem conv.
  const preact = preactBlocks(sd, indices) ?? (sd.tensors.has('bn.weight') && !sd.tensors.has('bn1.weight'));
  let channels = stemWidth;
  let projections = 0;
  let pooled = 0;
  let needless = 0;
  const stages = indices.map((b, i) => {
    const s = inferStage(sd, i, b ?? [], channels, preact);
    channels = s.out;
    projections += s.projections;
    pooled += s.pooled;
    needless += s.needless;
    return s.stage;
  });
  if (pooled > 0 && (pooled !== projections || needless > 0))
    throw cannot('average-pool (option D) projections mixed with plain ones, or on blocks whose shape does not change', sd);
  const fc = shapeOf(sd, 'fc.weight');
  // A feature extractor (timm num_classes=0, transformers' ResNetModel) has no head: the caller names the classes.
  if ((!fc || fc.length !== 2) && hints.numClasses === undefined) throw noClassifier(sd);
  if (fc && fc[1] !== channels) throw cannot(`fc takes ${fc[1]} features but the last stage gives ${channels}`, sd);
  const spec: ResNetSpec = {
    stem: kh === 7 ? 'imagenet' : 'cifar',
    stemWidth,
    stages,
    shortcut: pooled > 0 ? 'D' : projections === 0 ? 'A' : needless > 0 ? 'C' : 'B',
    numClasses: fc?.[0] ?? (hints.numClasses as number),
    inChannels,
    batchNorm: sd.tensors.has('bn1.weight') || preact,
  };
  if (preact) {
    if (!sd.tensors.has('bn1.weight')) spec.stemNorm = 'none';
    if (sd.tensors.has('bn.weight')) spec.finalNorm = 'bn-relu';
  }
  if (stages.some((s) => s.block === 'bottleneck')) spec.strideMode = 'v1.5';
  for (const [k, v] of Object.entries(hints)) if (v !== undefined) (spec as unknown as Record<string, unknown>)[k] = v;
  return spec;
}
