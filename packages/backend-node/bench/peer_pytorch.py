#!/usr/bin/python3
"""PyTorch CPU peer of `resnet bench`: the same work, timed the same way (median of N after a warm-up).

Run with Debian's /usr/bin/python3 (torch 1.13 + torchvision: apt-get install python3-torch
python3-torchvision), with PyTorch's own OpenMP settings (as its users run it), e.g.
    /usr/bin/python3 peer_pytorch.py --works resnet20-forward:32,resnet20-train:32 [--channels-last]
Works:
  resnet20-forward:B  CIFAR ResNet-20 (He et al. 2015, sec. 4.2: 3x3 stem, 3 stages of 3 basic blocks,
                      16/32/64 channels, option A shortcuts = stride-2 subsampling + zero-padded
                      channels), eval mode, 32x32x3 input, batch B
  resnet20-train:B    one SGD step (momentum 0.9, weight decay 1e-4, lr 0.01), train-mode batch norm,
                      softmax cross-entropy, batch B
  resnet18-forward:B  torchvision resnet18 (random weights), eval mode, 224x224x3, batch B
  resnet50-forward:B  torchvision resnet50 (random weights), eval mode, 224x224x3, batch B
"""
import argparse
import json
import resource
import statistics
import sys
import time


import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class ShortcutA(nn.Module):
    """Option A: identity, subsampled by the stride and zero-padded to the new width (no parameters)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = ShortcutA(cin, cout, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR-10 as in the paper; n=3 is ResNet-20 (0.27M parameters)."""

    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, width in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (b == 0 and i > 0) else 1))
                cin = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


CHANNELS_LAST = False  # --channels-last: models and inputs in torch.channels_last (NHWC in memory)


def in_format(t):
    return t.to(memory_format=torch.channels_last) if CHANNELS_LAST else t


def make_step(kind, batch):
    torch.manual_seed(1)
    if kind in ("resnet18-forward", "resnet50-forward"):
        import torchvision

        model = in_format(getattr(torchvision.models, kind.split("-")[0])().eval())
        x = in_format(torch.randn(batch, 3, 224, 224))

        def step():
            with torch.no_grad():
                model(x)

        return step
    model = in_format(CifarResNet())
    x = in_format(torch.randn(batch, 3, 32, 32))
    if kind == "resnet20-forward":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

        return step
    if kind == "resnet20-train":
        model.train()
        y = torch.arange(batch) % 10
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        return step
    raise SystemExit(f"unknown work {kind}")


def serve():
    """--serve: one JSON request per stdin line, one JSON answer per stdout line, so that `resnet bench`
    can interleave PyTorch's runs with its own: {"op": "prepare", "work": "resnet50-forward:8"} builds
    the work (answer {"ok": true}), {"op": "run"} runs it once and answers its {"ms", "page_faults"} (minor
    faults of this process during the run: memory the allocator took back from the OS); an error answers
    {"error"}. Starts by printing {"ready": true, "torch", "threads", "channels_last"}; ends at end of input."""
    step = None
    hello = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "channels_last": CHANNELS_LAST}
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req.get("op") == "prepare":
                kind, batch = req["work"].split(":")
                step = None
                step = make_step(kind, int(batch))
                answer = {"ok": True}
            elif req.get("op") == "run":
                if step is None:
                    raise ValueError("run before prepare")
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                step()
                ms = (time.perf_counter() - t0) * 1000
                answer = {"ms": ms, "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0}
            else:
                raise ValueError(f"unknown request {line.strip()[:80]}")
        except (Exception, SystemExit) as e:  # make_step ends with SystemExit on an unknown work
            answer = {"error": str(e)}
        print(json.dumps(answer), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--works", default="resnet20-forward:32,resnet20-forward:128,resnet20-train:32,resnet20-train:128,resnet18-forward:1,resnet50-forward:1,resnet50-forward:8")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--channels-last", action="store_true", help="models and inputs in torch.channels_last")
    ap.add_argument("--serve", action="store_true", help="answer prepare/run requests on stdin (see serve())")
    args = ap.parse_args()
    global CHANNELS_LAST
    CHANNELS_LAST = args.channels_last
    torch.set_num_threads(args.threads)
    if args.serve:
        return serve()
    out = []
    for item in args.works.split(","):
        kind, batch = item.strip().split(":")
        batch = int(batch)
        step = make_step(kind, batch)
        # The same warm-up rule as bench.ts's effectiveWarmup: at least 2 untimed runs, 3 for training steps.
        warmup = max(args.warmup, 3 if kind == "resnet20-train" else 2) if args.warmup > 0 else 0
        for _ in range(warmup):
            step()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1000)
        ms = statistics.median(times)
        row = {"kind": kind, "batch": batch, "ms": ms, "times": times, "torch": torch.__version__, "threads": torch.get_num_threads(), "channels_last": CHANNELS_LAST}
        out.append(row)
        if not args.json:
            print(f"{kind:18s} batch {batch:4d}: {ms:9.1f} ms  {batch * 1000 / ms:8.1f} images/s", flush=True)
    if args.json:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
