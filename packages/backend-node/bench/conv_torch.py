# PyTorch CPU reference for bench/conv-kernels.mjs (same shapes; NCHW, as PyTorch runs them).
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/conv_torch.py [batch=128] [reps=20]
import sys, time, torch
torch.set_num_threads(2)
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 128
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
shapes = [(32, 3, 16, 3, 1), (32, 16, 16, 3, 1), (32, 16, 32, 3, 2), (16, 32, 32, 3, 1), (16, 32, 64, 3, 2), (8, 64, 64, 3, 1), (32, 16, 32, 1, 2), (16, 32, 64, 1, 2)]
def median(f):
    for _ in range(3): f()
    t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e3)
    t.sort(); return t[0]  # min, as bench/conv-kernels.mjs
print(f"torch {torch.__version__}, batch {batch}, min of {reps} (ms)")
for h, ci, co, k, s in shapes:
    x = torch.randn(batch, ci, h, h, requires_grad=True); w = torch.randn(co, ci, k, k, requires_grad=True)
    pad = (k - 1) // 2
    with torch.no_grad():
        f = median(lambda: torch.nn.functional.conv2d(x, w, None, s, pad))
    y = torch.nn.functional.conv2d(x, w, None, s, pad); dy = torch.randn_like(y)
    def bwd(): torch.autograd.grad(y, (x, w), dy, retain_graph=True)
    both = median(bwd)
    print(f"[{batch},{h},{h},{ci}] {k}x{k} {ci}->{co} s{s}".ljust(34), f"{f:8.2f}", f"{both:9.2f} (bwd data+filter)")
