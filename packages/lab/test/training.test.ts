import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { Rng, useBackend } from '@resnet-ts/core';
import type { Dataset } from '@resnet-ts/train';
import { getExperiment, listExperiments, runDegradation, runShortcuts } from '@resnet-ts/lab';

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
  // a second run resumes from the finished checkpoints: same numbers
  logs.length = 0;
  const again = await runDegradation({ ...base, out, depths: [8] });
  expect(logs.some((l) => /resumed/.test(l))).toBe(true);
  expect(again.result.runs.map((x) => x.testError)).toEqual(r.result.runs.map((x) => x.testError));

  const s = await runShortcuts({ ...base, out: path.join(out, 'sc'), depth: 8, options: ['A', 'B'] });
  const [a, b] = s.result.runs;
  expect(a.shortcut).toBe('A');
  expect(b.params).toBeGreaterThan(a.params); // projections have parameters
  expect(b.macs).toBeGreaterThan(a.macs);
  fs.rmSync(out, { recursive: true });
});
