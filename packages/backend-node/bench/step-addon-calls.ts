/**
 * Where a training step's time goes, by native call: runs `resnet bench`'s ResNet-20 SGD step (batch
 * 128, SGD with momentum; `prepareWork`) with every function of the addon wrapped in a timer, and
 * prints the ms per step spent in each, then each step's wall time. What the calls do not cover is
 * tfjs's tape and dispatch and the garbage collector. Unlike tf.profile, nothing else is added to a step.
 *   node bench/run.mjs bench/step-addon-calls.ts [steps=20]
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { prepareWork } from '../src/bench.js';
import { loadAddon } from '../src/native/addon.js';
import '../src/index.js';

type AnyFn = (...args: unknown[]) => unknown;

/** Wraps each function of the addon so that it adds its wall time to `spent`. */
function timeAddonCalls(spent: Record<string, number>): void {
  const addon = loadAddon().addon as unknown as Record<string, AnyFn>;
  for (const [name, f] of Object.entries(addon)) {
    if (typeof f !== 'function') continue;
    addon[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return f(...args);
      } finally {
        spent[name] = (spent[name] ?? 0) + performance.now() - t0;
      }
    };
  }
}

async function main(): Promise<void> {
  await useBackend('native');
  const steps = Number(process.argv[2] ?? 20);
  const spent: Record<string, number> = {};
  timeAddonCalls(spent);
  const work = prepareWork({ kind: 'resnet20-train', batch: 128 }, createModel);
  for (let i = 0; i < 4; i++) await work.run(); // primitives built, buffer pool filled
  for (const k of Object.keys(spent)) delete spent[k];
  const wall: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await work.run();
    wall.push(performance.now() - t0);
  }
  const total = wall.reduce((a, b) => a + b, 0) / steps;
  const calls = Object.entries(spent).sort((a, b) => b[1] - a[1]);
  const inAddon = calls.reduce((a, [, v]) => a + v, 0) / steps;
  console.log(`ms per step: ${total.toFixed(1)}, of which in the addon ${inAddon.toFixed(1)}:`);
  console.log(calls.map(([k, v]) => `  ${k} ${(v / steps).toFixed(1)}`).join('\n'));
  console.log(`steps (ms): ${wall.map((t) => t.toFixed(0)).join(' ')}; tensors after: ${tf.memory().numTensors}`);
  work.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
