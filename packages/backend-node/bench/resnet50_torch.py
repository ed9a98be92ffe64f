# PyTorch CPU reference for bench/resnet50-forward.ts (torchvision resnet50, eval, no_grad).
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/resnet50_torch.py [batch=1] [reps=10]
import sys, time, torch, torchvision
torch.set_num_threads(2)
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
m = torchvision.models.resnet50().eval(); x = torch.randn(batch, 3, 224, 224)
def f():
    with torch.no_grad(): m(x).sum().item()
f(); wall = []; c0 = time.process_time()
for _ in range(reps):
    s = time.perf_counter(); f(); wall.append((time.perf_counter() - s) * 1e3)
cpu = (time.process_time() - c0) * 1e3 / reps; wall.sort()
print(f"ResNet-50 forward torch {torch.__version__}, batch {batch}: median {wall[len(wall)//2]:.1f} ms, min {wall[0]:.1f} ms, cpu {cpu:.1f} ms ({reps} reps)")
