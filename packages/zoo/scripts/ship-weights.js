#!/usr/bin/env node
/**
 * Ships weights trained by `resnet train` into the zoo (maintainers' tool; run from the repo after
 * `npm run build`):
 *   node packages/zoo/scripts/ship-weights.js <run dir> <zoo name> --command "<train command>" [--no-samples]
 * It evaluates the run's model.safetensors on the full Fashion-MNIST test split, copies the file to
 * weights/<name>.safetensors, writes the model card weights/<name>.card.json from what it measured
 * and the run's log.jsonl, and writes samples/<name>/: per class, the first test image (in test-set
 * order) that the shipped model classifies correctly, as a 28x28 PNG (skipped with --no-samples,
 * e.g. for a plain net shipped as a baseline). Every file is written to a temporary name and renamed.
 */
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
require('@resnet-ts/backend-node');
const { useBackend } = require('@resnet-ts/core');
const { loadCheckpoint, writeBytesAtomic } = require('@resnet-ts/core/node');
require('@resnet-ts/zoo');
const { loadData, evaluate, predict } = require('@resnet-ts/train');

async function main() {
  const [runDir, name] = process.argv.slice(2);
  const command = process.argv[process.argv.indexOf('--command') + 1];
  const withSamples = !process.argv.includes('--no-samples');
  if (!runDir || !name || !command) throw new Error('usage: ship-weights.js <run dir> <zoo name> --command "<train command>"');
  const engine = await useBackend('auto');
  const weights = path.join(runDir, 'model.safetensors');
  const { model, classes, preprocessing, spec } = loadCheckpoint(weights);
  model.eval();
  const { test } = await loadData('fashion-mnist', { channels: 1 });
  const prep = { mean: preprocessing.mean, std: preprocessing.std, padTo: preprocessing.padTo };
  const r = evaluate(model, test, { batchSize: 250, preprocessing: prep });
  const log = fs.readFileSync(path.join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const trainSeconds = log.reduce((s, e) => s + e.seconds, 0);
  const zoo = path.join(__dirname, '..');
  fs.mkdirSync(path.join(zoo, 'weights'), { recursive: true });
  const target = path.join(zoo, 'weights', `${name}.safetensors`);
  await writeBytesAtomic(target, fs.readFileSync(weights));
  const residual = spec.residual ?? true;
  const blocks = spec.stages.map((s) => s.depth);
  const depth = blocks.reduce((a, b) => a + b, 0) * (spec.stages[0].block === 'bottleneck' ? 3 : 2) + 2;
  const card = {
    architecture: `${spec.stem === 'cifar' ? 'cifar' : 'imagenet'} ${residual ? 'ResNet' : 'plain net (no shortcuts)'}, ${blocks.join('/')} ${spec.stages[0].block} blocks (${residual ? 'resnet' : 'plain'}${depth})${residual ? `, option ${spec.shortcut}` : ''}, ${spec.inChannels}-channel input`,
    dataset: 'fashion-mnist',
    top1: r.top1,
    top5: r.top5,
    testImages: test.labels.length,
    recipe: `${recipeOf(command, log.length)}, 4-pixel pad + random crop + horizontal flip, 28x28 zero-padded to 32x32, per-channel normalisation (mean ${prep.mean.map((v) => v.toFixed(4))}, std ${prep.std.map((v) => v.toFixed(4))})`,
    command,
    engine,
    trainSeconds: Math.round(trainSeconds),
    date: new Date().toISOString().slice(0, 10),
  };
  await writeAtomic(path.join(zoo, 'weights', `${name}.card.json`), JSON.stringify(card, null, 2) + '\n');
  if (!withSamples) {
    console.log(JSON.stringify(card, null, 2));
    model.dispose();
    return;
  }
  // Samples: first correctly classified test image of each class.
  const n = 300;
  const head = { ...test, images: test.images.subarray(0, n * 28 * 28), labels: test.labels.subarray(0, n) };
  const preds = await predict(model, head, { preprocessing: prep, channels: 1, classes, k: 1 });
  const dir = path.join(zoo, 'samples', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const labels = {};
  for (let c = 0; c < classes.length; c++) {
    const i = preds.findIndex((p, j) => head.labels[j] === c && p.top[0].label === classes[c]);
    if (i < 0) continue;
    const px = Buffer.from(test.images.subarray(i * 784, (i + 1) * 784));
    const file = path.join(dir, `${c}-${classes[c].replace(/[^A-Za-z0-9]+/g, '_')}.png`);
    await writeBytesAtomic(file, await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
    labels[path.basename(file)] = classes[c];
  }
  await writeAtomic(path.join(dir, 'labels.json'), JSON.stringify(labels, null, 2) + '\n');
  console.log(JSON.stringify({ ...card, samples: labels }, null, 2));
  model.dispose();
}

/** The optimiser part of the recipe, read from the `resnet train` command (the CLI's defaults where an option is absent). */
function recipeOf(command, epochs) {
  const arg = (name, fallback) => {
    const m = command.match(new RegExp(`--${name}[ =]([^ ]+)`));
    return m ? m[1] : fallback;
  };
  const lr = Number(arg('lr', '0.1'));
  const warmup = Number(arg('warmup', '0'));
  const kind = arg('schedule', 'multistep');
  const schedules = {
    multistep: `lr ${lr} divided by 10 at 50 % and 75 % of the steps`,
    paper: `lr ${lr} divided by 10 at steps 32,000 and 48,000`,
    cosine: `cosine lr from ${lr}`,
    constant: `constant lr ${lr}`,
  };
  const schedule = `${schedules[kind] ?? kind}${warmup > 0 ? ` (lr ${lr / 10} for the first ${warmup} steps)` : ''}`;
  return `SGD momentum ${arg('momentum', '0.9')}, batch ${arg('batch', '128')}, ${epochs} epochs, ${schedule}, weight decay ${arg('wd', '1e-4')}`;
}

/** Text through core's one atomic writer (temporary file, flush, rename). */
function writeAtomic(file, text) {
  return writeBytesAtomic(file, Buffer.from(text, 'utf8'));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
