# PyTorch CPU reference for bench/conv-kernels.mjs (same shapes and columns: forward, backward to the
# data, backward to the filter; min of reps).
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/conv_torch.py [batch=128] [reps=20] [--channels-last]
# NCHW by default, as PyTorch runs convs unless told; --channels-last runs them on NHWC tensors, the
# layout of the channels_last training peer and of resnet-ts's activations.
import sys, time, torch
torch.set_num_threads(2)
args = [a for a in sys.argv[1:] if not a.startswith('--')]
channels_last = '--channels-last' in sys.argv[1:]
batch = int(args[0]) if len(args) > 0 else 128
reps = int(args[1]) if len(args) > 1 else 20
shapes = [(32, 3, 16, 3, 1), (32, 16, 16, 3, 1), (32, 16, 32, 3, 2), (16, 32, 32, 3, 1), (16, 32, 64, 3, 2), (8, 64, 64, 3, 1), (32, 16, 32, 1, 2), (16, 32, 64, 1, 2)]
fmt = torch.channels_last if channels_last else torch.contiguous_format
def best(f):
    for _ in range(3): f()
    t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e3)
    return min(t)  # min, as bench/conv-kernels.mjs: contention only ever adds time
print(f"torch {torch.__version__}, batch {batch}, {'channels_last' if channels_last else 'NCHW'}, min of {reps} (ms)")
print('shape'.ljust(34), 'fwd'.rjust(8), 'bwd_data'.rjust(9), 'bwd_filt'.rjust(9))
for h, ci, co, k, s in shapes:
    x = torch.randn(batch, ci, h, h).to(memory_format=fmt).requires_grad_()
    w = torch.randn(co, ci, k, k).to(memory_format=fmt).requires_grad_()
    pad = (k - 1) // 2
    with torch.no_grad():
        f = best(lambda: torch.nn.functional.conv2d(x, w, None, s, pad))
    y = torch.nn.functional.conv2d(x, w, None, s, pad)
    dy = torch.randn_like(y).contiguous(memory_format=fmt)
    bd = best(lambda: torch.autograd.grad(y, x, dy, retain_graph=True))
    bw = best(lambda: torch.autograd.grad(y, w, dy, retain_graph=True))
    print(f"[{batch},{h},{h},{ci}] {k}x{k} {ci}->{co} s{s}".ljust(34), f"{f:8.2f}", f"{bd:9.2f}", f"{bw:9.2f}")
