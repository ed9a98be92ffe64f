// A run whose weights go NaN/Inf while the loss is still finite (a learning rate far too high:
// batch norm keeps the loss finite while running statistics overflow), or whose outputs in eval mode
// do (weights huge but finite), stops as diverged, names the step and the last good checkpoint, keeps
// that checkpoint free of NaN/Inf in its tensors and its outputs, and writes no model.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { countNonFinite, useBackend } from '@resnet-ts/core';
import { TrainError, checkRunHealth, checkpointIO, evaluate, loadWeights, train, TrainOptions } from '../src/index.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const base = (outDir: string, model: ReturnType<typeof tinyModel>): TrainOptions => ({
  model,
  trainSet: synthetic(48, 8),
  epochs: 3,
  batchSize: 16,
  lr: 1e6,
  momentum: 0.9,
  seed: 5,
  augment: false,
  outDir,
  progressBar: false,
});

/** Every tensor of a checkpoint file (model and optimizer state) is finite. */
function expectFiniteFile(file: string): void {
  const ck = checkpointIO.load(file);
  expect(ck.tensors.size).toBeGreaterThan(0);
  for (const [name, r] of ck.tensors) expect([name, countNonFinite(r.data)]).toEqual([name, 0]);
}

test('huge lr: stops at the first checkpoint whose weights or eval-mode outputs went NaN/Inf, naming it and the last good checkpoint, finite in both', async () => {
  const dir = tmpDir();
  const before = tf.memory().numTensors;
  const model = tinyModel(2);
  const losses: number[] = [];
  // lr 100: a few healthy steps first (lr 1e6 leaves NaN outputs after the first step: no checkpoint is ever good).
  const res = await train({ ...base(dir, model), lr: 100, checkpointEvery: 1, onProgress: (p) => losses.push(p.loss) });
  expect(res.stopped).toBe('nan');
  // The loss never went non-finite: only the weights, or the outputs in eval mode, did.
  expect(losses.every(Number.isFinite)).toBe(true);
  const m =
    /^Training diverged at step (\d+) \(epoch \d+, lr 100\): .*(tensors hold NaN or Inf|the model's outputs in eval mode are not).*The last good checkpoint is (.*) \(step (\d+)\)\./.exec(
      res.message ?? '',
    );
  expect(m).not.toBeNull();
  const [, divergedAt, , file, goodStep] = m!;
  expect(res.message).not.toContain('\n');
  expect(Number(divergedAt)).toBe(losses.length);
  expect(Number(goodStep)).toBe(Number(divergedAt) - 1);
  expect(Number(goodStep)).toBeGreaterThan(0);
  expect(file).toBe(path.join(dir, 'checkpoint.safetensors'));
  expectFiniteFile(file);
  expect(JSON.parse(checkpointIO.load(file).metadata.training).step).toBe(Number(goodStep));
  const good = tinyModel(2);
  loadWeights(file, good);
  expect(evaluate(good, synthetic(48, 8), { preprocessing: res.preprocessing, limit: 16 }).nonFinite).toBe(0);
  good.dispose();
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  // The model in memory is the diverged one: the checks see what the trainer saw.
  const r = evaluate(model, synthetic(48, 8), { preprocessing: res.preprocessing, limit: 16 });
  expect(checkRunHealth(model).found.length + r.nonFinite).toBeGreaterThan(0);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before); // the stopped run left nothing behind
});

test('without intermediate checkpoints: no checkpoint is claimed, nothing is written from the diverged model', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const res = await train({ ...base(dir, model), testSet: synthetic(20, 8, 7) });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(/^Training diverged at step \d+ .*No checkpoint was written yet\./);
  expect(fs.existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  // No epoch was evaluated or logged from the diverged weights.
  expect(res.history).toEqual([]);
  model.dispose();
});

test('Ctrl-C after the weights went non-finite: no checkpoint of them, reported as diverged', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const abort = new AbortController();
  const res = await train({
    ...base(dir, model),
    signal: abort.signal,
    // Interrupt as soon as the weights went bad, between two checkpoints.
    onProgress: () => {
      if (checkRunHealth(model).found.length > 0) abort.abort();
    },
  });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(/^Training diverged at step \d+/);
  expect(fs.existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(false);
  model.dispose();
});

test('resuming from a checkpoint that holds NaN is refused with one line naming it', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const ok = await train({ ...base(dir, model), lr: 0.05, iterations: 2 });
  expect(ok.stopped).toBe('done');
  const file = path.join(dir, 'checkpoint.safetensors');
  const ck = checkpointIO.load(file);
  const bn = ck.tensors.get('bn1.running_var')!;
  bn.data[0] = NaN;
  await checkpointIO.save(file, ck.tensors, ck.metadata);
  const warnings: string[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((m: string) => void warnings.push(m));
  try {
    const again = tinyModel(2);
    await expect(train({ ...base(dir, again), lr: 0.05, iterations: 4, resume: true })).rejects.toThrow(TrainError);
    await expect(train({ ...base(dir, again), lr: 0.05, iterations: 4, resume: true })).rejects.toThrow(
      /checkpoint\.safetensors: 1 of \d+ tensors hold NaN or Inf \(1 values: bn1\.running_var\): that run had diverged, it cannot be resumed\. Start again \(--force\)/,
    );
    // A caller with its own options (the lab) is told its own way to start again, not resnet train's --force.
    await expect(
      train({ ...base(dir, again), lr: 0.05, iterations: 4, resume: true, flags: { restart: '--no-resume', out: '--out' } }),
    ).rejects.toThrow(/it cannot be resumed\. Start again \(--no-resume\) with a lower learning rate/);
    again.dispose();
  } finally {
    warn.mockRestore();
  }
  // The loader warned too (one line per load).
  expect(warnings.length).toBeGreaterThan(0);
  model.dispose();
});

test('checkRunHealth names non-finite buffers and momentum tensors', () => {
  const model = tinyModel(1);
  const running = new Map(model.namedBuffers()).get('layer1.0.bn2.running_mean')!;
  tf.tidy(() => running.assign(tf.fill(running.shape, Infinity)));
  const momenta = new Map([['fc.weight', tf.tensor1d([1, NaN])]]);
  const tally = checkRunHealth(model, momenta);
  expect(tally.found).toEqual([
    { name: 'layer1.0.bn2.running_mean', count: running.size },
    { name: 'optimizer.momentum.fc.weight', count: 1 },
  ]);
  tf.dispose([...momenta.values()]);
  model.dispose();
});
