// A run whose weights stay finite but grow so large that every eval-mode forward overflows (lr 30 on
// Fashion-MNIST: weights up to 1e19, training loss 3e8 and finite, test loss NaN) is diverged too:
// it stops naming the step and the last good checkpoint, logs no epoch from those weights and
// writes neither a checkpoint nor model.safetensors of them. Here the overflow is made by hand:
// fc.weight set to 1e38 (finite) at a chosen step.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { checkRunHealth, checkpointIO, evaluate, loadWeights, train, TrainOptions } from '../src/index.js';
import { explodingLossNote } from '../src/epoch-report.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

type Model = ReturnType<typeof tinyModel>;

const base = (outDir: string, model: Model): TrainOptions => ({
  model,
  trainSet: synthetic(48, 8),
  epochs: 2,
  batchSize: 16,
  lr: 0.05,
  seed: 5,
  augment: false,
  outDir,
  progressBar: false,
});

/** Sets fc.weight to a huge finite value: every logit overflows to ±Inf in eval mode. */
function blowUp(model: Model): void {
  const fc = new Map(model.namedParameters()).get('fc.weight')!;
  tf.tidy(() => fc.assign(tf.fill(fc.shape, 1e38)));
}

/** Scales fc.weight to random values of magnitude `scale`: finite logits far apart, a huge training loss. */
function explode(model: Model, scale: number): void {
  const fc = new Map(model.namedParameters()).get('fc.weight')!;
  tf.tidy(() => fc.assign(tf.randomNormal(fc.shape, 0, scale, 'float32', 3)));
}

const OUTPUTS = (set: string) =>
  new RegExp(
    `^Training diverged at step (\\d+) \\(epoch \\d+, lr 0\\.05\\): the weights are finite \\(largest magnitude 1\\.0e\\+38\\) ` +
      `but the model's outputs in eval mode are not \\(\\d+ of \\d+ ${set} images give NaN or Inf logits, loss (NaN|-?Infinity)\\); `,
  );

test('finite weights whose test outputs are NaN at an epoch end: diverged, the last good checkpoint named, nothing logged or saved from them', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const res = await train({ ...base(dir, model), testSet: synthetic(20, 8, 7), onProgress: (p) => p.step === 6 && blowUp(model) });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(OUTPUTS('test'));
  expect(res.message).toMatch(
    /nothing was saved from it\. The last good checkpoint is .*checkpoint\.safetensors \(step 3\)\. Try a lower learning rate/,
  );
  expect(res.message).not.toContain('\n');
  expect(checkRunHealth(model).found).toEqual([]); // the weights themselves are finite
  expect(res.history.map((m) => m.epoch)).toEqual([1]);
  expect(fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  expect(JSON.parse(checkpointIO.load(path.join(dir, 'checkpoint.safetensors')).metadata.training).step).toBe(3);
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  model.dispose();
});

test('without an evaluation set a probe of training images checks the last step: no last checkpoint or model from those weights', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const res = await train({ ...base(dir, model), checkpointEvery: 1, onProgress: (p) => p.step === 6 && blowUp(model) });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(OUTPUTS('training'));
  expect(res.message).toMatch(/The last good checkpoint is .*checkpoint\.safetensors \(step 5\)\./);
  expect(res.history.map((m) => m.epoch)).toEqual([1]);
  expect(JSON.parse(checkpointIO.load(path.join(dir, 'checkpoint.safetensors')).metadata.training).step).toBe(5);
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  model.dispose();
});

test.each([
  ['--checkpoint-every 2, no evaluation set: the periodic checkpoint', { checkpointEvery: 2 }, 4, 'training', 3],
  ['no evaluation set: the end of epoch 1 (not the last step)', {}, 3, 'training', undefined],
  ['--checkpoint-every 1 between two evaluations of the test set', { checkpointEvery: 1, testSet: synthetic(20, 8, 7) }, 4, 'test', 3],
] as const)(
  '%s is not written from finite weights whose outputs are NaN: a probe stops the run there',
  async (_what, extra, at, set, good) => {
    const dir = tmpDir();
    const model = tinyModel(2);
    const res = await train({ ...base(dir, model), ...extra, onProgress: (p) => p.step === at && blowUp(model) });
    expect(res.stopped).toBe('nan');
    const m = OUTPUTS(set).exec(res.message ?? '');
    expect([m?.[1], res.message]).toEqual([String(at), expect.stringMatching(/Try a lower learning rate/)]);
    const ckpt = path.join(dir, 'checkpoint.safetensors');
    if (good === undefined) {
      expect(res.message).toContain('No checkpoint was written yet.');
      expect(fs.existsSync(ckpt)).toBe(false);
    } else {
      expect(res.message).toContain(`The last good checkpoint is ${ckpt} (step ${good}).`);
      expect(JSON.parse(checkpointIO.load(ckpt).metadata.training).step).toBe(good);
      // It is good indeed: its outputs in eval mode are finite.
      const again = tinyModel(2);
      loadWeights(ckpt, again);
      const r = evaluate(again, synthetic(48, 8), { preprocessing: res.preprocessing, limit: 16 });
      expect([r.nonFinite, Number.isFinite(r.loss)]).toEqual([0, true]);
      again.dispose();
    }
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
    model.dispose();
  },
);

test('Ctrl-C after the outputs went non-finite: no checkpoint of those weights, reported as diverged', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const abort = new AbortController();
  const onProgress = (p: { step: number }) => {
    if (p.step !== 2) return;
    blowUp(model);
    abort.abort();
  };
  const res = await train({ ...base(dir, model), testSet: synthetic(20, 8, 7), signal: abort.signal, onProgress });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(OUTPUTS('test'));
  expect(res.message).toMatch(/No checkpoint was written yet\./);
  expect(fs.existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'best.safetensors'))).toBe(false);
  model.dispose();
});

test('finite validation outputs but NaN on the final test set: diverged, model.safetensors not written, the checkpoint named for what it is', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  // After the last epoch's validation (finite), before its checkpoint and the final test.
  const res = await train({
    ...base(dir, model),
    valSet: synthetic(20, 8, 3),
    testSet: synthetic(20, 8, 7),
    onEpoch: (m) => m.epoch === 2 && blowUp(model),
  });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(OUTPUTS('test'));
  expect(res.message).toContain(
    `model.safetensors was not written; the checkpoint ${path.join(dir, 'checkpoint.safetensors')} (step 6) holds these same weights`,
  );
  expect(res.test).toBeUndefined();
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  model.dispose();
});

test('a healthy run is not stopped: the eval-mode probe finds finite outputs and the model is written', async () => {
  const dir = tmpDir();
  const model = tinyModel(2);
  const res = await train({ ...base(dir, model), checkpointEvery: 1, testSet: synthetic(20, 8, 7) });
  expect(res.stopped).toBe('done');
  expect(res.history.every((m) => Number.isFinite(m.testLoss))).toBe(true);
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
  model.dispose();
});

// A learning rate far too high can leave weights and outputs finite, the loss at 1e12 and top-1 at
// chance: the run wrote model.safetensors and exited 0 when its last epoch ended so. fc scaled 3e3 puts
// the epoch's mean training loss over 1000 ln K; 1e3 under it but over 10 ln K (a 1000 ln K gate let
// through an lr-30 ResNet-20 run that blew up within its one short epoch: mean 1.8e3, test loss 5e17);
// 1e4 makes the eval-mode outputs overflow, the other check.
test.each([
  [3e3, 1000],
  [1e3, 10],
])(
  'fc scaled %p in the last epoch: a mean training loss over %p times a uniform guess and an exploded eval-mode loss are diverged, nothing written',
  async (scale, times) => {
    const dir = tmpDir();
    const model = tinyModel(2);
    const res = await train({
      ...base(dir, model),
      epochs: 1,
      testSet: synthetic(20, 8, 7),
      onProgress: (p) => p.step === 2 && explode(model, scale),
    });
    expect(res.stopped).toBe('nan');
    expect(res.message).toMatch(
      /^Training diverged: its last epoch \(epoch 1, step 3, lr 0\.05\) ended with a mean training loss of \d\.\d\de\+\d+ \(over 10 times a uniform guess's 2\.30\) and a test loss of \d\.\d\de\+\d+ in eval mode \(over 1000 times\), although the weights stayed finite; model\.safetensors was not written and nothing was saved from it\. No checkpoint was written yet\. Try a lower learning rate or a warm-up\.$/,
    );
    const trainLoss = Number(/mean training loss of (\S+)/.exec(res.message!)![1]);
    expect(trainLoss).toBeGreaterThan(times * Math.log(10));
    if (times < 1000) expect(trainLoss).toBeLessThan(1000 * Math.log(10));
    expect(res.history).toEqual([]);
    expect(checkRunHealth(model).found).toEqual([]);
    for (const f of ['model', 'checkpoint', 'best']) expect(fs.existsSync(path.join(dir, `${f}.safetensors`))).toBe(false);
    model.dispose();
  },
);

test('a training loss that spiked but a model that is right in eval mode at the end is no divergence: the run finishes', async () => {
  // A head at a high rate spiked the mean training loss of a fine-tune whose validation top-1 was 100 %:
  // judged by the training loss alone, it was refused and its weights discarded.
  const dir = tmpDir();
  const model = tinyModel(2);
  let saved: Map<string, tf.Tensor> | undefined;
  const res = await train({
    ...base(dir, model),
    epochs: 1,
    testSet: synthetic(20, 8, 7),
    onProgress: (p) => {
      if (p.step === 2) {
        saved = model.stateDict();
        explode(model, 3e3);
      }
      if (p.step === 3) model.loadStateDict(saved!); // the spike gone before the run's evaluation
    },
  });
  tf.dispose([...saved!.values()]);
  expect(res.message).toBeUndefined();
  expect(res.history[0].trainLoss).toBeGreaterThan(1000 * Math.log(10));
  expect([res.stopped, res.message]).toEqual(['done', undefined]);
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
  model.dispose();
});

test('an exploding but finite training loss gets a note (not an error); ordinary losses none', () => {
  const m = { epoch: 1, trainAcc: 0.1, imagesPerSec: 100 };
  expect(explodingLossNote({ ...m, trainLoss: 330145986.6 }, 10)).toMatch(
    /^note: the training loss 3\.30e\+8 is exploding \(a uniform guess scores 2\.30\): the learning rate is likely far too high/,
  );
  expect(explodingLossNote({ ...m, trainLoss: 2.4 }, 10)).toBeUndefined();
  expect(explodingLossNote({ ...m, trainLoss: 500 }, 10)).toBeUndefined();
  expect(explodingLossNote({ ...m, trainLoss: NaN }, 10)).toBeUndefined();
});
