// Images/s of one SGD training step at batch 128 per CIFAR depth on the native engine (the real
// trainer, Fashion-MNIST padded to 32x32, augmentation on), for planning the papers' campaign.
// Usage: node scripts/experiments/measure-speed.cjs [steps=20] [nets=resnet20,...]  -> JSON lines on stdout.
require('@resnet-ts/backend-node');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { useBackend } = require('@resnet-ts/core');
const { resnet } = require('@resnet-ts/zoo');
const { loadData, takeFirst, train } = require('@resnet-ts/train');

const NETS = ['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110', 'plain20', 'plain32', 'plain44', 'plain56'];

async function main() {
  const steps = Number(process.argv[2] ?? 20);
  const nets = process.argv[3] ? process.argv[3].split(',') : NETS;
  await useBackend('native');
  const pair = await loadData('fashion-mnist', { seed: 0 });
  const batch = 128;
  const trainSet = takeFirst(pair.train, batch * steps);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'measure-speed-'));
  for (const name of nets) {
    const residual = name.startsWith('resnet');
    const depth = Number(name.replace(/\D/g, ''));
    const n = (depth - 2) / 6;
    const model = resnet({ block: 'basic', layers: [n, n, n], stem: 'cifar', residual, shortcut: 'A', inChannels: 1, numClasses: 10, seed: 0 });
    const times = [];
    let last = Date.now();
    const load0 = os.loadavg()[0];
    await train({
      model, trainSet, epochs: 1, batchSize: batch, lr: 0.1, seed: 0, preprocessing: { padTo: [32, 32] },
      augment: { pad: 4, flip: true }, outDir: path.join(tmp, name), force: true, progressBar: false,
      onProgress: () => { const now = Date.now(); times.push((now - last) / 1000); last = now; },
    });
    model.dispose();
    const steady = times.slice(3).sort((a, b) => a - b);
    const median = steady[Math.floor(steady.length / 2)];
    const mean = steady.reduce((s, t) => s + t, 0) / steady.length;
    console.log(JSON.stringify({ net: name, steps: times.length, batch, medianStepSeconds: median, imagesPerSecMedian: batch / median, imagesPerSecMean: batch / mean, loadavg1Before: load0, loadavg1After: os.loadavg()[0], date: new Date().toISOString() }));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); process.exit(1); });
