#!/usr/bin/env python3
"""
Reference for the zoo's preprocessing test: torchvision's ImageNet transforms applied to real
photos, and the logits of a torchvision resnet18 (seeded random weights, random BN statistics) on them.

  /usr/bin/python3 packages/zoo/scripts/torchvision_preprocess.py --out DIR photo1.png photo2.jpg ...

writes to DIR:
  resnet18.safetensors       the weights (torchvision names and layouts; no metadata)
  resnet50.pth               a torchvision resnet50 (seeded init) saved with torch.save, for the .pth path
  <stem>.v1.npy, <stem>.v2.npy   the normalised input [1, 3, 224, 224] (float32, NCHW) of each photo
                              with IMAGENET1K_V1's transforms (resize 256, crop 224) and V2's (resize 232)
  <stem>.v1.logits.npy       resnet18's logits [1, 1000] on the V1 input
"""
import argparse
import os
import sys

import torch
import torchvision
from PIL import Image
from torchvision.models import ResNet18_Weights, ResNet50_Weights

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "parity"))
from make_fixtures import randomize, save_npy, save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-resnet50", action="store_true")
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(18)
    model = randomize(torchvision.models.resnet18(), 18).eval()
    save_safetensors(os.path.join(args.out, "resnet18.safetensors"), model.state_dict())
    if not args.no_resnet50:
        torch.manual_seed(50)
        torch.save(torchvision.models.resnet50().state_dict(), os.path.join(args.out, "resnet50.pth"))
    v1 = ResNet18_Weights.IMAGENET1K_V1.transforms()
    v2 = ResNet50_Weights.IMAGENET1K_V2.transforms()
    for photo in args.photos:
        stem = os.path.splitext(os.path.basename(photo))[0]
        img = Image.open(photo).convert("RGB")
        x1 = v1(img).unsqueeze(0)
        x2 = v2(img).unsqueeze(0)
        save_npy(os.path.join(args.out, f"{stem}.v1.npy"), x1.numpy())
        save_npy(os.path.join(args.out, f"{stem}.v2.npy"), x2.numpy())
        with torch.no_grad():
            save_npy(os.path.join(args.out, f"{stem}.v1.logits.npy"), model(x1).numpy())


if __name__ == "__main__":
    main()
