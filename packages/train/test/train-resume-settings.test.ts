/**
 * A resume continues the run its checkpoint stores, or is refused: every stored setting (learning
 * rate, schedule, momentum, weight decay, Nesterov, head lr, augmentation, frozen part, batch, seed,
 * data source, classes) that this run gives otherwise is named in one line with both values; the
 * same settings (in any key order) resume.
 */
import fs from 'node:fs';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { ScheduleSpec, TrainOptions, resumeDifferences, scaledPaperSchedule, train } from '../src/index.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const data = { ...synthetic(32, 8), source: 'synthetic-a' };
const base = (outDir: string): Omit<TrainOptions, 'model'> => ({
  trainSet: data,
  epochs: 2,
  batchSize: 16,
  schedule: scaledPaperSchedule(4, 0.05),
  momentum: 0.9,
  weightDecay: 1e-4,
  seed: 1,
  augment: { pad: 1, flip: true },
  outDir,
  progressBar: false,
});

async function run(outDir: string, extra: Partial<TrainOptions> = {}) {
  const model = tinyModel(1);
  try {
    return await train({ ...base(outDir), model, ...extra });
  } finally {
    model.dispose();
  }
}

/** A run stopped after its first step (a resumable checkpoint in a new folder). */
async function stoppedRun(): Promise<string> {
  const dir = tmpDir();
  const ctrl = new AbortController();
  const res = await run(dir, { signal: ctrl.signal, onProgress: () => ctrl.abort() });
  expect(res.stopped).toBe('aborted');
  return dir;
}

test('a resume with other optimizer and schedule settings is one line naming each, with both values', async () => {
  const dir = await stoppedRun();
  const file = path.join(dir, 'checkpoint.safetensors');
  const before = fs.readFileSync(file);
  const changed: Partial<TrainOptions> = { schedule: { type: 'cosine', lr: 0.5, total: 4 }, momentum: 0, weightDecay: 0.01, resume: true };
  await expect(run(dir, changed)).rejects.toThrow(
    `Cannot resume from ${file}: --lr 0.5 differs from the run's 0.05, --schedule cosine differs from the run's multistep, ` +
      "--momentum 0 differs from the run's 0.9, --wd 0.01 differs from the run's 0.0001; " +
      "give the run's options, or start a new run with another --out.",
  );
  await expect(run(dir, { nesterov: true, headLr: 0.01, augment: false, freeze: 'stem', resume: true })).rejects.toThrow(
    "--freeze stem differs from the run's none, --nesterov on differs from the run's off, --head-lr 0.01 differs from the run's none, " +
      "augmentation off (--no-augment) differs from the run's pad 1 + crop + flip; give the run's options",
  );
  await expect(run(dir, { batchSize: 8, seed: 2, resume: true })).rejects.toThrow(
    "--batch 8 differs from the run's 16, --seed 2 differs from the run's 1; give the run's options",
  );
  // A warm-up, and a length that moves the scaled schedule's milestones.
  const warm: ScheduleSpec = { type: 'warmup', iterations: 2, startLr: 0.005, mode: 'constant', then: scaledPaperSchedule(4, 0.05) };
  await expect(run(dir, { schedule: warm, resume: true })).rejects.toThrow("--warmup 2 differs from the run's 0;");
  await expect(run(dir, { epochs: 3, schedule: scaledPaperSchedule(6, 0.05), resume: true })).rejects.toThrow(
    "the learning-rate schedule (0.05, /10 at steps 3 and 5) differs from the run's (0.05, /10 at steps 2 and 3) " +
      "because the run's length does (4 steps; this run 6: give the run's --epochs/--iterations); give the run's options",
  );
  expect(fs.readFileSync(file).equals(before)).toBe(true); // nothing was written by the refusals
  // The same settings, the augmentation written in another key order, resume.
  const res = await run(dir, { augment: { flip: true, pad: 1 }, resume: true });
  expect([res.stopped, res.step]).toEqual(['done', 4]);
});

test('a resume on other data (source, classes) is refused, naming it', async () => {
  const dir = await stoppedRun();
  const other = { ...data, source: 'synthetic-b' };
  await expect(run(dir, { trainSet: other, resume: true })).rejects.toThrow(
    "--data synthetic-b differs from the run's synthetic-a; give the run's options",
  );
  const renamed = { ...data, classes: data.classes.map((c, k) => (k === 3 ? 'c3-renamed' : c)) };
  await expect(run(dir, { trainSet: renamed, resume: true })).rejects.toThrow(
    "the classes (c0, c1, c2, c3-renamed, c4, c5, ... (10)) differ from the run's (c0, c1, c2, c3, c4, c5, ... (10))",
  );
  // A folder is stored as its absolute path: another spelling of the same folder resumes.
  const folder = tmpDir();
  const rel = path.relative(process.cwd(), folder);
  const inFolder = await (async () => {
    const d = tmpDir();
    const ctrl = new AbortController();
    await run(d, { trainSet: { ...data, source: folder }, signal: ctrl.signal, onProgress: () => ctrl.abort() });
    return d;
  })();
  const res = await run(inFolder, { trainSet: { ...data, source: rel }, resume: true });
  expect(res.stopped).toBe('done');
});

test('a resume at another image size is refused naming it, even with the normalisation fixed (fine-tuning); it trained on and rewrote the stored size', async () => {
  const prep = { mean: [0.5], std: [0.25] }; // as a pretrained source fixes them: the statistics cannot tell
  const dir = tmpDir();
  const ctrl = new AbortController();
  expect((await run(dir, { preprocessing: prep, signal: ctrl.signal, onProgress: () => ctrl.abort() })).stopped).toBe('aborted');
  const larger = { ...synthetic(32, 12), source: 'synthetic-a' };
  await expect(run(dir, { trainSet: larger, preprocessing: prep, resume: true })).rejects.toThrow(
    /: --image-size 12x12 differs from the run's 8x8; give the run's options/,
  );
  expect((await run(dir, { preprocessing: prep, resume: true })).stopped).toBe('done');
});

test('resumeDifferences: the settings a checkpoint does not store (an older version) are not compared', () => {
  const given = {
    batchSize: 16,
    trainSize: 32,
    seed: 1,
    totalSteps: 4,
    schedule: { type: 'constant', lr: 0.1 } as ScheduleSpec,
    data: 'x',
  };
  expect(resumeDifferences(given, { batchSize: 16, trainSize: 32, seed: 1 })).toEqual([]);
  expect(resumeDifferences(given, { batchSize: 16, trainSize: 30, seed: 1, schedule: { type: 'constant', lr: 0.2 } })).toEqual([
    "the training set of 32 images differs from the run's 30 (--limit, --val)",
    "--lr 0.1 differs from the run's 0.2",
  ]);
  // Milestones moved by another training set are that set's difference, not advice to change --epochs.
  const scaled = { ...given, totalSteps: 8, schedule: scaledPaperSchedule(8, 0.1) };
  expect(
    resumeDifferences(scaled, { batchSize: 16, trainSize: 64, seed: 1, totalSteps: 16, schedule: scaledPaperSchedule(16, 0.1) }),
  ).toEqual(["the training set of 32 images differs from the run's 64 (--limit, --val)"]);
});

test('resumeDifferences: a data folder compared by what it holds, not where (moved: resumes; other images: refused)', () => {
  const given = {
    batchSize: 16,
    trainSize: 32,
    seed: 1,
    totalSteps: 4,
    data: '/mnt/new/pets',
    preprocessing: { mean: [0.5], std: [0.25] },
  };
  const stored = { batchSize: 16, trainSize: 32, seed: 1, data: '/home/me/pets', preprocessing: { mean: [0.5], std: [0.25] } };
  expect(resumeDifferences(given, stored)).toEqual([]);
  expect(resumeDifferences({ ...given, preprocessing: { mean: [0.43], std: [0.25] } }, stored)).toEqual([
    "the normalisation (mean 0.43, std 0.25) differs from the run's (mean 0.5, std 0.25)",
  ]);
  // Same size, classes and statistics, other images or labels (moved between class folders): refused.
  expect(resumeDifferences({ ...given, dataFingerprint: 'aa' }, { ...stored, dataFingerprint: 'aa' })).toEqual([]);
  expect(resumeDifferences({ ...given, dataFingerprint: 'bb' }, { ...stored, dataFingerprint: 'aa' })).toEqual([
    "the training images differ from the run's (same number, classes and size; other pixels or labels: images edited, replaced or moved between class folders)",
  ]);
  // An image edited or replaced moves the statistics too: said as other images, not as a normalisation to give.
  expect(
    resumeDifferences(
      { ...given, dataFingerprint: 'bb', preprocessing: { mean: [0.43], std: [0.25] } },
      { ...stored, dataFingerprint: 'aa' },
    ),
  ).toEqual([
    "the training images differ from the run's (same number, classes and size; other pixels or labels: images edited, replaced or moved between class folders)",
  ]);
  // A folder's count changes with its images as well as with the options.
  expect(resumeDifferences({ ...given, trainSize: 33 }, stored)).toEqual([
    "the training set of 33 images differs from the run's 32 (--limit, --val, or images added or removed)",
  ]);
  // A checkpoint from before fingerprints resumes as before; a difference named already is not named twice.
  expect(resumeDifferences({ ...given, dataFingerprint: 'bb' }, stored)).toEqual([]);
  expect(resumeDifferences({ ...given, trainSize: 30, dataFingerprint: 'bb' }, { ...stored, dataFingerprint: 'aa' })).toHaveLength(1);
  // A named data set for a folder, or another named one: refused by name.
  expect(resumeDifferences({ ...given, data: 'fashion-mnist' }, stored)[0]).toMatch(
    /^--data fashion-mnist differs from the run's \/home\/me\/pets/,
  );
});
