/**
 * Fine-tuning: freeze semantics (no gradient, no update, no momentum, batch-norm statistics
 * bit-identical), head replacement from a real source (the shipped resnet20-fashion-mnist and a
 * 3-channel safetensors saved here), the head's own learning rate, and the best-on-validation
 * checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { BatchNorm2d, ResNet, useBackend } from '@resnet-ts/core';
import { loadSafetensors } from '@resnet-ts/core/node';
import { resnet } from '@resnet-ts/zoo';
import { pretrainedWeightsPath } from '@resnet-ts/zoo/node';
import {
  BEST_FILE,
  FASHION_MNIST_CLASSES,
  TrainOptions,
  applyFreeze,
  evaluate,
  frozenPrefixes,
  initFromPretrained,
  loadWeights,
  readWeightsInfo,
  saveWeights,
  train,
  weightsMetadata,
} from '../src/index.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

function snapshot(model: ResNet): Map<string, Float32Array | Int32Array> {
  const sd = model.stateDict();
  const out = new Map([...sd].map(([k, t]) => [k, t.dataSync().slice() as Float32Array | Int32Array]));
  tf.dispose([...sd.values()]);
  return out;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

const quick = (model: ResNet, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  model,
  trainSet: synthetic(32, 8),
  iterations: 2,
  batchSize: 16,
  lr: 0.05,
  seed: 3,
  progressBar: false,
  ...extra,
});

test('freeze names the stem, the first stages or the whole backbone; a stage the model lacks is an error', () => {
  const m = tinyModel();
  expect(frozenPrefixes(m, 'none')).toEqual([]);
  expect(frozenPrefixes(m, 'stem')).toEqual(['conv1', 'bn1', 'relu']);
  expect(frozenPrefixes(m, 'up-to:layer2')).toEqual(['conv1', 'bn1', 'relu', 'layer1', 'layer2']);
  expect(frozenPrefixes(m, 'backbone')).not.toContain('fc');
  expect(() => frozenPrefixes(m, 'up-to:layer4')).toThrow(/up-to:layer4: the model has 3 stages/);
  expect(() => frozenPrefixes(m, 'layer1' as never)).toThrow(/freeze must be none, stem, up-to:layerK or backbone/);
  expect(() => applyFreeze(m, 'backbone')).not.toThrow();
  m.dispose();
});

test('a pre-activation net: stem and up-to:layerK stop before the last stage; its final batch norm is frozen only with backbone', () => {
  const m = resnet({ block: 'preact-basic', layers: [1, 1, 1], stem: 'cifar', widths: [4, 8, 8], stemWidth: 4, numClasses: 3, seed: 1 });
  const names = m.children().map(([n]) => n);
  expect(names).toContain('bn');
  expect(frozenPrefixes(m, 'stem')).toEqual(['conv1']);
  expect(frozenPrefixes(m, 'up-to:layer3')).toEqual(['conv1', 'layer1', 'layer2', 'layer3']);
  expect(frozenPrefixes(m, 'backbone')).toContain('bn');
  const parts = applyFreeze(m, 'stem');
  expect(parts.frozen).toEqual(['conv1.weight']);
  expect(parts.frozenBatchNorms).toBe(0);
  applyFreeze(m, 'none');
  m.dispose();
});

test.each(['stem', 'up-to:layer2', 'backbone'] as const)(
  'freeze %s: frozen weights AND batch-norm running statistics are bit-identical after training steps; the rest trains; no momenta for frozen parts',
  async (freeze) => {
    const model = tinyModel(2);
    const before = snapshot(model);
    const dir = tmpDir();
    const tensorsBefore = tf.memory().numTensors;
    const res = await train(quick(model, { freeze, outDir: dir, momentum: 0.9 }));
    expect(res.stopped).toBe('done');
    model.clearAllCaches(); // option A's shortcut selectors, rebuilt on demand
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const after = snapshot(model);
    const prefixes = frozenPrefixes(model, freeze);
    const frozen = (k: string) => prefixes.some((p) => k.startsWith(`${p}.`));
    let frozenKeys = 0;
    let changedTrainable = 0;
    for (const [k, v] of before) {
      if (frozen(k)) {
        frozenKeys++;
        expect([k, same(v, after.get(k)!)]).toEqual([k, true]); // weights, running_mean/var, num_batches_tracked
      } else if (!same(v, after.get(k)!)) changedTrainable++;
    }
    expect(frozenKeys).toBeGreaterThan(4);
    expect(changedTrainable).toBeGreaterThan(1);
    // The unfrozen batch norms did update their statistics (train mode is still on for them).
    if (freeze !== 'backbone') expect(same(before.get('layer3.0.bn1.running_mean')!, after.get('layer3.0.bn1.running_mean')!)).toBe(false);
    const { tensors } = await loadSafetensors(path.join(dir, 'checkpoint.safetensors'));
    const momenta = [...tensors.keys()].filter((k) => k.startsWith('optimizer.momentum.'));
    expect(momenta.length).toBeGreaterThan(0);
    expect(momenta.filter((k) => frozen(k.slice('optimizer.momentum.'.length)))).toEqual([]);
    tf.dispose([...tensors.values()]);
    model.dispose();
  },
);

test('a frozen batch norm normalises with its running statistics in a training step (eval mode inside train)', () => {
  const bn = new BatchNorm2d(2);
  tf.tidy(() => {
    bn.runningMean.assign(tf.tensor1d([1, -1]));
    bn.runningVar.assign(tf.tensor1d([4, 0.25]));
  });
  bn.frozenStatistics = true;
  const x = tf.tensor4d([3, 0, 5, -2], [1, 2, 1, 2]);
  const y = bn.forward(x, { training: true });
  const expected = [(3 - 1) / Math.sqrt(4 + 1e-5), (0 + 1) / Math.sqrt(0.25 + 1e-5), (5 - 1) / Math.sqrt(4 + 1e-5), (-2 + 1) / Math.sqrt(0.25 + 1e-5)];
  Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
  expect(Array.from(bn.runningMean.dataSync())).toEqual([1, -1]);
  tf.dispose([x, y]);
  bn.dispose();
});

test('head replacement from the shipped resnet20-fashion-mnist: backbone weights kept exactly, new fc initialised as torchvision', async () => {
  const original = await initFromPretrained('resnet20-fashion-mnist', { classes: FASHION_MNIST_CLASSES });
  const shipped = snapshot(original.model);
  original.model.dispose();
  const notes: string[] = [];
  const init = await initFromPretrained('resnet20-fashion-mnist', { classes: ['boot', 'shirt', 'bag'], seed: 4, log: (m) => notes.push(m) });
  expect(init.headReplaced).toBe(true);
  expect(init.model.spec.numClasses).toBe(3);
  expect(init.model.training).toBe(true);
  expect(notes.join('\n')).toMatch(/new 3-class head \(the source has 10 outputs\)/);
  expect(init.preprocessing.mean[0]).toBeCloseTo(0.286, 3); // the source's normalisation, not the data's
  const got = snapshot(init.model);
  for (const [k, v] of shipped) {
    if (k.startsWith('fc.')) continue;
    expect([k, same(v, got.get(k)!)]).toEqual([k, true]);
  }
  const w = got.get('fc.weight')!;
  expect(w.length).toBe(64 * 3);
  const bound = 1 / Math.sqrt(64);
  expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(bound);
  expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(0.8 * bound); // uniform over the whole range, not zeros
  // The same class names: the pretrained head is kept.
  const kept = await initFromPretrained('resnet20-fashion-mnist', { classes: FASHION_MNIST_CLASSES });
  expect(kept.headReplaced).toBe(false);
  expect(same(snapshot(kept.model).get('fc.weight')!, shipped.get('fc.weight')!)).toBe(true);
  // A 1-channel source on RGB data is a clear error.
  await expect(initFromPretrained('resnet20-fashion-mnist', { classes: ['a', 'b'], channels: 3 })).rejects.toThrow(
    /takes 1-channel images; the data has 3 channel\(s\)\. Use --channels 1/,
  );
  expect(fs.existsSync(pretrainedWeightsPath('resnet20-fashion-mnist'))).toBe(true);
  init.model.dispose();
  kept.model.dispose();
});

test('classes as a number, as fromPretrained takes it: the source head at its own count, else a new head with output numbers as labels', async () => {
  const shipped = await initFromPretrained('resnet20-fashion-mnist', { classes: FASHION_MNIST_CLASSES });
  const ten = await initFromPretrained('resnet20-fashion-mnist', { classes: 10 });
  expect(ten.headReplaced).toBe(false);
  expect(same(snapshot(ten.model).get('fc.weight')!, snapshot(shipped.model).get('fc.weight')!)).toBe(true);
  const three = await initFromPretrained('resnet20-fashion-mnist', { classes: 3, seed: 4 });
  expect(three.headReplaced).toBe(true);
  expect(three.model.spec.numClasses).toBe(3);
  for (const bad of [1, 2.5, -3, Number.NaN, '3', ['a', 2]])
    await expect(initFromPretrained('resnet20-fashion-mnist', { classes: bad as never })).rejects.toThrow(
      /^classes must be the new task's class names \(an array of strings\) or their number \(a whole number of at least 2\); got /,
    );
  for (const m of [shipped, ten, three]) m.model.dispose();
});

test("classes the source knows by name, reordered or a subset: its head's outputs for them are kept, in the data's order", async () => {
  const original = await initFromPretrained('resnet20-fashion-mnist', { classes: FASHION_MNIST_CLASSES });
  const x = tf.randomUniform([3, 32, 32, 1], 0, 1, 'float32', 5);
  const logits = tf.tidy(() => original.model.eval().forward(x));
  for (const classes of [[...FASHION_MNIST_CLASSES].reverse(), [FASHION_MNIST_CLASSES[8], FASHION_MNIST_CLASSES[0], FASHION_MNIST_CLASSES[7]]]) {
    const notes: string[] = [];
    const init = await initFromPretrained('resnet20-fashion-mnist', { classes, log: (m) => notes.push(m) });
    expect(init.headReplaced).toBe(false);
    expect(notes.join('\n')).toMatch(/kept the source's head, its outputs picked by class name/);
    const rows = classes.map((c) => FASHION_MNIST_CLASSES.indexOf(c));
    const want = tf.tidy(() => tf.gather(logits, tf.tensor1d(rows, 'int32'), 1));
    const got = tf.tidy(() => init.model.eval().forward(x));
    expect(same(got.dataSync(), want.dataSync())).toBe(true);
    tf.dispose([want, got]);
    init.model.dispose();
  }
  // Folder names as eval pairs them (case and punctuation aside): 'T-shirt_top' is 'T-shirt/top'.
  const folders = ['t-shirt_top', 'TROUSER', 'ankle boot'];
  const byKey = await initFromPretrained('resnet20-fashion-mnist', { classes: folders });
  expect(byKey.headReplaced).toBe(false);
  const want = tf.tidy(() => tf.gather(logits, tf.tensor1d([0, 1, 9], 'int32'), 1));
  const got = tf.tidy(() => byKey.model.eval().forward(x));
  expect(same(got.dataSync(), want.dataSync())).toBe(true);
  tf.dispose([want, got]);
  byKey.model.dispose();
  // One class the source does not know: a new head, as before.
  const mixed = await initFromPretrained('resnet20-fashion-mnist', { classes: [FASHION_MNIST_CLASSES[0], 'Hat'] });
  expect(mixed.headReplaced).toBe(true);
  mixed.model.dispose();
  tf.dispose([x, logits]);
  original.model.dispose();
});

test('a 3-channel safetensors source on 1-channel data: conv1 summed over the colour channels (as timm)', async () => {
  const rgb = resnet({ block: 'basic', layers: [1, 1, 1], stem: 'cifar', inChannels: 3, widths: [4, 8, 16], stemWidth: 4, numClasses: 5, seed: 9 });
  const file = path.join(tmpDir(), 'rgb.safetensors');
  const meta = weightsMetadata(rgb, ['a', 'b', 'c', 'd', 'e'], { mean: [0.4, 0.5, 0.6], std: [0.2, 0.3, 0.4] }, [8, 8]);
  await saveWeights(file, rgb, meta);
  const init = await initFromPretrained(file, { classes: ['x', 'y'], channels: 1 });
  expect(init.model.spec.inChannels).toBe(1);
  expect(init.preprocessing.mean[0]).toBeCloseTo(0.5, 6);
  expect(init.preprocessing.std[0]).toBeCloseTo(0.3, 6);
  const summed = tf.tidy(() => tf.sum(rgb.stateDict().get('conv1.weight')!, 2, true).dataSync());
  expect(Array.from(snapshot(init.model).get('conv1.weight')!)).toEqual(Array.from(summed));
  // Its outputs named by number ('0' ... '4', as a source without class names has them) name no class:
  // folders '1' and '3' get a new head, not outputs 1 and 3.
  const numbered = path.join(tmpDir(), 'numbered.safetensors');
  await saveWeights(numbered, rgb, weightsMetadata(rgb, ['0', '1', '2', '3', '4'], { mean: [0.4, 0.5, 0.6], std: [0.2, 0.3, 0.4] }, [8, 8]));
  const byNumber = await initFromPretrained(numbered, { classes: ['1', '3'] });
  expect(byNumber.headReplaced).toBe(true);
  byNumber.model.dispose();
  rgb.dispose();
  init.model.dispose();
});

test('headLr: with the backbone frozen, one plain SGD step moves the head by headLr/lr times the step at lr', async () => {
  const delta = async (headLr?: number) => {
    const model = tinyModel(6);
    const before = snapshot(model).get('fc.weight')!;
    await train(quick(model, { freeze: 'backbone', iterations: 1, momentum: 0, weightDecay: 0, lr: 0.01, headLr, augment: false }));
    const after = snapshot(model).get('fc.weight')!;
    model.dispose();
    return Array.from(after, (v, i) => v - before[i]);
  };
  const base = await delta();
  const fast = await delta(0.03);
  const i = base.reduce((best, v, j) => (Math.abs(v) > Math.abs(base[best]) ? j : best), 0);
  expect(fast[i] / base[i]).toBeCloseTo(3, 3);
});

test('best.safetensors holds the epoch with the best validation top-1; loading it gives that number exactly', async () => {
  const model = tinyModel(7);
  const dir = tmpDir();
  const valSet = synthetic(20, 8, 11);
  const res = await train({ ...quick(model, { outDir: dir, valSet, testSet: synthetic(20, 8, 12) }), iterations: undefined, epochs: 4 });
  expect(res.stopped).toBe('done');
  expect(res.history.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
  expect(res.history.every((m) => m.evalSet === 'val' && m.top5 !== undefined)).toBe(true);
  const bestTop1 = Math.max(...res.history.map((m) => m.top1!));
  const bestEpoch = res.history.find((m) => m.top1 === bestTop1)!;
  expect(res.best).toEqual({ epoch: expect.any(Number), top1: bestTop1, file: path.join(dir, BEST_FILE) });
  expect(res.best!.epoch).toBe(Math.min(...res.history.filter((m) => m.top1 === bestTop1 && m.testLoss! <= bestEpoch.testLoss!).map((m) => m.epoch)));
  expect(res.test?.n).toBe(20);
  const info = readWeightsInfo(res.best!.file);
  expect((info.training as { epoch: number }).epoch).toBe(res.best!.epoch);
  const reloaded = tinyModel(0);
  loadWeights(res.best!.file, reloaded);
  const r = evaluate(reloaded, valSet, { preprocessing: res.preprocessing });
  expect(r.top1).toBe(bestTop1);
  const log = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(log.filter((m) => m.best).map((m) => m.epoch)).toContain(res.best!.epoch);
  reloaded.dispose();
  model.dispose();
});

test('no validation set: epochs evaluate on the test set and no best is chosen on it; top-5 only with more than 5 classes', async () => {
  const model = resnet({ block: 'basic', layers: [1, 1, 1], stem: 'cifar', inChannels: 1, widths: [4, 8, 16], stemWidth: 4, numClasses: 4 });
  const dir = tmpDir();
  const four = (n: number, seed: number) => {
    const d = synthetic(n, 8, seed);
    const keep = Array.from(d.labels.keys()).filter((i) => d.labels[i] < 4);
    return { ...d, images: Uint8Array.from(keep.flatMap((i) => Array.from(d.images.subarray(i * 64, i * 64 + 64)))), labels: Int32Array.from(keep, (i) => d.labels[i]), classes: d.classes.slice(0, 4) };
  };
  const res = await train(quick(model, { outDir: dir, trainSet: four(40, 1), testSet: four(20, 2) }));
  expect(res.history[0].evalSet).toBe('test');
  expect(res.history[0].top5).toBeUndefined();
  expect(res.best).toBeUndefined();
  expect(fs.existsSync(path.join(dir, BEST_FILE))).toBe(false);
  model.dispose();
});
