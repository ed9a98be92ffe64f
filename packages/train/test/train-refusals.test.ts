/**
 * `train()` called from JS: options that used to train to `done` silently wrong (a negative rate,
 * momentum or weight decay, a misspelt `decay`, labels outside the classes, a fractional or negative
 * padding) are refused before the first step and before the output folder is made, each in one typed
 * line; `lr: 0` with `headLr` trains only the head, at `headLr` (it divided by 0 and stopped as NaN).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { BatchNorm2d, lossAndGradients, useBackend, type Module } from '@resnet-ts/core';
import { Batcher, DataError, Dataset, TrainError, TrainOptions, train } from '../src/index.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const quick = { iterations: 2, batchSize: 16, augment: false, progressBar: false } as const;

/** The refusal of `train(extra)`: checks that no step ran and that the output folder was not made. */
async function refusal(extra: Partial<TrainOptions>): Promise<Error> {
  const model = tinyModel(1);
  const outDir = path.join(tmpDir(), 'run');
  const onProgress = jest.fn();
  try {
    await train({ model, trainSet: synthetic(32, 8), ...quick, outDir, onProgress, ...(extra as object) });
  } catch (e) {
    expect(onProgress).not.toHaveBeenCalled();
    expect(fs.existsSync(outDir)).toBe(false);
    expect((e as Error).message).not.toContain('\n');
    return e as Error;
  } finally {
    model.dispose();
  }
  throw new Error(`train(${JSON.stringify(extra)}) was not refused`);
}

/** The synthetic set with labels `f(i)`. */
const relabelled = (d: Dataset, f: (i: number) => number): Dataset => ({ ...d, labels: Int32Array.from(d.labels, (_, i) => f(i)) });

const cases: [string, Partial<TrainOptions>, typeof TrainError | typeof DataError, RegExp][] = [
  [
    'cosine lr -0.1',
    { schedule: { type: 'cosine', lr: -0.1, total: 2 } },
    TrainError,
    /cosine schedule: lr is -0\.1; it must be a finite number >= 0/,
  ],
  ['multistep gamma -1', { schedule: { type: 'multistep', lr: 0.1, milestones: [1], gamma: -1 } }, TrainError, /gamma is -1/],
  [
    'warm-up mode typo',
    { schedule: { type: 'warmup', iterations: 1, startLr: 0.01, mode: 'const' as 'linear', then: { type: 'constant', lr: 0.1 } } },
    TrainError,
    /mode is "const"; it must be/,
  ],
  ['lr NaN', { lr: NaN }, TrainError, /^lr is NaN; it must be a finite number >= 0/],
  ['momentum -0.5', { momentum: -0.5 }, TrainError, /^momentum is -0\.5; it must be a finite number >= 0/],
  ['momentum NaN', { momentum: NaN }, TrainError, /^momentum is NaN/],
  ["momentum '0.9'", { momentum: '0.9' as unknown as number }, TrainError, /^momentum is "0\.9" \(a string\)/],
  ['weightDecay -1', { weightDecay: -1 }, TrainError, /^weightDecay is -1/],
  ["decay 'none'", { decay: 'none' as 'all' }, TrainError, /^decay is "none"; it must be 'all' or 'no-bn-bias'/],
  ['nesterov with momentum 0', { nesterov: true, momentum: 0 }, TrainError, /^nesterov is true with momentum 0/],
  ['augment pad 1.5', { augment: { pad: 1.5, flip: false } }, TrainError, /^augment\.pad is 1\.5; it must be a whole number >= 0/],
  ['augment pad -2', { augment: { pad: -2, flip: true } }, TrainError, /^augment\.pad is -2/],
  [
    "augment flip 'yes'",
    { augment: { pad: 4, flip: 'yes' as unknown as boolean } },
    TrainError,
    /^augment\.flip is "yes"; it must be true or false/,
  ],
  ['evalBatchSize 0', { evalBatchSize: 0, testSet: synthetic(8, 8) }, TrainError, /^evalBatchSize is 0; it must be a whole number >= 1/],
  ['seed NaN', { seed: Number.NaN }, TrainError, /^seed is NaN; it must be a whole number >= 0 and <= 4294967295/],
  ['seed 2^32', { seed: 2 ** 32 }, TrainError, /^seed is 4294967296/],
  ['checkpointEvery -1', { checkpointEvery: -1 }, TrainError, /^checkpointEvery is -1; it must be a whole number >= 0/],
  ['checkpointEvery 2.5', { checkpointEvery: 2.5 }, TrainError, /^checkpointEvery is 2\.5/],
  [
    'training labels outside the classes',
    { trainSet: relabelled(synthetic(32, 8), (i) => (i === 3 ? 12 : i % 10)) },
    DataError,
    /^The training set: label 12 of item 3 is out of range \[0, 9\]: labels must be whole-number indices into the 10 classes/,
  ],
  ['negative training labels', { trainSet: relabelled(synthetic(32, 8), () => -1) }, DataError, /label -1 of item 0 is out of range/],
  [
    'validation labels outside the classes',
    { valSet: relabelled(synthetic(8, 8), () => 10) },
    DataError,
    /^The validation set: label 10 of item 0/,
  ],
  ['test labels outside the classes', { testSet: relabelled(synthetic(8, 8), () => 11) }, DataError, /^The test set: label 11 of item 0/],
  [
    'images too short',
    { trainSet: { ...synthetic(32, 8), images: new Uint8Array(64) } },
    DataError,
    /^The training set: 64 pixel values do not make 32 images of 8x8x1/,
  ],
];

test.each(cases)('%s: refused before any step or file', async (_, extra, type, message) => {
  const e = await refusal(extra);
  expect(e).toBeInstanceOf(type);
  expect(e.message).toMatch(message);
});

test('headLr on a model without a head, and with a warm-up from a rate > 0 to lr 0, are refused', async () => {
  const headless = { namedParameters: () => [['conv.weight', tf.zeros([1])]] } as unknown as Module;
  expect((await refusal({ model: headless, lr: 0.1, headLr: 0.05 })).message).toMatch(
    /^headLr is 0\.05, but the model has no head \(no fc\.\* parameters\)/,
  );
  expect(
    (await refusal({ lr: 0, headLr: 0.05, schedule: { type: 'warmup', iterations: 1, startLr: 0.01, then: { type: 'constant', lr: 0 } } }))
      .message,
  ).toMatch(/^headLr 0\.05 with a warm-up from startLr 0\.01 to a schedule of lr 0: the head's rate cannot follow it/);
});

/** Every parameter's values by name. */
function params(model: ReturnType<typeof tinyModel>): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
}

test('lr 0 with headLr 0.05 trains only the head, at 0.05: one step moves fc by -0.05 x its gradient, the rest not at all', async () => {
  const trainSet = synthetic(16, 8);
  const model = tinyModel(3);
  const before = params(model);
  const res = await train({
    model,
    trainSet,
    iterations: 1,
    batchSize: 16,
    augment: false,
    progressBar: false,
    lr: 0,
    headLr: 0.05,
    momentum: 0,
    weightDecay: 0,
  });
  expect(res.stopped).toBe('done');
  expect(res.message).toBeUndefined();
  const after = params(model);
  for (const [name, w] of after) if (!name.startsWith('fc.')) expect([name, w]).toEqual([name, before.get(name)]);
  // The head's gradient at the initial weights on the same batch (the whole set, the trainer's normalisation).
  const fresh = tinyModel(3);
  const batcher = new Batcher(trainSet, 16, res.preprocessing);
  const { x, labels } = batcher.fill(Int32Array.from({ length: 16 }, (_, i) => i));
  const xt = tf.tensor4d(x, [16, 8, 8, 1]);
  const yt = tf.tensor1d(labels, 'int32');
  const named = new Map(fresh.namedParameters());
  const { loss, grads } = lossAndGradients(fresh, xt, yt);
  for (const name of ['fc.weight', 'fc.bias']) {
    const g = grads[named.get(name)!.name].dataSync();
    const moved = after.get(name)!.map((w, i) => w - before.get(name)![i]);
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(1e-3);
    moved.forEach((d, i) => expect(d).toBeCloseTo(-0.05 * g[i], 5));
  }
  tf.dispose([xt, yt, loss, ...Object.values(grads)]);
  fresh.dispose();
  model.dispose();
});

test('a run that trains only the head resumes with its headLr, and refuses another', async () => {
  const dir = tmpDir();
  const run = (headLr: number, iterations: number, resume: boolean) => {
    const model = tinyModel(4);
    return train({
      model,
      trainSet: synthetic(32, 8),
      iterations,
      batchSize: 16,
      augment: false,
      progressBar: false,
      lr: 0,
      headLr,
      outDir: dir,
      resume,
    }).finally(() => model.dispose());
  };
  expect((await run(0.05, 2, false)).stopped).toBe('done');
  await expect(run(0.1, 4, true)).rejects.toThrow(/--head-lr/);
  const resumed = await run(0.05, 4, true);
  expect([resumed.stopped, resumed.step]).toEqual(['done', 4]);
});

describe('a training batch of one image where batch norm sees 1x1 maps (one value per channel)', () => {
  // The tiny net on 4x4 images: layer3's maps are 1x1; on 8x8 images they are 2x2.
  const small = (n: number) => synthetic(n, 4);
  test('a last batch of 1 (17 images, batchSize 16) is refused up front, naming the sizes and batch sizes that avoid it', async () => {
    const e = await refusal({ trainSet: small(17), epochs: 1, iterations: undefined });
    expect(e).toBeInstanceOf(TrainError);
    expect(e.message).toMatch(
      /^batchSize 16 on 17 training images makes a last batch of 1 image in every epoch \(17 = 16 \+ 1\), and batch norm layer3\.0\.bn\d sees 1x1 maps at 4x4 input: one value per channel, from which training statistics cannot be computed: give batchSize 15 or 17 \(no batch of 1\)\.$/,
    );
  });
  test('batchSize 1 is refused, suggesting one that leaves no batch of 1; 1 image asks for more', async () => {
    expect((await refusal({ trainSet: small(17), batchSize: 1 })).message).toMatch(
      /^batchSize 1 on 17 training images makes batches of 1 image, .*: give batchSize 3 \(no batch of 1\)\.$/,
    );
    expect((await refusal({ trainSet: { ...small(1), classes: small(10).classes }, batchSize: 4, iterations: 1 })).message).toMatch(
      /^batchSize 4 on 1 training image makes batches of 1 image, .*: give at least 2 training images\.$/,
    );
  });
  test("a refused run leaves the model's batch norms as they were, though it judged them with its freeze", async () => {
    const model = tinyModel(1);
    const frozen = () => model.namedModules().filter(([, m]) => m instanceof BatchNorm2d && m.frozenStatistics).length;
    await expect(train({ model, ...quick, trainSet: small(17), epochs: 1, iterations: undefined, freeze: 'stem' })).rejects.toThrow(
      /makes a last batch of 1 image/,
    );
    expect(frozen()).toBe(0); // 'stem' froze the stem's batch norm for the check only
    model.dispose();
  });
  test.each([
    ['2x2 maps (8x8 images)', { trainSet: synthetic(17, 8), epochs: 1, iterations: undefined }],
    ['a run that stops before the last batch', { trainSet: small(17), iterations: 1 }],
    ['no batch of 1 (18 images)', { trainSet: small(18), epochs: 1, iterations: undefined }],
    ['frozen batch norms (backbone)', { trainSet: small(17), epochs: 1, iterations: undefined, freeze: 'backbone' as const }],
  ])('%s: trains', async (_, extra) => {
    const model = tinyModel(1);
    const res = await train({ model, ...quick, ...extra });
    expect(res.stopped).toBe('done');
    model.dispose();
  });
});
