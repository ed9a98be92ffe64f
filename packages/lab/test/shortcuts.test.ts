/**
 * `lab shortcuts` states a comparison of two options ("B beats A") only where the lab's one rule of
 * evidence (evidence.ts) says the gap is one; otherwise it says it cannot tell and why. The trainer is
 * injected: each option ends with the errors a case needs, no training runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import type { Dataset, TrainOptions, TrainResult } from '@resnet-ts/train';
import { ExperimentFailedError, runShortcuts } from '@resnet-ts/lab';

const set = (n: number, classes: number): Dataset => ({
  images: new Uint8Array(0),
  labels: new Int32Array(n),
  shape: [8, 8, 1],
  classes: Array.from({ length: classes }, (_, i) => String(i)),
});

/** A trainer whose run of each shortcut option ends with that option's test error (or stops as given). */
const fakeTrainer =
  (ends: Record<string, { testError: number; stopped?: TrainResult['stopped'] }>) =>
  async (o: TrainOptions): Promise<TrainResult> => {
    const end = ends[o.model.spec.shortcut as string];
    const history =
      end.stopped === 'nan' && !Number.isFinite(end.testError)
        ? []
        : [{ epoch: 1, trainAcc: 1 - end.testError, top1: 1 - end.testError, seconds: 1 }];
    return { history, stopped: end.stopped ?? 'done', step: 1, totalSteps: 1 } as unknown as TrainResult;
  };

let out: string;
beforeAll(async () => {
  await useBackend('cpu');
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-shortcuts-'));
});
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

function run(name: string, ends: Parameters<typeof fakeTrainer>[0], classes = 10, testImages = 10000) {
  return runShortcuts({
    trainSet: set(8, classes),
    testSet: set(testImages, classes),
    epochs: 1,
    batchSize: 4,
    widths: [4, 8, 8],
    progressBar: false,
    command: 'test',
    out: path.join(out, name),
    depth: 8,
    trainFn: fakeTrainer(ends),
    timeStep: () => 0.1,
  });
}

const report = (name: string) => fs.readFileSync(path.join(out, name, 'report.md'), 'utf8');

test('a gap within one seed\'s noise is "cannot tell"; a clear one names the better option', async () => {
  const r = await run('noise', { A: { testError: 0.3 }, B: { testError: 0.31 }, C: { testError: 0.1 } });
  expect(r.result.comparisons.map(({ a, b, better }) => [a, b, better])).toEqual([
    ['A', 'B', null],
    ['A', 'C', 'C'],
    ['B', 'C', 'C'],
  ]);
  const text = report('noise');
  // Was "Ranked by test error: C 10.00 % < A 30.00 % < B 31.00 %": an order of A and B that one seed cannot show.
  expect(text).not.toMatch(/A 30\.00 % < B/);
  expect(text).toContain(
    '- Option A ended with test error 30.00 % vs 31.00 % for option B: cannot tell: with one seed a gap under 5.00 points cannot be told from noise.',
  );
  expect(text).toContain('- Option A ended with test error 30.00 % vs 10.00 % for option C: C beats A.');
  expect(text).toContain('- Option B ended with test error 31.00 % vs 10.00 % for option C: C beats B.');
  expect(text).toMatch(/A gap counts only between nets that finished, not both within 5 points of chance \(90\.00 %\)/);
});

test('nets near chance, a net that did not finish and a gap inside the sampling error of a small test set give no verdict', async () => {
  const chance = await run('chance', { A: { testError: 0.88 }, B: { testError: 0.87 }, C: { testError: 0.86 } });
  expect(chance.result.comparisons.every((c) => c.better === null && /chance/.test(c.verdict))).toBe(true);
  // B diverged in its second epoch: its first epoch's error is finite but no final number.
  const stopped = await run('stopped', { A: { testError: 0.4 }, B: { testError: 0.1, stopped: 'nan' }, C: { testError: 0.2 } });
  expect(stopped.result.comparisons.map((c) => c.better)).toEqual([null, 'C', null]);
  expect(report('stopped')).toContain('for option B: cannot tell: a net diverged or did not finish (no finite error).');
  // 12 points on 40 test images each: within twice the sampling error.
  const small = await run('small', { A: { testError: 0.3 }, B: { testError: 0.42 }, C: { testError: 0.3 } }, 10, 40);
  expect(small.result.comparisons[0]).toMatchObject({ a: 'A', b: 'B', better: null });
});

test('every option diverged: the report has no verdict and the run fails (exit 1 in the CLI)', async () => {
  const nan = { testError: NaN, stopped: 'nan' as const };
  await expect(run('diverged', { A: nan, B: nan, C: nan })).rejects.toThrow(ExperimentFailedError);
  const text = report('diverged');
  expect(text).toMatch(/cannot tell: a net diverged/);
  expect(text).not.toMatch(/beats/);
});
