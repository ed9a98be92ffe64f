/**
 * What the trainer says about its inputs: NaN or Inf in float training images (or a normalisation
 * that is not finite) is named as the cause of a NaN loss, through `log` and in the result's
 * message, not blamed on the learning rate; a warm-up as long as the run is a note; a run of less
 * than one step is refused with how many epochs make one (`runLength`, what the CLI checks before
 * its header).
 */
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { Dataset, TrainOptions, paperWarmup, runLength, train } from '../src/index.js';
import { synthetic, tinyModel } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** The synthetic images as floats in [0, 1], with NaN in image 5 and +Inf in image 9. */
function withNonFinite(): Dataset {
  const d = synthetic(32, 8);
  const images = Float32Array.from(d.images, (v) => v / 255);
  images[5 * 64 + 3] = NaN;
  images[9 * 64] = Infinity;
  images[9 * 64 + 1] = NaN;
  return { ...d, images };
}

async function run(extra: Partial<TrainOptions>) {
  const model = tinyModel(1);
  const notes: string[] = [];
  try {
    const res = await train({
      trainSet: synthetic(32, 8),
      iterations: 2,
      batchSize: 16,
      lr: 0.05,
      augment: false,
      progressBar: false,
      model,
      log: (m) => notes.push(m),
      ...extra,
    });
    return { res, notes };
  } finally {
    model.dispose();
  }
}

test('NaN in float training images: the NaN loss names the data (images, count, normalisation), through log and the result', async () => {
  const { res, notes } = await run({ trainSet: withNonFinite() });
  expect(res.stopped).toBe('nan');
  // Image 5 or 9 may or may not be in the first batch (shuffled): the NaN mean makes every input NaN anyway.
  const cause =
    /the training images hold 3 NaN or Inf values in 2 images \(the first is image 5(; [12] in this step's batch)?\), and the normalisation \(mean NaN, std NaN\) is not finite or divides by 0: fix or remove those images/;
  expect(res.message).toMatch(
    new RegExp(
      `^Loss became NaN at step 1 \\(epoch 1, lr 0\\.05\\) because of the data: ${cause.source}; training stopped without saving\\.$`,
    ),
  );
  expect(notes).toHaveLength(1);
  expect(notes[0]).toMatch(new RegExp(`^note: the loss is NaN because of the data: ${cause.source}$`));
});

test('NaN in the images of a batch under a finite normalisation: the batch is named', async () => {
  const d = withNonFinite();
  for (let i = 0; i < 16; i++) d.images[i * 64 + 10] = NaN;
  const { res } = await run({ trainSet: d, preprocessing: { mean: [0.3], std: [0.3] }, batchSize: 32 });
  expect(res.message).toBe(
    'Loss became NaN at step 1 (epoch 1, lr 0.05) because of the data: the training images hold 19 NaN or Inf values in 16 images ' +
      "(the first is image 0; 16 in this step's batch): fix or remove those images; training stopped without saving.",
  );
});

test('a normalisation given with std 0 is named; finite data with a finite normalisation keeps the learning-rate advice', async () => {
  const { res, notes } = await run({ preprocessing: { mean: [0.5], std: [0] } });
  expect(res.stopped).toBe('nan');
  expect(res.message).toMatch(
    /^Loss became (NaN|Infinity) at step 1 .*because of the data: the normalisation \(mean 0\.5, std 0\) is not finite or divides by 0: give a finite mean and a non-zero std; training stopped/,
  );
  expect(notes).toHaveLength(1);
  const ok = await run({});
  expect(ok.res.stopped).toBe('done');
  expect(ok.notes.filter((n) => n.startsWith('note:'))).toEqual([]);
});

test('a warm-up that covers the whole run is a note; a shorter one is not', async () => {
  const long = await run({ iterations: 3, schedule: paperWarmup({ type: 'constant', lr: 0.1 }, 1000, 0.01) });
  expect(long.res.stopped).toBe('done');
  expect(long.notes).toContain(
    'note: the warm-up of 1000 steps covers the whole run of 3 steps: the learning rate never reaches the schedule after it (constant 0.1); give a --warmup below 3, or none',
  );
  const short = await run({ iterations: 3, schedule: paperWarmup({ type: 'constant', lr: 0.1 }, 2, 0.01) });
  expect(short.notes.filter((n) => /warm-up/.test(n))).toEqual([]);
});

test('runLength: steps per epoch and in all; less than one step is refused with the epochs that make one', () => {
  expect(runLength(2400, { batchSize: 32, epochs: 3 })).toEqual({ stepsPerEpoch: 75, totalSteps: 225 });
  expect(runLength(5, { batchSize: 8, epochs: 1 })).toEqual({ stepsPerEpoch: 1, totalSteps: 1 });
  expect(runLength(60000, { batchSize: 128, epochs: 0.001, iterations: 3 }).totalSteps).toBe(3);
  expect(() => runLength(60000, { batchSize: 128, epochs: 0.001 })).toThrow(
    /^--epochs 0\.001 is less than one step of 128 images \(an epoch of 60000 images is 469 steps\): give --epochs 0\.0011 or more, or --iterations\.$/,
  );
  expect(runLength(60000, { batchSize: 128, epochs: 0.0011 }).totalSteps).toBe(1);
});
