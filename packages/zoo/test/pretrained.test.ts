/**
 * The trained weights shipped in the zoo: their measured accuracy holds on the full Fashion-MNIST
 * test split, and the bundled sample images are classified as their true class.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadCheckpoint } from '@resnet-ts/core/node';
import { PRETRAINED } from '@resnet-ts/zoo';
import { modelCard, pretrainedWeightsPath, sampleImages } from '@resnet-ts/zoo/node';
import { evaluate, loadData } from '@resnet-ts/train';

const NAME = 'resnet20-fashion-mnist';
const FMNIST = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

test('the ResNet-20 model card states at least the 92.5 % top-1 the zoo promises', () => {
  expect(PRETRAINED.map((p) => p.name)).toContain(NAME);
  expect(modelCard(NAME).top1).toBeGreaterThanOrEqual(0.925);
});

test.each(PRETRAINED.map((p) => p.name))('the model card of %s says how it was made and measured', (name) => {
  const card = modelCard(name);
  expect(card.testImages).toBe(10_000);
  const arch = name.split('-')[0];
  expect(card.command).toMatch(new RegExp(`^resnet train --model ${arch} --data fashion-mnist`));
  expect(card.architecture).toContain(arch);
  expect(card.trainSeconds).toBeGreaterThan(0);
});

(fs.existsSync(FMNIST) ? test.each(PRETRAINED.map((p) => p.name)) : test.skip.each(PRETRAINED.map((p) => p.name)))(
  'evaluating %s on the 10,000 Fashion-MNIST test images reproduces its card (needs dataset-fashion-mnist)',
  async (name) => {
    await useBackend('auto');
    const { model, preprocessing, classes } = loadCheckpoint(pretrainedWeightsPath(name));
    model.eval();
    expect(classes).toHaveLength(10);
    const { test } = await loadData('fashion-mnist', { channels: 1 });
    const r = evaluate(model, test, { batchSize: 250, preprocessing: { mean: preprocessing!.mean, std: preprocessing!.std, padTo: preprocessing!.padTo } });
    expect(Math.abs(r.top1 - modelCard(name).top1)).toBeLessThan(0.002);
    expect(Math.abs(r.top5 - modelCard(name).top5)).toBeLessThan(0.002);
    model.dispose();
  },
);

test('`resnet predict --model resnet20-fashion-mnist` labels every bundled sample with its true class', () => {
  const samples = sampleImages(NAME);
  expect(samples.length).toBeGreaterThanOrEqual(8);
  const bin = path.join(__dirname, '..', '..', 'cli', 'bin', 'resnet.js');
  const r = spawnSync(process.execPath, [bin, 'predict', '--model', NAME, '--top', '1', '--json', ...samples.map((s) => s.file)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.status).toBe(0);
  const preds = JSON.parse(r.stdout) as { top: { label: string }[] }[];
  expect(preds.map((p) => p.top[0].label)).toEqual(samples.map((s) => s.label));
});
