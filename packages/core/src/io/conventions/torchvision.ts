/**
 * torchvision's ResNet names (`conv1`, `bn1`, `layerN.M.convK/bnK`, `layerN.M.downsample.0/1`,
 * `fc`): the identity mapping. resnet-ts checkpoints use these names too; their stored `spec`
 * becomes the hints.
 */
import type { ResNetSpec } from '../../resnet.js';
import { TORCHVISION_KEY, fractionMatching, registerConvention } from '../conventions.js';

function storedSpec(metadata: Record<string, string>): Partial<ResNetSpec> {
  if (!metadata.spec) return {};
  try {
    const spec = JSON.parse(metadata.spec) as unknown;
    return spec && typeof spec === 'object' && !Array.isArray(spec) ? (spec as Partial<ResNetSpec>) : {};
  } catch {
    return {};
  }
}

registerConvention({
  name: 'torchvision',
  description: 'torchvision.models.resnet (and resnet-ts checkpoints): conv1, bn1, layerN.M.convK/bnK/downsample, fc',
  match: (keys) => fractionMatching(keys, TORCHVISION_KEY),
  toTorchvision: (sd) => sd,
  hints: (sd) => storedSpec(sd.metadata),
});
