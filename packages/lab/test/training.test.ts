import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { Rng, useBackend } from '@resnet-ts/core';
import type { ResNet } from '@resnet-ts/core';
import { train } from '@resnet-ts/train';
import type { Dataset, TrainOptions } from '@resnet-ts/train';
import {
  ExperimentInterruptedError,
  estimateTrainingSeconds,
  getExperiment,
  listExperiments,
  resumedSteps,
  runDegradation,
  runShortcuts,
} from '@resnet-ts/lab';

function tinySet(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    images: Uint8Array.from(rng.uniformArray(n * 8 * 8, 0, 255), Math.floor),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    shape: [8, 8, 1],
    classes: ['a', 'b', 'c'],
  };
}

beforeAll(async () => {
  await useBackend('cpu');
});

test('registry lists all experiments', () => {
  expect(
    listExperiments()
      .map((e) => e.name)
      .sort(),
  ).toEqual(['degradation', 'gradflow', 'identity', 'lesion', 'paths', 'shortcuts', 'transfer']);
  expect(() => getExperiment('nope')).toThrow(/Known: /);
});

test('degradation and shortcuts run through the trainer on a tiny config and resume', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-degr-'));
  const logs: string[] = [];
  const base = {
    trainSet: tinySet(8, 1),
    testSet: tinySet(4, 2),
    dataName: 'tiny',
    epochs: 1,
    batchSize: 4,
    padTo: [8, 8] as [number, number],
    augment: false as const,
    widths: [4, 8, 8],
    progressBar: false,
    command: 'test',
    log: (m: string) => logs.push(m),
  };
  const r = await runDegradation({ ...base, out, depths: [8] });
  expect(logs.some((l) => l.startsWith('expected duration'))).toBe(true);
  expect(r.result.runs.map((x) => x.name)).toEqual(['plain8', 'resnet8']);
  for (const run of r.result.runs) {
    expect(run.history.length).toBe(1);
    expect(run.testError).toBeGreaterThanOrEqual(0);
    expect(fs.existsSync(path.join(out, 'runs', run.name, 'checkpoint.safetensors'))).toBe(true);
  }
  expect(fs.existsSync(path.join(out, 'plain.svg'))).toBe(true);
  // The report says what the numbers were measured on.
  expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('on tiny (8 training and 4 test images)');
  // a second run resumes from the finished checkpoints: same numbers
  logs.length = 0;
  const again = await runDegradation({ ...base, out, depths: [8] });
  expect(logs.some((l) => /resumed/.test(l))).toBe(true);
  expect(again.result.runs.map((x) => x.testError)).toEqual(r.result.runs.map((x) => x.testError));
  // The trainer's refusals name this command's options (--limit, --epochs, --data), never `resnet train`'s, and its way out.
  const refusal = async (extra: object) => {
    const e = await runDegradation({ ...base, out, depths: [8], ...extra }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(e).toBeInstanceOf(Error);
    const m = (e as Error).message;
    for (const foreign of ['--val', '--iterations', '--model', '--init', '--classes', '--force']) expect(m).not.toContain(foreign);
    return m;
  };
  expect(await refusal({ trainSet: tinySet(6, 1) })).toMatch(
    /: the training set of 6 images differs from the run's 8 \(--limit\); give the run's options, or start a new run with --no-resume or another --out\.$/,
  );
  expect(await refusal({ epochs: 2 })).toMatch(
    /because the run's length does \(2 steps; this run 4: give the run's --epochs\); give the run's options, or start a new run with --no-resume or another --out\.$/,
  );
  expect(await refusal({ batchSize: 8, lr: 0.5 })).toMatch(/: --batch 8 differs from the run's 4, --lr 0\.5 differs from the run's 0\.1; /);
  expect(await refusal({ trainSet: { ...tinySet(8, 1), images: new Uint8Array(8 * 8 * 8 * 3), shape: [8, 8, 3] } })).toMatch(
    /it holds another network than this run's .*\. Use the --data of the run that made it, or --no-resume or another --out\.$/,
  );
  // another --test-limit: the finished nets' test errors are the old set's, so refuse before training
  logs.length = 0;
  await expect(runDegradation({ ...base, testSet: tinySet(3, 2), out, depths: [8] })).rejects.toThrow(
    /the test set of 3 images \(--test-limit\) differs from the run's 4/,
  );
  expect(logs.some((l) => l.startsWith('expected duration'))).toBe(false);
  // --no-resume starts afresh on the new test set
  const fresh = await runDegradation({ ...base, testSet: tinySet(3, 2), out, depths: [8], resume: false });
  for (const x of fresh.result.runs) expect(Math.abs(x.testError * 3 - Math.round(x.testError * 3))).toBeLessThan(1e-6); // k/3

  const s = await runShortcuts({ ...base, out: path.join(out, 'sc'), depth: 8, options: ['A', 'B'] });
  const [a, b] = s.result.runs;
  expect(a.shortcut).toBe('A');
  expect(b.params).toBeGreaterThan(a.params); // projections have parameters
  expect(b.macs).toBeGreaterThan(a.macs);
  expect(fs.readFileSync(path.join(out, 'sc', 'report.md'), 'utf8')).toContain('on tiny (8 training and 4 test images)');
  // The chart's errors are in % as the table's (they were fractions under a table in %).
  expect(fs.readFileSync(path.join(out, 'sc', 'error.svg'), 'utf8')).toContain('error (%)');
  await expect(runShortcuts({ ...base, testSet: tinySet(2, 2), out: path.join(out, 'sc'), depth: 8, options: ['A', 'B'] })).rejects.toThrow(
    /--test-limit/,
  );
  fs.rmSync(out, { recursive: true });
});

test("the duration estimate is each net's step timed at the run's batch size times its steps, plus its test evaluation", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-estimate-'));
  const logs: string[] = [];
  const timed: { residual: boolean; batch: number; hwc: number[] }[] = [];
  // Injected timings (no clock): plain nets 0.4 s a step, residual ones 0.6 s.
  const timeStep = (model: ResNet, batch: number, hwc: [number, number, number]) => {
    timed.push({ residual: model.spec.residual !== false, batch, hwc });
    return model.spec.residual === false ? 0.4 : 0.6;
  };
  await runDegradation({
    trainSet: tinySet(32, 1),
    testSet: tinySet(12, 2),
    epochs: 2,
    batchSize: 16,
    padTo: [8, 8],
    augment: false,
    widths: [4, 8, 8],
    progressBar: false,
    command: 'test',
    log: (m: string) => logs.push(m),
    out,
    depths: [8],
    timeStep,
  });
  // Timed at the batch the run trains with (16), not a smaller probe batch scaled up.
  expect(timed).toEqual([
    { residual: false, batch: 16, hwc: [8, 8, 1] },
    { residual: true, batch: 16, hwc: [8, 8, 1] },
  ]);
  expect(logs).toContain('  plain8: ~0.40 s per step of 16');
  // Per net: 2 epochs x (2 steps x t + 12 test images x t / 16 / 3) = 4.5 t; 4.5 x (0.4 + 0.6) = 4.5 s.
  const e = { batchSize: 16, stepsPerEpoch: 2, epochs: 2, testImages: 12 };
  expect(estimateTrainingSeconds({ ...e, stepSeconds: [0.4, 0.6] })).toBeCloseTo(4.5, 12);
  expect(estimateTrainingSeconds({ ...e, stepSeconds: [0.8, 1.2] })).toBeCloseTo(9, 12); // twice the step, twice the time
  expect(logs.find((l) => l.startsWith('expected duration'))).toMatch(
    /^expected duration: about 4\.50 s on cpu for 2 nets x 2 epochs x 2 steps/,
  );
  fs.rmSync(out, { recursive: true });
});

test('a resumed run estimates only the work left, and times no net that is finished', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-estimate-resume-'));
  const logs: string[] = [];
  const timed: boolean[] = [];
  const timeStep = (model: ResNet) => {
    timed.push(model.spec.residual !== false);
    return model.spec.residual === false ? 0.4 : 0.6;
  };
  const base = {
    trainSet: tinySet(32, 1),
    testSet: tinySet(12, 2),
    epochs: 2,
    batchSize: 16,
    padTo: [8, 8] as [number, number],
    augment: false as const,
    widths: [4, 8, 8],
    progressBar: false,
    command: 'test',
    log: (m: string) => logs.push(m),
    out,
    depths: [8],
    timeStep,
  };
  // The first invocation stops plain8 after step 3 of its 4 (a checkpoint in its second epoch), before resnet8 starts.
  const ctrl = new AbortController();
  const stopAfter3 = (o: TrainOptions) =>
    train({ ...o, signal: ctrl.signal, onProgress: (p) => (o.onProgress?.(p), p.step === 3 && ctrl.abort()) });
  // Interrupted: no report from a partial run, an ExperimentInterruptedError instead.
  await expect(runDegradation({ ...base, trainFn: stopAfter3 })).rejects.toThrow(ExperimentInterruptedError);
  expect(fs.existsSync(path.join(out, 'report.md'))).toBe(false);
  expect(fs.existsSync(path.join(out, 'runs', 'plain8', 'checkpoint.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(out, 'runs', 'resnet8', 'checkpoint.safetensors'))).toBe(false);
  // Resumed: plain8 has 1 step and 1 evaluation left (0.4 x (1 + 12 / 16 / 3) = 0.5 s), resnet8 all of it (0.6 x 4.5 = 2.7 s).
  logs.length = 0;
  timed.length = 0;
  await runDegradation(base);
  expect(logs.find((l) => l.startsWith('expected duration'))).toMatch(
    /^expected duration: about 3\.20 s on cpu for what is left: 5 of 8 steps \(2 nets x 2 epochs x 2 steps; 3 done in an earlier run, resumed from checkpoints\)/,
  );
  expect(logs.some((l) => /plain8: resumed from .* at step 3/.test(l))).toBe(true);
  // Everything finished: no net is timed, and no duration is promised.
  logs.length = 0;
  timed.length = 0;
  await runDegradation(base);
  expect(timed).toEqual([]);
  expect(logs.some((l) => l.startsWith('expected duration'))).toBe(false);
  expect(logs).toContain(
    'nothing left to train: the checkpoints of all 2 nets are at their last step (4); checking them against this run, then writing the report',
  );
  // --no-resume starts every net afresh: nothing counts as done.
  expect(resumedSteps([path.join(out, 'runs', 'plain8'), path.join(out, 'runs', 'resnet8')], true)).toEqual([4, 4]);
  expect(resumedSteps([path.join(out, 'runs', 'plain8'), path.join(out, 'runs', 'resnet8')], false)).toEqual([0, 0]);
  fs.rmSync(out, { recursive: true });
});
