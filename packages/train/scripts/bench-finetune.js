#!/usr/bin/env node
/**
 * ResNet-18 fine-tuning at 224x224: images/s of one training step of resnet-ts's trainer (`train()`
 * with the default augmentation at this size: random-resized-crop + flip, SGD momentum 0.9, weight
 * decay 1e-4, batch 16) next to PyTorch doing the same recipe (bench_finetune_torch.py, torchvision's
 * resnet18, RandomResizedCrop + RandomHorizontalFlip) in its default memory format and in
 * channels_last, in one run: rounds interleaved (ours, then each PyTorch's, repeated), medians over all
 * timed steps. The images: the first N Fashion-MNIST training
 * images upscaled to 224x224x3 (Pillow-style bilinear, gray repeated to RGB) — the same bytes for both.
 *
 *   node packages/train/scripts/bench-finetune.js [--backend auto] [--rounds 5] [--steps 3] [--images 64] [--threads 2]
 *
 * After `npx tsc -b packages/train`; PyTorch from /usr/bin/python3 (Debian's python3-torch).
 */
const { parseArgs } = require('node:util');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { performance } = require('node:perf_hooks');

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '3' },
    images: { type: 'string', default: '64' },
    threads: { type: 'string', default: String(os.cpus().length) },
    batch: { type: 'string', default: '16' },
  },
});
require('@resnet-ts/backend-node');
const { useBackend } = require('@resnet-ts/core');
const { npyHeader } = require('@resnet-ts/core/node');
const { createModel } = require('@resnet-ts/zoo');
const { defaultAugmentation, fitDataset, loadFashionMnist, takeFirst, train, channelStats } = require('../dist/index.js');

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];

function writeNpy(file, descr, shape, bytes) {
  fs.writeFileSync(file, Buffer.concat([Buffer.from(npyHeader(descr, shape)), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

/** A PyTorch worker that runs `steps K` on request and answers with the seconds of each step. */
function torchWorker(imagesFile, labelsFile, classes, batch, threads, memoryFormat) {
  const script = path.join(__dirname, 'bench_finetune_torch.py');
  const py = spawn('/usr/bin/python3', [script, imagesFile, labelsFile, String(classes), String(batch), String(threads), memoryFormat], {
    stdio: ['pipe', 'pipe', 'inherit'],
    // PyTorch's own OpenMP settings, as `resnet bench`'s peer: OMP_WAIT_POLICY=PASSIVE slowed it (BENCHMARKS.md).
    env: process.env,
  });
  const lines = readline.createInterface({ input: py.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  const next = () => new Promise((resolve) => waiting.push(resolve));
  return {
    ready: next(),
    steps: (k) => {
      const p = next();
      py.stdin.write(`steps ${k}\n`);
      return p;
    },
    close: () => py.stdin.end(),
  };
}

(async () => {
  const backend = await useBackend(a.backend, { training: true });
  const [rounds, steps, batch, threads] = [a.rounds, a.steps, a.batch, a.threads].map(Number);
  const data = fitDataset(takeFirst(loadFashionMnist('train'), Number(a.images)), [224, 224], 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-finetune-'));
  const imagesFile = path.join(dir, 'images.npy');
  const labelsFile = path.join(dir, 'labels.npy');
  writeNpy(imagesFile, '|u1', [data.labels.length, 224, 224, 3], data.images);
  writeNpy(labelsFile, '|u1', [data.labels.length], Uint8Array.from(data.labels));
  const peers = ['contiguous', 'channels_last'].map((format) => torchWorker(imagesFile, labelsFile, data.classes.length, batch, threads, format));
  const infos = await Promise.all(peers.map((p) => p.ready));
  const peerName = (info) => `PyTorch ${info.torch} eager${info.channels_last ? ' channels_last' : ''} (${info.threads} threads)`;

  const model = createModel('resnet18', { numClasses: data.classes.length, inChannels: 3 });
  const preprocessing = channelStats(data);
  const augment = defaultAugmentation([224, 224], true);
  /** `k` timed steps of the trainer (one extra first step absorbs the call's setup and is not counted). */
  const ours = async (k, seed) => {
    const stamps = [];
    await train({ model, trainSet: data, iterations: k + 1, batchSize: batch, lr: 0.01, momentum: 0.9, weightDecay: 1e-4, seed, preprocessing, augment, progressBar: false, onProgress: () => stamps.push(performance.now()) });
    return stamps.slice(1).map((t, i) => (t - stamps[i]) / 1000);
  };
  console.error(`warm-up: one step each (${backend}, ${infos.map(peerName).join(', ')})`);
  await ours(1, 99);
  for (const p of peers) await p.steps(1);
  const t = { ours: [], peers: peers.map(() => []) };
  for (let r = 0; r < rounds; r++) {
    t.ours.push(...(await ours(steps, r)));
    for (const [i, p] of peers.entries()) t.peers[i].push(...(await p.steps(steps)).seconds);
    const last = (v) => `${median(v.slice(-steps)).toFixed(3)} s/step`;
    console.error(`round ${r + 1}/${rounds}: resnet-ts ${last(t.ours)}, PyTorch ${t.peers.map(last).join(' / channels_last ')}`);
  }
  for (const p of peers) p.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const row = (name, v) => ({ engine: name, steps: v.length, medianSeconds: median(v), imagesPerSec: batch / median(v), min: Math.min(...v), max: Math.max(...v) });
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    loadavg: os.loadavg(),
    recipe: `resnet18 (${data.classes.length} classes) at 224x224x3, batch ${batch}, random-resized-crop + flip, SGD momentum 0.9 wd 1e-4; ${data.labels.length} Fashion-MNIST images upscaled`,
    results: [row(`resnet-ts ${backend}`, t.ours), ...infos.map((info, i) => row(peerName(info), t.peers[i]))],
  };
  console.log(JSON.stringify(result, null, 2));
  model.dispose();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
