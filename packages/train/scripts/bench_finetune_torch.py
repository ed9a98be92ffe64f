#!/usr/bin/python3
"""PyTorch side of bench-finetune.js: the same fine-tuning step recipe as resnet-ts's trainer.

Reads uint8 NHWC images (.npy) and labels (.npy), builds torchvision's resnet18 with a `classes`-way
head, and then waits on stdin for `steps K` lines; for each it runs K training steps and prints one
JSON line {"seconds": [...]} (wall time per step). One step = the batch of 16 drawn in order,
per image RandomResizedCrop(224, scale 0.08-1, ratio 3/4-4/3, bilinear) + RandomHorizontalFlip on
the uint8 tensor, /255, normalise, forward, cross-entropy, backward, SGD(momentum 0.9, weight decay
1e-4) step, loss.item(). Eager fp32, `threads` intra-op threads; the model and each batch in
torch.channels_last when the optional sixth argument is `channels_last`, else in the default format.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T


def main():
    images_file, labels_file, classes, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    memory_format = torch.channels_last if sys.argv[6:7] == ["channels_last"] else torch.contiguous_format
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = torch.from_numpy(np.load(images_file)).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    labels = torch.from_numpy(np.load(labels_file).astype(np.int64))
    mean = images.float().mean(dim=(0, 2, 3)).view(1, -1, 1, 1) / 255
    std = (images.float() / 255).std(dim=(0, 2, 3)).view(1, -1, 1, 1)
    aug = T.Compose([T.RandomResizedCrop(images.shape[-1], scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip()])
    model = torchvision.models.resnet18(num_classes=classes)
    if images.shape[1] != 3:
        model.conv1 = torch.nn.Conv2d(images.shape[1], 64, 7, 2, 3, bias=False)
    model = model.to(memory_format=memory_format).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    pos = 0

    def step():
        nonlocal pos
        idx = [(pos + i) % len(labels) for i in range(batch)]
        pos += batch
        x = torch.stack([aug(images[i]) for i in idx]).float().div_(255)
        x = ((x - mean) / std).contiguous(memory_format=memory_format)
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    ready = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "channels_last": memory_format == torch.channels_last}
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "steps":
            break
        seconds = []
        for _ in range(int(parts[1])):
            t = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - t)
        print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
