#!/usr/bin/env node
// Micro-benchmark of the addon's conv kernels on CIFAR ResNet shapes (NHWC / HWIO), median of N runs.
//   node bench/conv-kernels.mjs [batch=128] [reps=20]   (ADDON=<file> times another build)
// Compare with bench/conv_torch.py (PyTorch CPU, same shapes, 2 threads).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const m = require(process.env.ADDON ?? join(root, 'build', 'Release', 'resnet_native.node'));
const batch = Number(process.argv[2] ?? 128);
const reps = Number(process.argv[3] ?? 20);

const shapes = [
  // [h, ci, co, k, stride]
  [32, 3, 16, 3, 1],
  [32, 16, 16, 3, 1],
  [32, 16, 32, 3, 2],
  [16, 32, 32, 3, 1],
  [16, 32, 64, 3, 2],
  [8, 64, 64, 3, 1],
  [32, 16, 32, 1, 2],
  [16, 32, 64, 1, 2],
];

function median(f) {
  for (let i = 0; i < 3; i++) f();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const s = process.hrtime.bigint();
    f();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  // min: the machine may be shared, and contention only ever adds time.
  return t[0];
}

const rnd = (n) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
console.log(`oneDNN ${m.version()}, batch ${batch}, min of ${reps} (ms)`);
console.log('shape'.padEnd(34), 'fwd'.padStart(8), 'bwd_data'.padStart(9), 'bwd_filt'.padStart(9), '  impl(fwd/bwd_data/bwd_weights)');
for (const [h, ci, co, k, s] of shapes) {
  const pad = (k - 1) >> 1;
  const oh = Math.floor((h + 2 * pad - k) / s) + 1;
  const p = [batch, h, h, ci, k, k, co, oh, oh, s, s, pad, pad, pad, pad, 1, 1];
  const x = rnd(batch * h * h * ci),
    w = rnd(k * k * ci * co),
    y = new Float32Array(batch * oh * oh * co);
  const dx = new Float32Array(x.length),
    dw = new Float32Array(w.length),
    dy = rnd(y.length);
  const f = median(() => m.conv2dForward(x, w, null, y, p, false));
  const bd = median(() => m.conv2dBackwardData(dy, w, dx, p));
  const bw = median(() => m.conv2dBackwardFilter(x, dy, dw, null, p));
  const impl = ['fwd', 'bwd_data', 'bwd_weights'].map((q) => m.convImpl(p, q)).join(' / ');
  const name = `[${batch},${h},${h},${ci}] ${k}x${k} ${ci}->${co} s${s}`;
  console.log(name.padEnd(34), f.toFixed(2).padStart(8), bd.toFixed(2).padStart(9), bw.toFixed(2).padStart(9), ' ', impl);
}
