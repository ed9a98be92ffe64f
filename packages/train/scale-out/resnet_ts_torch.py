"""resnet-ts checkpoints in PyTorch: the same architecture rebuilt from a checkpoint's `spec`, and
safetensors read/write with resnet-ts metadata.

A resnet-ts checkpoint is a safetensors file with torchvision key names and layouts (OIHW convs,
[out, in] linear) and string metadata (`format: resnet-ts/1`, `spec`, `classes`, `preprocessing`,
optionally `training` and `extra_prefixes`). `build_model(spec)` builds the nn.Module whose
`state_dict()` has exactly the checkpoint's keys and shapes and whose forward computes what
resnet-ts computes: CIFAR and ImageNet stems (with or without their batch norm + ReLU), an
optional final batch norm + ReLU, basic and bottleneck blocks (stride on the 3x3,
'v1.5', or on the first 1x1, 'v1'), shortcut options A (subsample + zero channels 'after' or
'split'), B (1x1 projection where the shape changes) and C (projection everywhere), plain nets
(`residual: false`) and nets without batch norm. A spec this module does not know (another block or
shortcut plug-in, an unknown field) is refused with one line: never a silently different network.

Used by ddp_train.py (continue training in DistributedDataParallel) and by the repository's parity
fixtures (scripts/parity/make_fixtures.py). Needs torch only: no `safetensors` package.
"""
import json
import os
import struct
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "resnet-ts/1"

# ------------------------------------------------------------------------------------ safetensors
DT_OUT = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
}
DT_IN = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


class CheckpointError(Exception):
    """A checkpoint or spec this module cannot use; the message says what to do."""


def write_atomic(path, write):
    """Calls write(file) on a temporary file beside `path`, fsyncs it, then renames it over `path`:
    a reader never sees a partial file, and a failure leaves no temporary file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> tensor) and string `metadata` as safetensors, atomically."""
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        a = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DT_OUT[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

    write_atomic(path, write)


def load_safetensors(path):
    """Reads a safetensors file: (name -> tensor, metadata dict). Errors name the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    if len(data) < 8:
        raise CheckpointError(f"{path} is not a safetensors file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path} is not a safetensors file (no JSON header); resnet-ts checkpoints are .safetensors") from None
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        if info.get("dtype") not in DT_IN:
            raise CheckpointError(f"{path}: tensor {name} has dtype {info.get('dtype')}, which this script does not read")
        b, e = info["data_offsets"]
        if 8 + n + e > len(data):
            raise CheckpointError(f"{path} is truncated (tensor {name} ends past the end of the file)")
        arr = np.frombuffer(data[8 + n + b : 8 + n + e], dtype=np.dtype(DT_IN[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).astype(arr.dtype.newbyteorder("="), copy=True))
    return out, meta


# ------------------------------------------------------------------------------------ models
class ZeroPadShortcut(nn.Module):
    """Option A where the shape changes: x[:, :, ::s, ::s] plus zero channels, placed 'after' the
    identity channels (resnet-ts's default) or 'split' half before and half after."""

    def __init__(self, in_channels, out_channels, stride, padding="after"):
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.before = extra // 2 if padding == "split" else 0
        self.after = extra - self.before

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.before, self.after))


def conv_bn(cin, cout, k, stride, batch_norm):
    conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=not batch_norm)
    return conv, (nn.BatchNorm2d(cout) if batch_norm else None)


class Block(nn.Module):
    """resnet-ts's basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4) block with torchvision's names:
    relu(branch(x) + shortcut(x)), or relu(branch(x)) in a plain net."""

    def __init__(self, kind, cin, width, stride, shortcut, pad_placement, residual, batch_norm, stride_mode):
        super().__init__()
        if kind == "basic":
            units = [(cin, width, 3, stride), (width, width, 3, 1)]
            cout = width
        else:
            first = stride_mode == "v1"
            units = [(cin, width, 1, stride if first else 1), (width, width, 3, 1 if first else stride), (width, width * 4, 1, 1)]
            cout = width * 4
        self.n = len(units)
        for i, (a, b, k, s) in enumerate(units, 1):
            conv, bn = conv_bn(a, b, k, s, batch_norm)
            setattr(self, f"conv{i}", conv)
            if bn is not None:
                setattr(self, f"bn{i}", bn)
        self.residual = residual
        changes = stride != 1 or cin != cout
        if residual and shortcut == "A" and changes:
            if cout < cin:
                raise CheckpointError(f"option A cannot shrink channels ({cin} -> {cout})")
            self.zero_pad = ZeroPadShortcut(cin, cout, stride, pad_placement)  # no parameters: not in the state dict
        elif residual and (shortcut == "C" or (shortcut == "B" and changes)):
            conv, bn = conv_bn(cin, cout, 1, stride, batch_norm)
            self.downsample = nn.Sequential(conv, bn) if bn is not None else nn.Sequential(conv)
        self.out_channels = cout

    def forward(self, x):
        y = x
        for i in range(1, self.n + 1):
            y = getattr(self, f"conv{i}")(y)
            bn = getattr(self, f"bn{i}", None)
            if bn is not None:
                y = bn(y)
            if i < self.n:
                y = F.relu(y)
        if self.residual:
            if hasattr(self, "downsample"):
                y = y + self.downsample(x)
            elif hasattr(self, "zero_pad"):
                y = y + self.zero_pad(x)
            else:
                y = y + x
        return F.relu(y)


# Every spec field resnet-ts writes, and the values this module builds for each.
KNOWN_FIELDS = {
    "stem", "stemWidth", "stages", "shortcut", "shortcutParams", "residual", "numClasses", "inChannels",
    "inputSize", "strideMode", "zeroInitResidual", "batchNorm", "seed", "stemNorm", "finalNorm",
}


def check_spec(spec):
    """Refuses (CheckpointError, one line) any spec whose network this module would not build exactly."""
    if not isinstance(spec, dict):
        raise CheckpointError("the checkpoint has no architecture spec (metadata 'spec'): write it with resnet-ts (`resnet train` or `resnet convert --to resnet-ts`)")
    unknown = sorted(k for k in spec if k not in KNOWN_FIELDS and spec[k] not in (None, False))
    if unknown:
        raise CheckpointError(f"spec field(s) {', '.join(unknown)} are not built by this script: it would train a different network; extend resnet_ts_torch.py first")
    if spec.get("stem") not in ("imagenet", "cifar"):
        raise CheckpointError(f"spec.stem must be 'imagenet' or 'cifar'; got {spec.get('stem')!r}")
    for i, st in enumerate(spec.get("stages") or []):
        if st.get("block") not in ("basic", "bottleneck"):
            raise CheckpointError(f"spec.stages[{i}].block is {st.get('block')!r}: this script builds 'basic' and 'bottleneck' blocks only")
    if not spec.get("stages"):
        raise CheckpointError("spec.stages is empty")
    if spec.get("residual", True) and spec.get("shortcut") not in ("A", "B", "C"):
        raise CheckpointError(f"spec.shortcut is {spec.get('shortcut')!r}: this script builds options A, B and C only")
    params = spec.get("shortcutParams") or {}
    if set(params) - {"padding"} or params.get("padding", "after") not in ("after", "split"):
        raise CheckpointError(f"spec.shortcutParams {json.dumps(params)} is not option A's {{padding: 'after' | 'split'}}")
    for field, default in (("stemNorm", "bn-relu"), ("finalNorm", "none")):
        if spec.get(field, default) not in ("bn-relu", "none"):
            raise CheckpointError(f"spec.{field} must be 'bn-relu' or 'none'; got {spec.get(field)!r}")
    if spec.get("strideMode", "v1.5") not in ("v1", "v1.5"):
        raise CheckpointError(f"spec.strideMode must be 'v1' or 'v1.5'; got {spec.get('strideMode')!r}")


class ResNetTs(nn.Module):
    """The network a resnet-ts spec describes, with torchvision's module names (conv1, bn1,
    layerN.M.convK, layerN.M.downsample.0, fc), so a resnet-ts checkpoint loads with strict=True."""

    def __init__(self, spec):
        super().__init__()
        check_spec(spec)
        imagenet = spec["stem"] == "imagenet"
        bn = spec.get("batchNorm", True)
        stem_width = spec.get("stemWidth") or (64 if imagenet else 16)
        cin = spec.get("inChannels", 3)
        k = 7 if imagenet else 3
        self.conv1 = nn.Conv2d(cin, stem_width, k, 2 if imagenet else 1, (k - 1) // 2, bias=False)  # resnet-ts's stem conv has no bias
        self.stem_norm = spec.get("stemNorm", "bn-relu") == "bn-relu"
        if self.stem_norm and bn:
            self.bn1 = nn.BatchNorm2d(stem_width)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity()
        residual = spec.get("residual", True)
        pad = (spec.get("shortcutParams") or {}).get("padding", "after")
        channels = stem_width
        self.nstages = len(spec["stages"])
        for i, st in enumerate(spec["stages"]):
            blocks = []
            for b in range(st["depth"]):
                blk = Block(st["block"], channels, st["width"], st["stride"] if b == 0 else 1, spec.get("shortcut"), pad, residual, bn,
                            spec.get("strideMode", "v1.5"))
                channels = blk.out_channels
                blocks.append(blk)
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.final_norm = spec.get("finalNorm", "none") == "bn-relu"  # pre-activation nets: bn + relu after the last stage
        if self.final_norm and bn:
            self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, spec["numClasses"])

    def forward(self, x):
        x = self.conv1(x)
        if self.stem_norm:
            x = F.relu(self.bn1(x) if hasattr(self, "bn1") else x)
        x = self.maxpool(x)
        for i in range(self.nstages):
            x = getattr(self, f"layer{i + 1}")(x)
        if self.final_norm:
            x = F.relu(self.bn(x) if hasattr(self, "bn") else x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build_model(spec):
    """The nn.Module of a resnet-ts spec (see ResNetTs); CheckpointError for specs it cannot build exactly."""
    return ResNetTs(spec)


# ------------------------------------------------------------------------------------ checkpoints
def read_checkpoint(path):
    """Reads a resnet-ts checkpoint: (spec, state dict of the model's keys, extra tensors by name, metadata)."""
    tensors, meta = load_safetensors(path)
    if meta.get("format") != FORMAT or "spec" not in meta:
        raise CheckpointError(
            f"{path} is not a resnet-ts checkpoint (metadata format {meta.get('format')!r}, spec {'present' if 'spec' in meta else 'missing'}): "
            "make one with `resnet train` or `resnet convert <file> <out.safetensors> --to resnet-ts`")
    try:
        spec = json.loads(meta["spec"])
        extra_prefixes = json.loads(meta.get("extra_prefixes", "[]"))
    except ValueError as e:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({e})") from None
    state = {k: v for k, v in tensors.items() if k.split(".")[0] not in extra_prefixes}
    extra = {k: v for k, v in tensors.items() if k.split(".")[0] in extra_prefixes}
    return spec, state, extra, meta


def load_into(model, state, path):
    """load_state_dict(strict) with a one-line error naming missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "",
                 f"shapes differ: {shapes[:3]}" if shapes else ""]
        raise CheckpointError(f"{path}: the weights do not fit the architecture of its spec ({'; '.join(p for p in parts if p)})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def momentum_buffers(model, extra):
    """resnet-ts's SGD momenta (`optimizer.momentum.<param>`, stored in tfjs layouts: HWIO convs,
    [in, out] linear) in PyTorch layouts, by parameter; parameters without a stored buffer are absent."""
    out = {}
    for name, p in model.named_parameters():
        t = extra.get(f"optimizer.momentum.{name}")
        if t is None:
            continue
        if t.dim() == 4:
            t = t.permute(3, 2, 0, 1)
        elif t.dim() == 2:
            t = t.t()
        if t.shape != p.shape:
            raise CheckpointError(f"momentum buffer of {name} has shape {tuple(t.shape)} after the layout change; the parameter has {tuple(p.shape)}")
        out[name] = t.contiguous().float()
    return out


def _forward_cli(argv):
    """`python3 resnet_ts_torch.py forward <checkpoint> <input.npy NCHW> <logits.npy> [<checkpoint> <input> <logits> ...]`:
    eval-mode logits of resnet-ts checkpoints rebuilt in PyTorch (the check that this module builds what resnet-ts built)."""
    for ckpt, inp, outp in zip(argv[0::3], argv[1::3], argv[2::3]):
        spec, state, _, _ = read_checkpoint(ckpt)
        model = build_model(spec)
        load_into(model, state, ckpt)
        with torch.no_grad():
            y = model.eval()(torch.from_numpy(np.load(inp)).float())
        write_atomic(outp, lambda f: np.save(f, y.numpy()))


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 5 or sys.argv[1] != "forward" or (len(sys.argv) - 2) % 3:
        sys.exit("usage: resnet_ts_torch.py forward <checkpoint.safetensors> <input.npy (NCHW)> <logits.npy> [...more triples]")
    try:
        _forward_cli(sys.argv[2:])
    except CheckpointError as e:
        sys.exit(f"resnet_ts_torch.py: {e}")
