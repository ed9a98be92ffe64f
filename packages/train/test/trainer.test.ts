import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { checkpointIO, evaluate, loadWeights, predict, train, TrainOptions } from '../src/index.js';
import { smallFashion, synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

function weights(model: ReturnType<typeof tinyModel>): Map<string, number[]> {
  const sd = model.stateDict();
  const out = new Map([...sd].map(([k, t]) => [k, [...t.dataSync()]]));
  tf.dispose([...sd.values()]);
  return out;
}

describe('trainer', () => {
  const data = synthetic(48, 8);
  const base = (outDir: string): Omit<TrainOptions, 'model'> => ({
    trainSet: data,
    testSet: synthetic(20, 8, 7),
    epochs: 2,
    batchSize: 16,
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 5,
    augment: { pad: 1, flip: true },
    outDir,
    progressBar: false,
  });

  test('resume after an interruption gives exactly the weights of an uninterrupted run; no leaks', async () => {
    // uninterrupted: 2 epochs x 3 steps
    const dirA = tmpDir();
    const a = tinyModel(1);
    const counts: number[] = [];
    const resA = await train({ ...base(dirA), model: a, onProgress: () => counts.push(tf.memory().numTensors) });
    expect(resA.stopped).toBe('done');
    expect(resA.step).toBe(6);
    expect(counts.length).toBe(6);
    expect(new Set(counts).size).toBe(1); // numTensors after step 1 == after step N
    const logA = fs
      .readFileSync(path.join(dirA, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logA.length).toBe(2);
    expect(Object.keys(logA[1])).toEqual(
      expect.arrayContaining(['epoch', 'trainLoss', 'trainAcc', 'testLoss', 'top1', 'top5', 'imagesPerSec']),
    );
    const svg = fs.readFileSync(path.join(dirA, 'curves.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('test top-1');
    expect(fs.existsSync(path.join(dirA, 'model.safetensors'))).toBe(true);

    // interrupted by an AbortSignal mid-epoch 2 (after step 4) and at the end of epoch 1 (step 3),
    // then resumed in a fresh model
    const wa = weights(a);
    for (const abortAt of [4, 3]) {
      const dirB = tmpDir();
      const b1 = tinyModel(1);
      const ctrl = new AbortController();
      const resB1 = await train({
        ...base(dirB),
        model: b1,
        checkpointEvery: 100,
        signal: ctrl.signal,
        onProgress: (p) => p.step === abortAt && ctrl.abort(),
      });
      expect(resB1.stopped).toBe('aborted');
      expect(resB1.step).toBe(abortAt);
      b1.dispose();
      const ck = checkpointIO.load(path.join(dirB, 'checkpoint.safetensors'));
      expect(ck.tensors.has('layer1.0.conv1.weight')).toBe(true);
      expect(ck.tensors.get('conv1.weight')!.shape).toEqual([4, 1, 3, 3]); // torch OIHW layout
      expect(ck.tensors.has('optimizer.momentum.fc.weight')).toBe(true);
      const training = JSON.parse(ck.metadata.training);
      expect(training.step).toBe(abortAt);
      expect(training.rng.augment.length).toBe(5);
      expect(JSON.parse(ck.metadata.spec).stages.length).toBe(3);
      expect(JSON.parse(ck.metadata.preprocessing).mean.length).toBe(1);

      const b2 = tinyModel(99); // different init: everything must come from the checkpoint
      const resB2 = await train({ ...base(dirB), model: b2, resume: true });
      expect(resB2.stopped).toBe('done');
      expect(resB2.step).toBe(6);
      const wb = weights(b2);
      expect([...wb.keys()]).toEqual([...wa.keys()]);
      for (const [k, v] of wa) expect(wb.get(k)).toEqual(v);
      const logB = fs
        .readFileSync(path.join(dirB, 'log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(logB.map((m) => [m.epoch, m.trainLoss, m.testLoss, m.top1])).toEqual(
        logA.map((m) => [m.epoch, m.trainLoss, m.testLoss, m.top1]),
      );
      b2.dispose();
    }

    // the shipped weights load back, evaluate and predict
    const c = tinyModel(3);
    const { metadata } = loadWeights(path.join(dirA, 'model.safetensors'), c);
    expect(weights(c)).toEqual(wa);
    const prep = JSON.parse(metadata.preprocessing);
    const r = evaluate(c, synthetic(20, 8, 7), { preprocessing: prep, batchSize: 8 });
    expect(r.top1).toBeCloseTo(logA[1].top1, 10);
    expect(r.confusion.flat().reduce((s, v) => s + v, 0)).toBe(20);
    expect(r.perClass.length).toBe(10);
    const img = path.join(tmpDir(), 'x.png');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 200, b: 200 } } })
      .png()
      .toFile(img);
    const [p] = await predict(c, [img], { preprocessing: prep, imageSize: prep.imageSize, channels: 1, classes: data.classes, k: 3 });
    expect(p.top.length).toBe(3);
    expect(p.top[0].probability).toBeGreaterThanOrEqual(p.top[1].probability);
    [a, c].forEach((m) => m.dispose());
  }, 300_000); // the cpu backend's naive filter gradient: ~15-25 s per step under jest on 2 cores

  test('a NaN/inf loss stops with a message and leaves the last good checkpoint intact', async () => {
    const dir = tmpDir();
    const m = tinyModel(2);
    const ckpt = path.join(dir, 'checkpoint.safetensors');
    let lastSaved = -1;
    // The lr explodes at the first step of epoch 2 (3 steps an epoch) and the next step's loss is NaN or
    // Inf, before the epoch's checkpoint: per-step checkpoints (--checkpoint-every 1) would stop the run
    // one step earlier, their probe finding the huge weights' outputs in eval mode non-finite.
    const res = await train({
      ...base(dir),
      model: m,
      testSet: undefined,
      epochs: 10,
      schedule: { type: 'multistep', lr: 0.05, milestones: [3], gamma: 1e37 },
      onEpoch: (e) => (lastSaved = e.step),
    });
    expect(res.stopped).toBe('nan');
    expect(res.message).toMatch(
      /Loss became (NaN|Infinity|-Infinity) at step 5 .*last good checkpoint is .*checkpoint\.safetensors \(step 3\)/,
    );
    const ck = checkpointIO.load(ckpt);
    const saved = JSON.parse(ck.metadata.training).step;
    expect(saved).toBe(lastSaved);
    expect(saved).toBe(3);
    for (const [k, r] of ck.tensors) if (!k.startsWith('optimizer')) expect(r.data.every((v) => Number.isFinite(v))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
    m.dispose();
  });

  test('a short run on Fashion-MNIST lowers the loss', async () => {
    const fm = smallFashion(64);
    const m = tinyModel(0);
    const before = evaluate(m, fm, { batchSize: 64 });
    const t0 = Date.now();
    const res = await train({
      model: m,
      trainSet: fm,
      epochs: 2,
      batchSize: 32,
      lr: 0.05,
      seed: 1,
      augment: { pad: 2, flip: true },
      progressBar: false,
    });
    const perStep = (Date.now() - t0) / res.step;
    const after = evaluate(m, fm, { batchSize: 64, preprocessing: res.preprocessing });
    process.stdout.write(
      `short run (cpu backend, tiny ResNet 4/8/16, 14x14, batch 32): ${perStep.toFixed(0)} ms/step; ` +
        `train-set loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)}, train loss per epoch ${res.history.map((h) => h.trainLoss.toFixed(3)).join(', ')}\n`,
    );
    expect(res.history[1].trainLoss).toBeLessThan(res.history[0].trainLoss);
    expect(after.loss).toBeLessThan(before.loss);
    m.dispose();
  }, 300_000);
});
