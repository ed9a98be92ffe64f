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

test('the model card states at least the 92.5 % top-1 the zoo promises, and how to reproduce it', () => {
  expect(PRETRAINED.map((p) => p.name)).toContain(NAME);
  const card = modelCard(NAME);
  expect(card.top1).toBeGreaterThanOrEqual(0.925);
  expect(card.testImages).toBe(10_000);
  expect(card.command).toMatch(/^resnet train --model resnet20 --data fashion-mnist/);
  expect(card.trainSeconds).toBeGreaterThan(0);
});

(fs.existsSync(FMNIST) ? test : test.skip)(
  'evaluating the shipped weights on the 10,000 Fashion-MNIST test images reproduces the card (needs dataset-fashion-mnist)',
  async () => {
    await useBackend('auto');
    const { model, preprocessing, classes } = loadCheckpoint(pretrainedWeightsPath(NAME));
    model.eval();
    expect(classes).toHaveLength(10);
    const { test } = await loadData('fashion-mnist', { channels: 1 });
    const r = evaluate(model, test, { batchSize: 250, preprocessing: { mean: preprocessing!.mean, std: preprocessing!.std, padTo: preprocessing!.padTo } });
    expect(r.top1).toBeGreaterThanOrEqual(0.925);
    expect(Math.abs(r.top1 - modelCard(NAME).top1)).toBeLessThan(0.002);
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
