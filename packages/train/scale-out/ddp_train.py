#!/usr/bin/env python3
"""Continue training a resnet-ts checkpoint in PyTorch DistributedDataParallel, then hand it back.

When one machine (or one process) is not enough: resnet-ts writes safetensors checkpoints with
torchvision names and the architecture in their metadata. This script rebuilds exactly that
network in PyTorch (resnet_ts_torch.py), loads the weights (and the SGD momenta when the file has
them), trains with DDP on any number of processes or machines (`torchrun`; backend gloo on CPUs,
nccl on GPUs), evaluates on the test set and writes a resnet-ts checkpoint (same spec, classes and
preprocessing) that `resnet eval` / `resnet predict` / `fromPretrained` read back.

    torchrun --standalone --nproc_per_node 2 ddp_train.py \\
        --checkpoint runs/r20/model.safetensors --data fashion-mnist \\
        --epochs 5 --batch 256 --lr 0.01 --out runs/r20-ddp/model.safetensors
    resnet eval --weights runs/r20-ddp/model.safetensors --data fashion-mnist   # the same top-1

Data: IDX files (MNIST, Fashion-MNIST; `fashion-mnist` and `mnist` look in /usr/share/datasets as
resnet-ts does, or give the folder), read directly. Images are prepared as resnet-ts prepares them
(pixel/255, centred zero padding to `preprocessing.padTo`, (x - mean) / std with the checkpoint's
statistics); training augments with the paper's pad-4 random crop and a horizontal flip when the
checkpoint's training used one (without that record: for `--data fashion-mnist` only; `--flip` and
`--no-flip` decide). `--batch` is the global batch, split evenly over the processes; batch norm statistics are
per process (DDP's default) and rank 0's running statistics are the ones kept. The test accuracy is
computed by all processes on disjoint shards of the test set with rank 0's statistics, summed
exactly, and is the number `resnet eval` reports for the written file.

Prints one line per epoch and `test accuracy: P % (correct/total images)`; with --json, one JSON
object per event on stdout instead. Exit codes: 0 done, 1 bad input (one line on stderr), 3 the
run diverged (non-finite loss or weights; nothing written).
"""
import argparse
import datetime
import gzip
import json
import math
import os
import sys
import threading
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from resnet_ts_torch import FORMAT, CheckpointError, build_model, load_into, momentum_buffers, read_checkpoint, save_safetensors  # noqa: E402

# Seconds the end-of-run barrier waits for a rank, and then the process-group teardown may take.
TEARDOWN_SECONDS = 60

DATASETS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class UsageError(Exception):
    """Bad input: printed as one line, exit code 1."""


# ------------------------------------------------------------------------------------ data
def read_idx(path, ndim):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            with (gzip.open if candidate.endswith(".gz") else open)(candidate, "rb") as f:
                raw = f.read()
            break
    else:
        raise UsageError(f"{path}[.gz] not found")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8 or raw[3] != ndim:
        raise UsageError(f"{path}: not an IDX file of {ndim}-D unsigned bytes")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(raw) - 4 - 4 * ndim != count:
        raise UsageError(f"{path}: header promises {count} bytes of data, found {len(raw) - 4 - 4 * ndim}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data, split):
    """(images uint8 [N, H, W, 1], labels int64 [N]) of an IDX data set."""
    folder = DATASETS.get(data.lower(), data)
    if not os.path.isdir(folder):
        hint = " (apt-get install dataset-fashion-mnist)" if data.lower() == "fashion-mnist" else ""
        raise UsageError(f"--data {data}: folder {folder} not found{hint}; give fashion-mnist, mnist or a folder of IDX files")
    img_name, lab_name = IDX_FILES[split]
    images = read_idx(os.path.join(folder, img_name), 3)
    labels = read_idx(os.path.join(folder, lab_name), 1)
    if len(images) != len(labels):
        raise UsageError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return images[..., None], labels.astype(np.int64)


class Prepare:
    """resnet-ts's preprocessing (train/src/batches.ts): pixel/255, centred black padding to padTo,
    (x - mean) / std; augmentation: shift by up to `pad` pixels with black fill, optional flip."""

    def __init__(self, meta, image_hw, channels):
        try:
            prep = json.loads(meta.get("preprocessing", "{}"))
        except ValueError:
            raise UsageError("checkpoint metadata 'preprocessing' is not valid JSON") from None
        if "mean" not in prep or "std" not in prep:
            raise UsageError("the checkpoint stores no normalisation (preprocessing.mean/std): train it with `resnet train`")
        stored = prep.get("imageSize")
        if stored and list(stored) != list(image_hw):
            raise UsageError(f"the checkpoint was trained on {stored[0]}x{stored[1]} images, the data has {image_hw[0]}x{image_hw[1]}: "
                             "this script does not resize; give data of the trained size")
        if len(prep["mean"]) != channels:
            raise UsageError(f"the checkpoint normalises {len(prep['mean'])} channel(s); the data has {channels}")
        self.pad_to = prep.get("padTo") or list(image_hw)
        self.h, self.w = image_hw
        self.mean = torch.tensor(prep["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(prep["std"], dtype=torch.float32).view(1, -1, 1, 1)
        self.top = (self.pad_to[0] - self.h) // 2
        self.left = (self.pad_to[1] - self.w) // 2

    def __call__(self, images, augment=None, generator=None):
        """uint8 [n, H, W, C] -> normalised float32 [n, C, padH, padW]."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
        n, c = x.shape[:2]
        H, W = self.pad_to
        out = torch.zeros((n, c, H, W))
        if not augment:
            out[:, :, self.top : self.top + self.h, self.left : self.left + self.w] = x
        else:
            pad, flip = augment
            shifts = torch.randint(-pad, pad + 1, (n, 2), generator=generator)
            flips = torch.rand(n, generator=generator) < 0.5
            for i in range(n):
                xi = x[i].flip(-1) if flip and flips[i] else x[i]
                # The image lands at (top - dy, left - dx) of the padded output, cut at the borders.
                y0, x0 = self.top - int(shifts[i, 0]), self.left - int(shifts[i, 1])
                ys, xs = max(0, y0), max(0, x0)
                ye, xe = min(H, y0 + self.h), min(W, x0 + self.w)
                if ye > ys and xe > xs:
                    out[i, :, ys:ye, xs:xe] = xi[:, ys - y0 : ye - y0, xs - x0 : xe - x0]
        return (out - self.mean) / self.std


def recorded_flip(meta, data):
    """Whether resnet-ts trained with flips (the checkpoint's `training.augment.flip`); without that record,
    only for --data fashion-mnist (digits must not be flipped). Never guessed from a folder's name."""
    try:
        augment = json.loads(meta.get("training", "{}")).get("augment")
    except (ValueError, AttributeError):
        augment = None
    if isinstance(augment, dict) and isinstance(augment.get("flip"), bool):
        return augment["flip"]
    return data.lower() == "fashion-mnist"


# ------------------------------------------------------------------------------------ run
def parse_args(argv):
    p = argparse.ArgumentParser(description="Continue a resnet-ts checkpoint in PyTorch DDP and write one back.")
    p.add_argument("--checkpoint", required=True, help="resnet-ts checkpoint (.safetensors from `resnet train`)")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | mnist | a folder of IDX files")
    p.add_argument("--out", required=True, help="the resnet-ts checkpoint to write (.safetensors)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128, help="global batch size (split over the processes)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--limit", type=int, help="train on the first N training images")
    p.add_argument("--test-limit", type=int, help="evaluate on the first N test images")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips (default: as the checkpoint's training recorded, else on for --data fashion-mnist only)")
    p.add_argument("--no-momentum-state", action="store_true", help="start SGD from zero momentum even if the checkpoint holds momenta")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    a = p.parse_args(argv)
    for name in ("epochs", "batch", "limit", "test_limit"):
        v = getattr(a, name)
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer; got {v}")
    if not (a.lr > 0 and math.isfinite(a.lr)):
        raise UsageError(f"--lr must be a positive number; got {a.lr}")
    if not a.out.endswith(".safetensors"):
        raise UsageError(f"--out {a.out}: write a .safetensors file (the format resnet-ts reads with its metadata)")
    if os.path.abspath(a.out) == os.path.abspath(a.checkpoint):
        raise UsageError("--out must differ from --checkpoint (the input stays as it was)")
    if os.path.exists(a.out) and not a.force:
        raise UsageError(f"--out {a.out} exists: pass --force to replace it, or choose another file")
    return a


class Run:
    def __init__(self, args):
        self.a = args
        self.distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        if self.distributed:
            dist.init_process_group("gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world))

    def say(self, event, text, **fields):
        if self.rank != 0:
            return
        if self.a.json:
            print(json.dumps({"event": event, **fields}), flush=True)
        else:
            print(text, flush=True)

    def finish(self):
        """Leaves the process group once every rank is done. The teardown is bounded: the result is
        already written, and PyTorch's destroy_process_group can hang now and then
        (pytorch/pytorch#75097); a run that did its work must not hang its caller."""
        if not self.distributed:
            return
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=TEARDOWN_SECONDS))  # names a rank that never arrives
        closer = threading.Thread(target=dist.destroy_process_group, daemon=True)
        closer.start()
        closer.join(TEARDOWN_SECONDS)
        if closer.is_alive():
            print(f"ddp_train.py: rank {self.rank}: leaving the process group took over {TEARDOWN_SECONDS} s; exiting without it (the results are written)",
                  file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(0)

    def all_sum(self, values):
        t = torch.tensor(values, dtype=torch.float64)
        if self.distributed:
            dist.all_reduce(t)
        return t.tolist()


def train_epoch(run, model, opt, prep, data, epoch, lr_at):
    a = run.a
    images, labels = data
    n = len(labels)
    g = torch.Generator().manual_seed(a.seed * 100003 + epoch)
    order = torch.randperm(n, generator=g)  # the same order on every process
    per_rank = a.batch // run.world
    steps = math.ceil(n / a.batch)
    aug_gen = torch.Generator().manual_seed(a.seed * 1000003 + epoch * 101 + run.rank)
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for s in range(steps):
        batch = order[s * a.batch : (s + 1) * a.batch]
        mine = batch[run.rank * per_rank : (run.rank + 1) * per_rank] if len(batch) == a.batch else batch[run.rank :: run.world]
        if len(mine) == 0:  # a last partial batch smaller than the process count: every process must still step
            mine = batch[:1]
        x = prep(images[mine.numpy()], None if a.no_augment else (4, a.flip), aug_gen)
        y = torch.from_numpy(labels[mine.numpy()])
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch * steps + s, a.epochs * steps)
        out = model(x)
        loss = F.cross_entropy(out, y)
        if not torch.isfinite(loss):
            return None
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += int((out.argmax(1) == y).sum())
        seen += len(y)
    total_loss, total_correct, total_seen = run.all_sum([loss_sum, correct, seen])
    return total_loss / total_seen, total_correct / total_seen


@torch.no_grad()
def evaluate(run, model, prep, test, batch=256):
    """Top-1 on the test set, sharded over the processes (disjoint), summed exactly. Non-finite logits count as wrong."""
    images, labels = test
    model.eval()
    correct, total, nonfinite = 0, 0, 0
    mine = np.arange(run.rank, len(labels), run.world)
    for s in range(0, len(mine), batch):
        idx = mine[s : s + batch]
        out = model(prep(images[idx]))
        finite = torch.isfinite(out).all(1)
        y = torch.from_numpy(labels[idx])
        correct += int(((out.argmax(1) == y) & finite).sum())
        nonfinite += int((~finite).sum())
        total += len(idx)
    c, t, nf = run.all_sum([correct, total, nonfinite])
    return int(c), int(t), int(nf)


def all_finite(model):
    return all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())


def main(argv):
    a = parse_args(argv)
    run = Run(a)
    spec, state, extra, meta = read_checkpoint(a.checkpoint)
    model = build_model(spec)
    load_into(model, state, a.checkpoint)
    train_set = load_split(a.data, "train")
    test_set = load_split(a.data, "test")
    if a.limit:
        train_set = (train_set[0][: a.limit], train_set[1][: a.limit])
    if a.test_limit:
        test_set = (test_set[0][: a.test_limit], test_set[1][: a.test_limit])
    if a.flip is None:
        a.flip = recorded_flip(meta, a.data)
    channels = train_set[0].shape[3]
    if spec.get("inChannels", 3) != channels:
        raise UsageError(f"the checkpoint's network takes {spec.get('inChannels', 3)} channel(s); {a.data} has {channels}")
    classes = json.loads(meta.get("classes", "null") or "null")
    top = int(max(train_set[1].max(), test_set[1].max())) + 1
    if top > spec["numClasses"]:
        raise UsageError(f"{a.data} has labels up to {top - 1}; the checkpoint's head has {spec['numClasses']} outputs")
    if a.batch % run.world:
        raise UsageError(f"--batch {a.batch} does not split evenly over {run.world} processes")
    prep = Prepare(meta, train_set[0].shape[1:3], channels)

    ddp = DistributedDataParallel(model) if run.distributed else model
    opt = torch.optim.SGD(ddp.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    if a.momentum > 0 and not a.no_momentum_state:
        buffers = momentum_buffers(model, extra)
        for name, p in model.named_parameters():
            if name in buffers:
                opt.state[p]["momentum_buffer"] = buffers[name].clone()
        if buffers:
            run.say("momentum", f"SGD momenta of {len(buffers)} parameters restored from the checkpoint", restored=len(buffers))

    def lr_at(it, total):
        return a.lr if a.schedule == "constant" else 0.5 * a.lr * (1 + math.cos(math.pi * it / total))

    run.say("start", f"{a.checkpoint}: {sum(p.numel() for p in model.parameters())} parameters, {run.world} process(es), "
            f"{len(train_set[1])} train / {len(test_set[1])} test images, flips {'on' if a.flip else 'off'}",
            world=run.world, train=len(train_set[1]), test=len(test_set[1]), flip=a.flip)
    t0 = time.time()
    for epoch in range(a.epochs):
        r = train_epoch(run, ddp, opt, prep, train_set, epoch, lr_at)
        diverged = r is None or not all_finite(model)
        if run.all_sum([1.0 if diverged else 0.0])[0] > 0:
            run.say("diverged", f"epoch {epoch + 1}: the loss or the weights are not finite; nothing written (lower --lr)", epoch=epoch + 1)
            return 3
        run.say("epoch", f"epoch {epoch + 1}/{a.epochs}: train loss {r[0]:.4f}, train accuracy {100 * r[1]:.2f} %, {time.time() - t0:.1f} s",
                epoch=epoch + 1, trainLoss=r[0], trainAcc=r[1], seconds=time.time() - t0)
    if run.distributed:  # rank 0's batch-norm statistics are the ones written: evaluate with exactly those
        for b in model.buffers():
            dist.broadcast(b, 0)
    correct, total, nonfinite = evaluate(run, model, prep, test_set)
    if run.rank == 0:
        out_meta = {"format": FORMAT, "spec": meta["spec"], "preprocessing": meta["preprocessing"],
                    "trainedWith": json.dumps({"script": "ddp_train.py", "from": os.path.basename(a.checkpoint), "processes": run.world,
                                               "epochs": a.epochs, "batch": a.batch, "lr": a.lr, "schedule": a.schedule, "flip": a.flip,
                                               "torch": torch.__version__, "testTop1": correct / total, "testImages": total})}
        if classes is not None:
            out_meta["classes"] = meta["classes"]
        save_safetensors(a.out, model.state_dict(), out_meta)
    run.say("done", f"test accuracy: {100 * correct / total:.2f} % ({correct}/{total} images{f', {nonfinite} non-finite' if nonfinite else ''}); wrote {a.out}",
            correct=correct, total=total, top1=correct / total, nonFinite=nonfinite, out=a.out)
    run.finish()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (UsageError, CheckpointError) as e:
        print(f"ddp_train.py: {e}", file=sys.stderr)
        sys.exit(1)
