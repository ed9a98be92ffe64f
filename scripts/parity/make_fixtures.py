#!/usr/bin/python3
"""Reference fixtures for resnet-ts's PyTorch parity tests.

Builds ResNets in PyTorch with seeded random weights AND random batch-norm statistics, and writes:
  <name>.safetensors   the weights: torchvision key names and layouts (OIHW, [out, in]); F32, I64
                       num_batches_tracked. With --format resnet-ts (default for the committed
                       fixtures) it also carries resnet-ts metadata (format, spec); torchvision-style
                       files (resnet18) carry none, like a plain `torch.save(model.state_dict())`.
  <name>.input.npy     an NCHW float32 input batch
  <name>.logits.npy    eval-mode logits
and, for resnet20, one SGD training step (train-mode batch norm, cross-entropy, lr 0.1,
momentum 0.9, weight decay 1e-4, from zero momentum):
  resnet20.train.input.npy, resnet20.train.labels.npy, resnet20.train.after.safetensors (weights and BN buffers after the step),
  resnet20.train.loss.npy

Usage (Debian's python3-torch; ENVIRONMENT.md):
  /usr/bin/python3 scripts/parity/make_fixtures.py --out packages/core/test/fixtures/parity
  /usr/bin/python3 scripts/parity/make_fixtures.py --out /tmp/x --only resnet18
  /usr/bin/python3 scripts/parity/make_fixtures.py check <checkpoint.safetensors> <model> <input.npy> <out.npy>
      loads a resnet-ts checkpoint into the PyTorch model <model> (load_state_dict, strict) and
      writes its eval-mode logits: the check that our files load in PyTorch.

No `safetensors` package is needed: the reader/writer of packages/train/scale-out/resnet_ts_torch.py
(8-byte LE header length, JSON header, raw little-endian bytes) is used, with its ResNet built from a
resnet-ts spec.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

torch.set_num_threads(2)

# The safetensors reader/writer and the ResNet built from a resnet-ts spec are the ones shipped with
# @resnet-ts/train for the PyTorch DDP hand-off (packages/train/scale-out/resnet_ts_torch.py): one
# PyTorch definition of resnet-ts's architectures.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "train", "scale-out"))
from resnet_ts_torch import build_model, load_safetensors, save_safetensors  # noqa: E402


def save_npy(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(arr))
    os.replace(tmp, path)


def randomize(model, seed):
    """Seeded random weights and random BN statistics (so eval mode really uses running stats)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_out) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
            elif isinstance(m, nn.Linear):
                bound = 1 / m.in_features ** 0.5
                m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * bound)
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
    return model


SPECS = {
    "resnet20": dict(
        build=lambda: build_model(SPECS["resnet20"]["spec"]),
        spec={"stem": "cifar", "stages": [{"block": "basic", "width": w, "depth": 3, "stride": s} for w, s in [(16, 1), (32, 2), (64, 2)]],
              "shortcut": "A", "numClasses": 10, "inChannels": 3},
        input=(4, 3, 32, 32), seed=20,
    ),
    "bottleneck": dict(
        build=lambda: build_model(SPECS["bottleneck"]["spec"]),
        spec={"stem": "imagenet", "stemWidth": 16,
              "stages": [{"block": "bottleneck", "width": w, "depth": 1, "stride": s} for w, s in [(8, 1), (16, 2), (32, 2), (64, 2)]],
              "shortcut": "B", "numClasses": 10, "inChannels": 3, "strideMode": "v1.5", "inputSize": [64, 64]},
        input=(2, 3, 64, 64), seed=50,
    ),
    "resnet18": dict(build=lambda: torchvision.models.resnet18(), spec=None, input=(2, 3, 64, 64), seed=18),
}


def make(name, out):
    cfg = SPECS[name]
    torch.manual_seed(cfg["seed"])
    model = randomize(cfg["build"](), cfg["seed"]).eval()
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    x = torch.randn(cfg["input"], generator=g)
    with torch.no_grad():
        logits = model(x)
    meta = None
    if cfg["spec"] is not None:
        meta = {"format": "resnet-ts/1", "spec": json.dumps(cfg["spec"]), "source": "scripts/parity/make_fixtures.py"}
    save_safetensors(os.path.join(out, f"{name}.safetensors"), model.state_dict(), meta)
    save_npy(os.path.join(out, f"{name}.input.npy"), x.numpy())
    save_npy(os.path.join(out, f"{name}.logits.npy"), logits.numpy())
    if name == "resnet20":
        train_step(model, x, out, g)
    print(f"{name}: logits {tuple(logits.shape)}, |logits| max {logits.abs().max():.4f}")


def train_step(model, x, out, g):
    # A small batch of its own (2 x 3 x 16 x 16) keeps the test's backward pass on the cpu backend quick.
    x = torch.randn((2, 3, 16, 16), generator=g)
    labels = torch.randint(0, 10, (x.shape[0],), generator=g)
    save_npy(os.path.join(out, "resnet20.train.input.npy"), x.numpy())
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    opt.step()
    save_npy(os.path.join(out, "resnet20.train.labels.npy"), labels.numpy().astype(np.int32))
    save_npy(os.path.join(out, "resnet20.train.loss.npy"), np.array([loss.item()], dtype=np.float32))
    save_safetensors(os.path.join(out, "resnet20.train.after.safetensors"), model.state_dict())
    model.eval()


def make_dtypes(out):
    """The same values in every dtype PyTorch writes, to check the decoders against PyTorch's own rounding."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, generator=g) * 3
    tensors = {
        "f32": x,
        "f16": x.half(),
        "bf16": x.bfloat16(),
        "f64": x.double(),
        "i64": torch.arange(-7, 8, dtype=torch.int64).reshape(3, 5) * 1000,
        "i32": torch.arange(-7, 8, dtype=torch.int32).reshape(3, 5),
        "u8": torch.arange(0, 15, dtype=torch.uint8).reshape(3, 5) * 17,
    }
    save_safetensors(os.path.join(out, "dtypes.safetensors"), tensors, {"note": "same values, each dtype"})
    # What each float dtype holds, widened to float32 by PyTorch.
    save_npy(os.path.join(out, "dtypes.f16.npy"), x.half().float().numpy())
    save_npy(os.path.join(out, "dtypes.bf16.npy"), x.bfloat16().float().numpy())
    save_npy(os.path.join(out, "dtypes.f16native.npy"), x.half().numpy())
    print("dtypes: F32 F16 BF16 F64 I64 I32 U8")


def check(ckpt, name, inp, outp):
    model = SPECS[name]["build"]()
    state, _ = load_safetensors(ckpt)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(np.load(inp)))
    save_npy(outp, y.numpy())


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        check(*sys.argv[2:6])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--only", nargs="*", default=["resnet20", "bottleneck", "dtypes"])
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in a.only:
        if name == "dtypes":
            make_dtypes(a.out)
        else:
            make(name, a.out)


if __name__ == "__main__":
    main()
