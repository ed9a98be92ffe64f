#!/usr/bin/env node
// The cost of one small native kernel call: 2 million 16-float `Mul`s through the addon, the output
// reused (so that only the call and the kernel's own overhead are timed, not allocation).
//   node bench/small-kernel-calls.mjs [calls=2000000]
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const m = require(process.env.ADDON ?? join(root, 'build', 'Release', 'resnet_native.node'));
const calls = Number(process.argv[2] ?? 2e6);
const a = new Float32Array(16).fill(1),
  b = new Float32Array(1).fill(0.5),
  y = new Float32Array(16);
for (let i = 0; i < 1000; i++) m.binary('Mul', a, 0, b, 1, y, 1, 16);
const t0 = performance.now();
for (let i = 0; i < calls; i++) m.binary('Mul', a, 0, b, 1, y, 1, 16);
console.log(`${(((performance.now() - t0) * 1000) / calls).toFixed(2)} us per 16-float Mul call (${calls} calls)`);
