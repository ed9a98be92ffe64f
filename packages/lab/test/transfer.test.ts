/**
 * The transfer experiment's code path at toy size (seconds, cpu): pretraining on two classes,
 * fine-tuning on two others four ways; the frozen backbone really stays unchanged while full
 * fine-tuning changes it, pretrained runs really start from the pretrained weights, the report is
 * written, a rerun reuses the finished runs, and no tensor leaks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { readWeightsFile } from '@resnet-ts/core/node';
import { Dataset, TrainOptions, train } from '@resnet-ts/train';
import { classSubset, getExperiment, runTransfer } from '../src/index.js';
import { TRANSFER_CONDITIONS, conditionLabel, findings, reportBody } from '../src/transfer-report.js';

/** 8x8 images of 4 classes, each a bright square in its own quadrant plus noise (learnable in a few steps). */
function toyData(n: number, seed: number): Dataset {
  const images = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let p = 0; p < 64; p++) {
      const [y, x] = [p >> 3, p & 7];
      const inside = (y < 4) === (c < 2) && (x < 4) === (c % 2 === 0);
      images[i * 64 + p] = Math.min(255, (inside ? 180 : 20) + Math.floor(rnd() * 60));
    }
  }
  return { images, labels, shape: [8, 8, 1], classes: ['a', 'b', 'c', 'd'] };
}

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-transfer-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('classSubset relabels the chosen classes and draws per-class samples by seed', () => {
  const d = toyData(40, 1);
  const s = classSubset(d, [3, 1], 4, 7);
  expect(s.classes).toEqual(['d', 'b']);
  expect([...s.labels].filter((l) => l === 0)).toHaveLength(4);
  expect([...s.labels].filter((l) => l === 1)).toHaveLength(4);
  expect(classSubset(d, [3, 1], 4, 7).images).toEqual(s.images);
  expect(classSubset(d, [3, 1], 4, 8).images).not.toEqual(s.images);
  expect(() => classSubset(d, [0, 1], 11)).toThrow(/has 10 images; 11 per class/);
});

test('pretrain, fine-tune four ways, report; frozen backbone unchanged; rerun reuses the runs', async () => {
  const trainSet = toyData(64, 1);
  const testSet = toyData(32, 2);
  const pretrainFile = path.join(dir, 'work', 'pretrain', 'model.safetensors');
  const starts: { freeze?: string; conv1: Float32Array; classes: number }[] = [];
  const trainFn = async (o: TrainOptions) => {
    const w = o.model.namedParameters().find(([n]) => n === 'conv1.weight')![1];
    starts.push({ freeze: o.freeze, conv1: w.dataSync() as Float32Array, classes: o.trainSet.classes.length });
    return train(o);
  };
  const options = {
    trainSet,
    testSet,
    out: path.join(dir, 'report'),
    workDir: path.join(dir, 'work'),
    sourceClasses: [0, 1],
    perClass: 4,
    seeds: [0, 2 ** 32 - 1], // the largest seed: its new head's seed wraps within the 32 bits models take
    depth: 8,
    widths: [4, 4, 4],
    padTo: [8, 8] as [number, number],
    pretrainEpochs: 1,
    pretrainBatch: 16,
    finetuneEpochs: 2,
    finetuneBatch: 4,
    finetuneLr: 0.05,
    trainFn,
    command: 'test',
  };
  const { result, files } = await runTransfer(options);
  expect(result.sourceClasses).toEqual(['a', 'b']);
  expect(result.targetClasses).toEqual(['c', 'd']);
  expect(result.runs).toHaveLength(8);
  for (const r of result.runs) {
    expect(r.testImages).toBe(16); // every test image of the two new classes
    expect(r.testImagesAll).toBe(16);
    expect(r.trainImages).toBe(8);
    expect(r.top1).toBeGreaterThanOrEqual(0);
    expect(r.top1).toBeLessThanOrEqual(1);
    if (r.freeze === 'backbone') expect(r.backboneMaxChange).toBe(0);
    else expect(r.backboneMaxChange).toBeGreaterThan(0);
  }
  // Different starts give different models: pretrained and scratch runs of a seed never share a test loss.
  for (const seed of [0, 2 ** 32 - 1]) {
    const of = (init: string) => result.runs.find((r) => r.seed === seed && r.init === init && r.freeze === 'none')!.testLoss;
    expect(of('pretrained')).not.toBe(of('scratch'));
  }
  expect(result.summary.map((s) => [s.label, s.n])).toEqual([
    ['pretrained, full fine-tune', 2],
    ['pretrained, frozen backbone', 2],
    ['scratch, full fine-tune', 2],
    ['scratch, frozen backbone', 2],
  ]);
  // The first trainFn call is the pretraining; then per seed: pretrained full, pretrained frozen, scratch full, scratch frozen.
  const pretrained = readWeightsFile(pretrainFile).tensors.get('conv1.weight')!;
  // Compared as sorted values: the file holds OIHW, the model HWIO.
  const sorted = (a: ArrayLike<number>) => Float32Array.from(a).sort();
  const pre = sorted(pretrained.data as Float32Array);
  const fine = starts.slice(1);
  expect(fine.map((s) => s.freeze)).toEqual(['none', 'backbone', 'none', 'backbone', 'none', 'backbone', 'none', 'backbone']);
  fine.forEach((s, i) => {
    const same = sorted(s.conv1).every((v, k) => v === pre[k]);
    expect(same).toBe(i % 4 < 2); // pretrained runs start from the pretrained conv1, scratch runs do not
    expect(s.classes).toBe(2);
  });
  for (const f of [files.json, files.markdown, ...files.plots]) expect(fs.existsSync(f)).toBe(true);
  const md = fs.readFileSync(files.markdown, 'utf8');
  expect(md).toMatch(/pretrained, frozen backbone \| [\d.]+ % ± [\d.]+/);
  expect(md).toMatch(/the freeze held exactly/);
  expect(md).toMatch(/Scored on all 16 test images of the new classes/);
  const whiskers = (fs.readFileSync(files.plots[0], 'utf8').match(/class="err"/g) ?? []).length;
  expect(whiskers).toBe(result.summary.filter((s) => s.std > 0).length); // mean ± std: one whisker per condition with a spread
  expect(getExperiment('transfer').description).toMatch(/pretrained vs scratch/);

  // Rerun: the pretraining and every fine-tuning run are reused (no training), the numbers are the same, no tensor is left behind.
  const before = tf.memory().numTensors;
  starts.length = 0;
  const again = await runTransfer(options);
  expect(starts).toHaveLength(1); // only the finished pretraining is resumed (it returns at once)
  expect(again.result.runs.map((r) => r.top1)).toEqual(result.runs.map((r) => r.top1));
  expect(tf.memory().numTensors).toBe(before);

  // The pretraining's refusals name `resnet lab transfer`'s options (--depth, --pretrain-epochs), never `resnet train`'s, and its way out.
  const refusal = async (extra: object) => {
    const e = await runTransfer({ ...options, ...extra }).then(() => undefined, (err: Error) => err);
    expect(e).toBeInstanceOf(Error);
    const m = (e as Error).message;
    for (const foreign of ['--val', '--iterations', '--model', '--init', '--classes', '--epochs', '--limit', '--force']) expect(m).not.toContain(foreign);
    return m;
  };
  expect(await refusal({ depth: 14 })).toMatch(
    /it holds another network than this run's .*\. Use the --depth \(and --source-classes\) of the run that made it, or --no-resume or another --work-dir\.$/,
  );
  expect(await refusal({ pretrainEpochs: 2 })).toMatch(
    /because the run's length does \(\d+ steps; this run \d+: give the run's --pretrain-epochs\); give the run's options, or start a new run with --no-resume or another --work-dir\.$/,
  );
  expect(await refusal({ pretrainLimit: 12 })).toMatch(/: the training set of 12 images differs from the run's \d+ \(--pretrain-limit, --source-classes\); /);
});

test('bad class choices are one clear error', async () => {
  const d = toyData(16, 1);
  await expect(runTransfer({ trainSet: d, testSet: d, sourceClasses: [0, 1], targetClasses: [1, 2], out: dir })).rejects.toThrow(/must not overlap/);
  await expect(runTransfer({ trainSet: d, testSet: d, sourceClasses: [0, 9], out: dir })).rejects.toThrow(/class 9 is not one of the data's 4 classes/);
  // Checked before the pretraining starts (nothing is written).
  await expect(runTransfer({ trainSet: d, testSet: d, sourceClasses: [0, 1], perClass: 5, out: path.join(dir, 'big') })).rejects.toThrow(/class 'c' has 4 training images; 5 per class/);
  expect(fs.existsSync(path.join(dir, 'big'))).toBe(false);
});

test('transfer findings: one seed or conditions near chance give no verdict; the scored test set is named as cut', () => {
  const summary = (means: number[], std: number, n: number) =>
    TRANSFER_CONDITIONS.map((c, i) => ({ ...c, label: conditionLabel(c), mean: means[i], std, meanLoss: 1, n }));
  // One seed, 5 new classes: pretrained 20 % / 21 %, scratch 17 % / 20 % (chance 20 %). Was "+3.00 points: pretraining helped".
  const one = findings(summary([0.2, 0.21, 0.17, 0.2], 0, 1), { classes: 5, testImages: 100 });
  for (const line of one) expect(line).not.toMatch(/helped|hurt|± 0\.00/);
  expect(one[0]).toMatch(/cannot tell: both errors are within 5 points of chance/);
  // One seed, well above chance, a big gap: still no verdict (the seed draws the few-shot sample).
  const big = findings(summary([0.9, 0.8, 0.6, 0.5], 0, 1), { classes: 5, testImages: 1000 });
  expect(big[0]).toMatch(/no evidence either way: one seed/);
  expect(big[0]).toMatch(/one seed: no spread/);
  // Three seeds, a gap far over twice the spread: a verdict.
  expect(findings(summary([0.9, 0.8, 0.6, 0.5], 0.01, 3), { classes: 5, testImages: 1000 })[0]).toMatch(/pretraining helped/);
  const run = {
    init: 'pretrained',
    freeze: 'none',
    seed: 0,
    top1: 0.2,
    testLoss: 1,
    testImages: 100,
    testImagesAll: 5000,
    trainImages: 25,
    stopped: 'done',
    backboneMaxChange: 1,
    seconds: 1,
  } as const;
  const result = {
    data: 'd',
    sourceClasses: ['a'],
    targetClasses: ['b', 'c'],
    perClass: 5,
    seeds: [0],
    depth: 8,
    recipe: { pretrain: {}, finetune: { weightDecay: 0, batch: 1, epochs: 1, lr: 0.1 } },
    pretrain: { trainImages: 1, epochs: 1, seconds: 1, imagesPerSec: 1, stopped: 'done' },
    runs: [run],
    summary: summary([0.2, 0.2, 0.2, 0.2], 0, 1),
  };
  expect(reportBody(result, 10)).toMatch(/Scored on the first 100 of the 5000 test images of the new classes/);
});
