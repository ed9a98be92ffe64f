#!/usr/bin/python3
"""Peak resident memory of torchvision ResNet-50 forwards (eval, 224x224x3) in a fresh process.

Prints JSON: {"baselineKB": RSS peak after imports, "peakKB": RSS peak after the first forward,
"reusedPeakKB": after the third}.
Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 memory_pytorch.py [batch]
"""
import json
import os
import sys


def peak_rss_kb():
    """VmHWM: this process's own peak RSS. (ru_maxrss would include the parent's peak, inherited at fork.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torchvision  # noqa: E402

torch.set_num_threads(2)
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1
baseline = peak_rss_kb()
model = torchvision.models.resnet50().eval()
x = torch.zeros(batch, 3, 224, 224)
peaks = []
with torch.no_grad():
    for _ in range(3):
        model(x).sum().item()
        peaks.append(peak_rss_kb())
print(json.dumps({"baselineKB": baseline, "peakKB": peaks[0], "reusedPeakKB": peaks[-1], "torch": torch.__version__}))
