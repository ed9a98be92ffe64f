#!/usr/bin/env node
// How a forward's time depends on the idle pause before it (BENCHMARKS.md, "Pinned OpenMP workers"):
// runs `work` on the native engine 11 times after each pause of 0 ... 300 ms and prints the medians.
// A server answering single requests sees exactly this: a forward after some idle time.
//
//   node scripts/bench-after-pause.cjs [work, default resnet18-forward:1]
//   RESNET_TS_PIN_THREADS=0 node scripts/bench-after-pause.cjs   # without pinned OpenMP workers
require('@resnet-ts/backend-node');
const { bench } = require('@resnet-ts/backend-node');
const { createModel } = require('@resnet-ts/zoo');
const { useBackend } = require('@resnet-ts/core');
const { performance } = require('node:perf_hooks');
const { setTimeout: sleep } = require('node:timers/promises');

const GAPS_MS = [0, 1, 3, 10, 30, 100, 300];
const RUNS = 11;

(async () => {
  await useBackend('native');
  const work = bench.parseWork(process.argv[2] || 'resnet18-forward:1');
  const ours = bench.prepareWork(work, createModel);
  for (let i = 0; i < 5; i++) await ours.run();
  const cells = [];
  for (const gap of GAPS_MS) {
    const times = [];
    for (let r = 0; r < RUNS; r++) {
      if (gap) await sleep(gap);
      const t0 = performance.now();
      await ours.run();
      times.push(performance.now() - t0);
    }
    cells.push(`${gap} ms: ${bench.median(times).toFixed(2)}`);
  }
  console.log(`${bench.workLabel(work)}, median ms of ${RUNS} runs after a pause of  ${cells.join('  ')}`);
  ours.dispose();
  process.exit(0);
})();
