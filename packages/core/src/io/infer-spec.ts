/**
 * The architecture a torchvision-named state dict implies: stem from conv1's kernel, block type,
 * blocks per stage and widths from the layerN.M keys and shapes, classes from fc, and the shortcut
 * option from which downsample tensors exist (`downsample.1` a conv: option D), pre-activation blocks
 * from a final `bn` without a stem `bn1`. Options the weights cannot show (option A's padding
 * placement, stride placement, plain nets) come from hints.
 */
import { SpecError } from '../errors.js';
import type { ResNetSpec, StageSpec } from '../resnet.js';
import type { RawStateDict } from './weights.js';

function cannot(what: string, sd: RawStateDict): SpecError {
  const keys = [...sd.tensors.keys()];
  return new SpecError(
    `Cannot tell the architecture from these weights: ${what} (first keys: ${keys.slice(0, 4).join(', ')}). ` +
      'Give the model (e.g. --model resnet50) or its spec instead.',
  );
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
    if (out !== 4 * width || conv2?.[1] !== width) {
      throw cannot(
        `${at}'s bottleneck is ${conv1[0]} -> ${conv2?.[0]} -> ${out} channels; only the plain 4x bottleneck is built (not wide or grouped ResNeXt ones)`,
        sd,
      );
    }
  }
  if (conv1[1] !== inChannels) throw cannot(`${at}.0.conv1 takes ${conv1[1]} channels but the stage before gives ${inChannels}`, sd);
  for (const b of blocks) {
    if (sd.tensors.has(`${at}.${b}.conv3.weight`) !== bottleneck) throw cannot(`${at} mixes basic and bottleneck blocks`, sd);
  }
  const stride = i === 0 ? 1 : 2;
  if (preact && bottleneck) throw cannot(`${at} has pre-activation bottleneck blocks, which resnet-ts does not build (only 'preact-basic')`, sd);
  // Option D (timm's downsample_avg): the 1x1 conv is downsample.1 (after a parameter-free pool), its batch norm downsample.2.
  const pooledAt = (b: number) => shapeOf(sd, `${at}.${b}.downsample.1.weight`)?.length === 4;
  const projected = blocks.filter((b) => sd.tensors.has(`${at}.${b}.downsample.0.weight`) || pooledAt(b));
  // Projections where the shape does not change (every block but a stride-2 or widening first one) mean option C.
  const changes = stride !== 1 || inChannels !== out;
  const needless = projected.filter((b) => b > 0 || !changes).length;
  const block = preact ? 'preact-basic' : bottleneck ? 'bottleneck' : 'basic';
  return { stage: { block, width, depth: blocks.length, stride }, out, projections: projected.length, pooled: blocks.filter(pooledAt).length, needless };
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
  // Pre-activation nets (resnet-ts's `preact-basic`): a final batch norm `bn`, none after the stem conv.
  const preact = sd.tensors.has('bn.weight') && !sd.tensors.has('bn1.weight');
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
  if ((!fc || fc.length !== 2) && hints.numClasses === undefined)
    throw cannot("no classifier 'fc.weight' (a feature-extractor checkpoint?); give numClasses and load with strict: false", sd);
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
  if (preact) Object.assign(spec, { stemNorm: 'none', finalNorm: 'bn-relu' });
  if (stages.some((s) => s.block === 'bottleneck')) spec.strideMode = 'v1.5';
  for (const [k, v] of Object.entries(hints)) if (v !== undefined) (spec as unknown as Record<string, unknown>)[k] = v;
  return spec;
}
