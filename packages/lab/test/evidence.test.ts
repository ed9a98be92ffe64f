import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import type { Dataset, TrainResult } from '@resnet-ts/train';
import { ExperimentFailedError, compareErrors, degradationFindings, noVerdictReason, runDegradation } from '@resnet-ts/lab';
import type { NetRun } from '@resnet-ts/lab';

const set = (n: number, classes: number): Dataset => ({
  images: new Uint8Array(0),
  labels: new Int32Array(n),
  shape: [8, 8, 1],
  classes: Array.from({ length: classes }, (_, i) => String(i)),
});
const run = (name: string, trainError: number, stopped: NetRun['stopped'] = 'done'): NetRun => ({
  name,
  params: 1,
  macs: 1,
  history: [],
  stopped,
  trainError,
  testError: trainError,
  dir: '',
});
const opts = (n: number, classes: number) => ({ trainSet: set(n, classes), testSet: set(8, classes) });

test('no verdict from nets that diverged, near chance or within one seed of noise', () => {
  // All NaN (every net diverged): was "better or equal (as in the paper)".
  const nan = degradationFindings([run('plain8', NaN, 'nan'), run('plain14', NaN, 'nan')], [8, 14], opts(256, 10));
  expect(nan[0].deeperIsWorse).toBeNull();
  expect(nan[0].verdict).toMatch(/diverged or did not finish/);
  // A diverged deep net next to a finished shallow one: no verdict either.
  expect(degradationFindings([run('plain8', 0.3), run('plain14', 0.1, 'nan')], [8, 14], opts(256, 10))[0].deeperIsWorse).toBeNull();
  // 80-92 % on 10 classes (chance 90 %).
  const chance = degradationFindings([run('resnet8', 0.92), run('resnet14', 0.86)], [8, 14], opts(256, 10));
  expect(chance[0].deeperIsWorse).toBeNull();
  expect(chance[0].verdict).toMatch(/chance/);
  // A 2.2-point gap of one seed.
  const small = degradationFindings([run('plain8', 0.4512), run('plain14', 0.4727)], [8, 14], opts(512, 10));
  expect(small[0].deeperIsWorse).toBeNull();
  expect(small[0].verdict).toMatch(/one seed/);
  // A clear gap on many images is a verdict.
  const clear = degradationFindings([run('plain8', 0.1), run('plain14', 0.3)], [8, 14], opts(50000, 10));
  expect(clear[0].deeperIsWorse).toBe(true);
  expect(clear[0].verdict).toBe('worse');
});

test('compareErrors: seeds, spread and sample size set the margin', () => {
  expect(compareErrors({ error: 0.2, spread: 0.01 }, { error: 0.25, spread: 0.01 }, { classes: 10, seeds: 3 }).kind).toBe('a-lower');
  expect(compareErrors({ error: 0.2, spread: 0.03 }, { error: 0.25, spread: 0.01 }, { classes: 10, seeds: 3 }).kind).toBe('within-noise');
  expect(compareErrors({ error: 0.2, spread: 0 }, { error: 0.25, spread: 0 }, { classes: 10, seeds: 1 }).kind).toBe('within-noise');
  // 3 points on 100 images at 5 classes (chance 80 %): near chance.
  expect(compareErrors({ error: 0.8 }, { error: 0.83 }, { classes: 5, seeds: 1 }).kind).toBe('near-chance');
  // 10 points on 20 images: within the sampling error.
  const e = compareErrors({ error: 0.3, images: 20 }, { error: 0.4, images: 20 }, { classes: 10, seeds: 1 });
  expect(e.kind).toBe('within-noise');
  expect(noVerdictReason(e)).toMatch(/one seed/);
});

test('degradation where every net diverged writes its report without a verdict and throws', async () => {
  await useBackend('cpu');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-diverged-'));
  const trainFn = async () => ({ history: [], stopped: 'nan' as const, message: 'Training diverged' }) as unknown as TrainResult;
  const run = runDegradation({
    ...opts(8, 3),
    epochs: 1,
    batchSize: 4,
    widths: [4, 8, 8],
    progressBar: false,
    command: 'test',
    out,
    depths: [8, 14],
    trainFn,
    timeStep: () => 0.1,
  });
  await expect(run).rejects.toThrow(ExperimentFailedError);
  const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  expect(report).not.toMatch(/as in the paper|points off|better or equal/);
  expect(report).toMatch(/cannot tell: a net diverged/);
  fs.rmSync(out, { recursive: true });
});
