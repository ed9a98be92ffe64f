/**
 * Hugging Face transformers' `ResNetForImageClassification` (and `ResNetModel`) state dicts:
 * `resnet.embedder.embedder.{convolution,normalization}`, `resnet.encoder.stages.S.layers.L.layer.K.
 * {convolution,normalization}`, `...layers.L.shortcut.{convolution,normalization}`, `classifier.1`.
 * Stage S is torchvision's `layer{S+1}`, conv layer K is `conv{K+1}`/`bn{K+1}`, the shortcut is
 * `downsample.0/1`. The layer maths is torchvision's (stride on the 3x3 in bottlenecks, i.e.
 * `downsample_in_bottleneck=False`; no stride in the first stage, `downsample_in_first_stage=False`,
 * the config defaults of microsoft/resnet-*); a config.json that says otherwise is the caller's hint.
 */
import { FormatError } from '../../errors.js';
import { fractionMatching, registerConvention, renameKeys } from '../conventions.js';

const PARAM = '(weight|bias|running_mean|running_var|num_batches_tracked)';
const HF_KEY = new RegExp(
  `^(resnet\\.)?(embedder\\.embedder\\.(convolution|normalization)\\.${PARAM}|encoder\\.stages\\.\\d+\\.layers\\.\\d+\\.(layer\\.\\d+|shortcut)\\.(convolution|normalization)\\.${PARAM})$|^classifier\\.1\\.(weight|bias)$`,
);

function rename(key: string): string {
  const k = key.replace(/^resnet\./, '');
  const unit = (kind: string) => (kind === 'convolution' ? 'conv' : 'bn');
  let m = /^embedder\.embedder\.(convolution|normalization)\.(\w+)$/.exec(k);
  if (m) return `${unit(m[1])}1.${m[2]}`;
  m = /^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.(convolution|normalization)\.(\w+)$/.exec(k);
  if (m) return `layer${Number(m[1]) + 1}.${m[2]}.${unit(m[4])}${Number(m[3]) + 1}.${m[5]}`;
  m = /^encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.(convolution|normalization)\.(\w+)$/.exec(k);
  if (m) return `layer${Number(m[1]) + 1}.${m[2]}.downsample.${m[3] === 'convolution' ? 0 : 1}.${m[4]}`;
  m = /^classifier\.1\.(weight|bias)$/.exec(k);
  if (m) return `fc.${m[1]}`;
  throw new FormatError(`'${key}' is not a name of transformers' ResNetForImageClassification; cannot map it to a resnet-ts layer.`);
}

registerConvention({
  name: 'hf-transformers',
  description:
    "Hugging Face transformers' ResNetForImageClassification (resnet.embedder..., resnet.encoder.stages.S.layers.L..., classifier.1)",
  match: (keys) => fractionMatching(keys, HF_KEY),
  toTorchvision: (sd) => renameKeys(sd, rename),
  hints: () => ({ strideMode: 'v1.5' }),
});
