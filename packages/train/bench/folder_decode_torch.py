# The peer of folder-decode.mjs: torchvision's ImageFolder + Resize(224) + CenterCrop(224) (PIL bilinear) through a
# DataLoader with <workers> processes (default 2).
#   OMP_NUM_THREADS=1 /usr/bin/python3 packages/train/bench/folder_decode_torch.py /tmp/bigfolder [workers]
import sys, time, torch
from torchvision import datasets, transforms
torch.set_num_threads(1)
folder = sys.argv[1]
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
tf = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.PILToTensor()])
for r in range(2):
    t0 = time.time()
    ds = datasets.ImageFolder(folder, transform=tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=workers)
    n = sum(x.shape[0] for x, _ in dl)
    t = time.time() - t0
    print(f"torchvision ImageFolder, {workers} workers: {n} images in {t:.2f} s: {t / n:.3f} s/image")
