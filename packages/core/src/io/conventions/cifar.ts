/**
 * The common PyTorch CIFAR ResNets (akamaster/pytorch_resnet_cifar10 `resnet.py`, and
 * kuangliu/pytorch-cifar's `ResNet18` style): the head is `linear`, a projection shortcut is
 * `layerN.M.shortcut.0/1`. Without projection keys the shortcut is option A as that code pads it:
 * `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`, half the new zero channels
 * before the identity channels and half after (`shortcutParams: { padding: 'split' }`).
 */
import { TORCHVISION_KEY, fractionMatching, registerConvention, renameKeys } from '../conventions.js';

const CIFAR_KEY =
  /^(conv1\.weight|bn1\.(weight|bias|running_mean|running_var|num_batches_tracked)|layer\d+\.\d+\.(conv\d|bn\d)\.(weight|bias|running_mean|running_var|num_batches_tracked)|layer\d+\.\d+\.shortcut\.[01]\.(weight|bias|running_mean|running_var|num_batches_tracked)|linear\.(weight|bias))$/;

registerConvention({
  name: 'cifar',
  description:
    "akamaster's / kuangliu's PyTorch CIFAR ResNets: linear head, layerN.M.shortcut.0/1, option A padded half before, half after",
  match: (keys) => (keys.includes('linear.weight') || keys.some((k) => k.includes('.shortcut.')) ? fractionMatching(keys, CIFAR_KEY) : 0),
  toTorchvision: (sd) =>
    renameKeys(sd, (k) => {
      const renamed = k.replace(/^linear\./, 'fc.').replace(/\.shortcut\.([01])\./, '.downsample.$1.');
      return TORCHVISION_KEY.test(renamed) ? renamed : k;
    }),
  hints: (sd) => {
    const projections = [...sd.tensors.keys()].some((k) => k.includes('.shortcut.'));
    return projections ? {} : { shortcut: 'A', shortcutParams: { padding: 'split' } };
  },
});
