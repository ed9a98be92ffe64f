/**
 * timm's ResNets (`timm.models.resnet.ResNet`: resnet18..152, as created by
 * `timm.create_model('resnet50')`): the same parameter names as torchvision (timm's extra modules
 * act1, act2, drop_block, aa, se, global_pool hold no parameters in the plain models), and `fc` as the
 * classifier (`default_cfg['classifier'] == 'fc'`). Exports that nest the head as `head.fc` are
 * renamed. The average-pool downsample of the ResNet-D family (`downsample.0/1/2`) is resnet-ts's
 * option D, same names; the deep stem (`conv1.0/1/3/4/6`) and SE/ECA variants have other layers and
 * are refused with a message saying so.
 */
import { FormatError } from '../../errors.js';
import { TORCHVISION_KEY, fractionMatching, registerConvention, renameKeys } from '../conventions.js';

/** Keys only timm's variants have. */
const TIMM_ONLY = /^(head\.fc\.(weight|bias)|conv1\.\d+\.\w+|layer\d+\.\d+\.(se|attn)\.[\w.]+)$/;

function rename(key: string): string {
  if (key.startsWith('head.fc.')) return key.slice('head.'.length);
  if (/^conv1\.\d+\./.test(key)) {
    throw new FormatError(
      `'${key}' is part of timm's deep stem (the ResNet-D family: resnet50d and friends), which resnet-ts does not build; use a plain timm ResNet (resnet18..152).`,
    );
  }
  if (/\.(se|attn)\./.test(key))
    throw new FormatError(`'${key}' belongs to a squeeze-excitation/attention ResNet variant, which resnet-ts does not build.`);
  return key;
}

registerConvention({
  name: 'timm',
  description: "timm.models.resnet: torchvision's names; head.fc renamed; deep-stem ResNet-D and SE variants refused clearly",
  // Plain timm ResNets tie with torchvision (same names: torchvision, registered first, wins); files
  // with timm-only keys score higher so the refusal names what is different.
  match: (keys) => {
    const timmOnly = keys.some((k) => TIMM_ONLY.test(k));
    const fit = fractionMatching(keys, new RegExp(`${TORCHVISION_KEY.source}|${TIMM_ONLY.source}`));
    return timmOnly ? fit : fit * 0.999;
  },
  toTorchvision: (sd) => renameKeys(sd, rename),
});
