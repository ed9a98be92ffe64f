# PyTorch CPU reference for bench/resnet20-step.ts: the same CIFAR ResNet-20 (projection shortcuts),
# SGD step and forward (training-mode batch norm), wall median/min and process CPU time per call.
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/resnet20_torch.py [batch=32] [reps=5] [channels=3]
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
ch = int(sys.argv[3]) if len(sys.argv) > 3 else 3
class Block(nn.Module):
    def __init__(s, ci, co, st):
        super().__init__()
        s.c1 = nn.Conv2d(ci, co, 3, st, 1, bias=False); s.b1 = nn.BatchNorm2d(co)
        s.c2 = nn.Conv2d(co, co, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(co)
        s.proj = nn.Sequential(nn.Conv2d(ci, co, 1, st, bias=False), nn.BatchNorm2d(co)) if st != 1 or ci != co else None
    def forward(s, x):
        h = s.b2(s.c2(F.relu(s.b1(s.c1(x)))))
        return F.relu(h + (s.proj(x) if s.proj is not None else x))
layers = [nn.Conv2d(ch, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
ci = 16
for co, st in [(16, 1), (32, 2), (64, 2)]:
    for i in range(3):
        layers.append(Block(ci, co, st if i == 0 else 1)); ci = co
model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).train()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(batch, ch, 32, 32); y = torch.randint(0, 10, (batch,))
def step():
    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step(); loss.item()
def fwd():
    with torch.no_grad(): model(x).sum().item()
def timeit(f):
    f(); wall = []; c0 = time.process_time()
    for _ in range(reps):
        s = time.perf_counter(); f(); wall.append((time.perf_counter() - s) * 1e3)
    cpu = (time.process_time() - c0) * 1e3 / reps; wall.sort()
    return f"median {wall[len(wall)//2]:.1f} ms, min {wall[0]:.1f} ms, cpu {cpu:.1f} ms"
print(f"ResNet-20 torch {torch.__version__}, batch {batch}, 32x32x{ch}: SGD step {timeit(step)}; forward {timeit(fwd)} ({reps} reps)")
