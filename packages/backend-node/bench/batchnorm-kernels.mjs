#!/usr/bin/env node
// Micro-benchmark of the addon's train-mode batch norm (forward with residual + ReLU, and its gradient)
// on the ResNet-20 batch-128 stage shapes, median of N runs, against a plain copy of the same size (a
// memory-bandwidth yardstick), and the sum over the 19 batch norms of one training step.
//   node bench/batchnorm-kernels.mjs [reps=50]      (ADDON=path/to/other.node compares another build)
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
const require = createRequire(import.meta.url);
process.env.GOMP_SPINCOUNT ??= '100000';
const addon = require(process.env.ADDON ?? '../build/Release/resnet_native.node');
addon.pinWorkerThreads(); // as the engine does: one OpenMP thread per CPU
const reps = Number(process.argv[2] ?? 50);
const rnd = (n) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1 + 0.3;
  return a;
};
const time = (f) => {
  for (let i = 0; i < 3; i++) f();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
};
let tot = { f: 0, g: 0, c: 0 };
for (const [shape, count] of [
  [[128, 32, 32, 16], 7],
  [[128, 16, 16, 32], 6],
  [[128, 8, 8, 64], 6],
]) {
  const c = shape[3],
    n = shape.reduce((a, b) => a * b);
  const x = rnd(n),
    res = rnd(n),
    dy = rnd(n),
    y = new Float32Array(n),
    dx = new Float32Array(n),
    dres = new Float32Array(n),
    cp = new Float32Array(n);
  const sc = rnd(c),
    off = rnd(c),
    mean = new Float32Array(c),
    v = new Float32Array(c),
    ds = new Float32Array(c),
    doff = new Float32Array(c),
    z = new Float32Array(c);
  const f = time(() => addon.batchNormTrain(x, sc, off, 1e-5, c, y, mean, v, res, true));
  const g = time(() => addon.batchNormTrainGrad(dy, z, z, x, sc, mean, v, 1e-5, c, dx, ds, doff, y, dres));
  const cpy = time(() => cp.set(x));
  tot.f += f * count;
  tot.g += g * count;
  tot.c += cpy * count;
  console.log(shape.join('x'), `fwd ${f.toFixed(3)} ms, grad ${g.toFixed(3)} ms, copy ${cpy.toFixed(3)} ms`);
}
console.log(`per step (19 BNs): fwd ${tot.f.toFixed(1)} ms, grad ${tot.g.toFixed(1)} ms, copies ${tot.c.toFixed(1)}`);
