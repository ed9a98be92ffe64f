#!/usr/bin/python3
"""PyTorch reference fixtures for the plug-in blocks and shortcuts (issue 17): the pre-activation
basic block (He et al. 2016) and shortcut option D (average pool + 1x1 conv + BN, "Bag of Tricks").

The networks are written here in plain PyTorch, independently of resnet-ts, with the state-dict names
resnet-ts uses (torchvision's plus `bn` for the final norm and timm's `downsample.0/1/2` for option D).
Seeded random weights and random batch-norm statistics (randomize() of make_fixtures.py). Small on
purpose (a few hundred KB in all). Files, for each <name> below:
  <name>.safetensors        weights (OIHW / [out, in] layouts, F32; I64 num_batches_tracked)
  <name>.input.npy          an NCHW float32 input batch
  <name>.logits.npy         eval-mode logits
and for the `train` ones one torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4) step in train
mode (batch statistics, cross-entropy) from those weights:
  <name>.train.input.npy, <name>.train.labels.npy (int32), <name>.train.loss.npy,
  <name>.train.after.safetensors (weights and BN buffers after the step)

Usage (Debian's python3-torch 1.13; see ENVIRONMENT.md):
  /usr/bin/python3 scripts/parity/make_plugin_fixtures.py --out packages/zoo/test/fixtures/plugins
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import randomize, save_npy, save_safetensors  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(2)


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def make_downsample(kind, cin, cout, stride):
    """None (identity) where the shape is unchanged; option B: 1x1 conv (stride) + BN; option D
    (timm's downsample_avg): AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) or Identity, 1x1 conv, BN."""
    if stride == 1 and cin == cout:
        return None
    if kind == "B":
        return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    if kind == "D":
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        return nn.Sequential(pool, nn.Conv2d(cin, cout, 1, 1, bias=False), nn.BatchNorm2d(cout))
    raise ValueError(kind)


class BasicBlock(nn.Module):
    """He et al. 2015: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, cin, planes, stride, shortcut):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = make_downsample(shortcut, cin, planes, stride)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class PreActBlock(nn.Module):
    """He et al. 2016 full pre-activation (Fig. 4e): h = relu(bn1(x)); out = conv2(relu(bn2(conv1(h)))) + s,
    s = x for an identity shortcut, else downsample(h) (the pre-activated input, as kuangliu's
    PreActBlock and timm's PreActBasic); the sum is not activated."""

    def __init__(self, cin, planes, stride, shortcut):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = make_downsample(shortcut, cin, planes, stride)

    def forward(self, x):
        h = F.relu(self.bn1(x))
        s = self.downsample(h) if self.downsample is not None else x
        return self.conv2(F.relu(self.bn2(self.conv1(h)))) + s


class PluginResNet(nn.Module):
    """Stem (cifar 3x3 | imagenet 7x7/2 + maxpool; pre-activation nets: the bare conv), stages, the final
    BN-ReLU of pre-activation nets (`bn`), global average pooling, `fc`."""

    def __init__(self, preact, layers, widths, stem, stem_width, shortcut, num_classes):
        super().__init__()
        imagenet = stem == "imagenet"
        self.preact = preact
        self.conv1 = nn.Conv2d(3, stem_width, 7 if imagenet else 3, 2 if imagenet else 1, 3 if imagenet else 1, bias=False)
        if not preact:
            self.bn1 = nn.BatchNorm2d(stem_width)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity()
        block = PreActBlock if preact else BasicBlock
        cin = stem_width
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, w, (1 if i == 0 else 2) if b == 0 else 1, shortcut))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.nstages = len(layers)
        if preact:
            self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        if not self.preact:
            x = F.relu(self.bn1(x))
        x = self.maxpool(x)
        for i in range(self.nstages):
            x = getattr(self, f"layer{i + 1}")(x)
        if self.preact:
            x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def stages(block, layers, widths):
    return [{"block": block, "width": w, "depth": n, "stride": 1 if i == 0 else 2} for i, (n, w) in enumerate(zip(layers, widths))]


PREACT = {"stemNorm": "none", "finalNorm": "bn-relu"}
FIXTURES = {
    # preact-resnet110's layout at reduced depth and width: 3 stages of 2 blocks at 4/8/16 channels, option B.
    "preact-cifar": dict(
        build=lambda: PluginResNet(True, [2, 2, 2], [4, 8, 16], "cifar", 4, "B", 10),
        spec={"stem": "cifar", "stemWidth": 4, "stages": stages("preact-basic", [2, 2, 2], [4, 8, 16]), "shortcut": "B",
              "numClasses": 10, "inChannels": 3, **PREACT},
        input=(3, 3, 16, 16), seed=110, train=True, metadata=True,
    ),
    # preact-resnet18's layout (ImageNet stem, 4 stages) at 1 block per stage and 4/8/16/32 channels.
    "preact-imagenet": dict(
        build=lambda: PluginResNet(True, [1, 1, 1, 1], [4, 8, 16, 32], "imagenet", 8, "B", 7),
        spec={"stem": "imagenet", "stemWidth": 8, "stages": stages("preact-basic", [1, 1, 1, 1], [4, 8, 16, 32]), "shortcut": "B",
              "numClasses": 7, "inChannels": 3, "inputSize": [32, 32], **PREACT},
        input=(2, 3, 32, 32), seed=18, train=False, metadata=True,
    ),
    # ResNet-20's depth (3 stages of 3 basic blocks) at 4/8/16 channels with option D shortcuts; an odd
    # input size (17x17) so the ceil-mode pooling meets a partial window at every downsampling. No
    # resnet-ts metadata: a plain state dict, as PyTorch code saves it.
    "optiond-cifar": dict(
        build=lambda: PluginResNet(False, [3, 3, 3], [4, 8, 16], "cifar", 4, "D", 10),
        spec={"stem": "cifar", "stemWidth": 4, "stages": stages("basic", [3, 3, 3], [4, 8, 16]), "shortcut": "D",
              "numClasses": 10, "inChannels": 3},
        input=(3, 3, 17, 17), seed=4, train=True, metadata=False,
    ),
}


def train_step(name, model, g, out):
    x = torch.randn((4, 3, 15, 15), generator=g)
    labels = torch.randint(0, model.fc.out_features, (x.shape[0],), generator=g)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    opt.step()
    save_npy(os.path.join(out, f"{name}.train.input.npy"), x.numpy())
    save_npy(os.path.join(out, f"{name}.train.labels.npy"), labels.numpy().astype(np.int32))
    save_npy(os.path.join(out, f"{name}.train.loss.npy"), np.array([loss.item()], dtype=np.float32))
    save_safetensors(os.path.join(out, f"{name}.train.after.safetensors"), model.state_dict())
    model.eval()
    return loss.item()


def make(name, out):
    cfg = FIXTURES[name]
    torch.manual_seed(cfg["seed"])
    model = randomize(cfg["build"](), cfg["seed"]).eval()
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    x = torch.randn(cfg["input"], generator=g)
    with torch.no_grad():
        logits = model(x)
    meta = {"format": "resnet-ts/1", "spec": json.dumps(cfg["spec"]), "source": "scripts/parity/make_plugin_fixtures.py"} if cfg["metadata"] else None
    save_safetensors(os.path.join(out, f"{name}.safetensors"), model.state_dict(), meta)
    save_npy(os.path.join(out, f"{name}.input.npy"), x.numpy())
    save_npy(os.path.join(out, f"{name}.logits.npy"), logits.numpy())
    with open(os.path.join(out, f"{name}.spec.json"), "w") as f:
        f.write(json.dumps(cfg["spec"], indent=1) + "\n")
    loss = train_step(name, model, g, out) if cfg["train"] else None
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params} parameters, logits {tuple(logits.shape)}, |logits| max {logits.abs().max():.4f}" + (f", train loss {loss:.4f}" if loss else ""))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--only", nargs="*", default=list(FIXTURES))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in a.only:
        make(name, a.out)


if __name__ == "__main__":
    main()
