// Weights holding NaN or ±Inf: the loaders warn with one line (or refuse the file, leaving the model
// unchanged), whatever the file is: a checkpoint written by saveCheckpoint with poisoned values.
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NonFiniteTally, NonFiniteWeightsError, ResNet, countNonFinite, setNonFinitePolicy } from '@resnet-ts/core';
import { loadCheckpoint, loadWeightsInto, saveCheckpoint } from '@resnet-ts/core/node';
import { useBackend } from './setup';

const spec = {
  stem: 'cifar' as const,
  stemWidth: 4,
  stages: [{ block: 'basic', width: 4, depth: 1, stride: 1 }],
  shortcut: 'A',
  numClasses: 3,
  seed: 1,
};

let dir: string;
let poisoned: string;
let clean: string;

/** Sets `count` values of a variable (flat indices 0..count-1) to `value`. */
function poison(v: tf.Variable, count: number, value: number): void {
  tf.tidy(() => {
    const data = v.dataSync().slice() as Float32Array;
    data.fill(value, 0, count);
    v.assign(tf.tensor(data, v.shape));
  });
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-nonfinite-'));
  const model = new ResNet(spec);
  clean = path.join(dir, 'clean.safetensors');
  await saveCheckpoint(clean, model);
  const vars = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  poison(vars.get('conv1.weight')!, 3, NaN);
  poison(vars.get('layer1.0.bn1.running_var')!, 1, Infinity);
  poison(vars.get('fc.bias')!, 2, -Infinity);
  poisoned = path.join(dir, 'diverged.safetensors');
  await saveCheckpoint(poisoned, model);
  model.dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => setNonFinitePolicy('warn'));

test('countNonFinite counts NaN, +Inf and -Inf, and nothing finite (however large)', () => {
  expect(countNonFinite([NaN, Infinity, -Infinity, 0, -0, 3.4e38, -3.4e38, 1e-45])).toBe(3);
  expect(countNonFinite(new Float32Array([1, 2, 3]))).toBe(0);
  expect(countNonFinite(new Float32Array(0))).toBe(0);
  // One non-finite value at every position of the 4-wide screen and in its tail, among -0 and huge values.
  for (let at = 0; at < 11; at++) {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const v = new Float32Array(11).fill(-0);
      v[(at + 1) % 11] = 3.4e38;
      v[at] = bad;
      expect(countNonFinite(v)).toBe(1);
    }
  }
});

test('default: one warning line naming the file, the tensors and the values; the weights are loaded as they are', () => {
  const model = new ResNet(spec);
  const before = tf.memory().numTensors;
  const warnings: string[] = [];
  const report = loadWeightsInto(model, poisoned, { warn: (m) => warnings.push(m) });
  expect(tf.memory().numTensors).toBe(before);
  expect(report.loaded.length).toBeGreaterThan(0);
  expect(warnings).toHaveLength(1);
  const line = warnings[0];
  expect(line).not.toContain('\n');
  expect(line).toContain(poisoned);
  expect(line).toMatch(/^warning: .*: 3 of \d+ tensors hold NaN or Inf \(6 values: [^)]*\)/);
  for (const name of ['conv1.weight', 'layer1.0.bn1.running_var', 'fc.bias']) expect(line).toContain(name);
  const conv1 = new Map(model.namedParameters()).get('conv1.weight')!;
  expect(countNonFinite(conv1.dataSync())).toBe(3);
  model.dispose();
});

test('a clean file gives no warning', () => {
  const model = new ResNet(spec);
  const warnings: string[] = [];
  loadWeightsInto(model, clean, { warn: (m) => warnings.push(m) });
  expect(warnings).toEqual([]);
  model.dispose();
});

test("nonFinite: 'error' refuses the file before anything changes", () => {
  const model = new ResNet(spec);
  const conv1 = new Map(model.namedParameters()).get('conv1.weight')!;
  const original = conv1.dataSync().slice();
  const before = tf.memory().numTensors;
  let error: unknown;
  try {
    loadWeightsInto(model, poisoned, { nonFinite: 'error' });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(NonFiniteWeightsError);
  const e = error as NonFiniteWeightsError;
  expect(e.code).toBe('NON_FINITE');
  expect(e.message).toContain(poisoned);
  expect(e.message).not.toContain('\n');
  expect(Object.fromEntries(e.tensors.map((t) => [t.name, t.count]))).toEqual({
    'conv1.weight': 3,
    'layer1.0.bn1.running_var': 1,
    'fc.bias': 2,
  });
  expect(Array.from(conv1.dataSync())).toEqual(Array.from(original));
  expect(tf.memory().numTensors).toBe(before);
  // The clean file loads under the same policy.
  expect(() => loadWeightsInto(model, clean, { nonFinite: 'error' })).not.toThrow();
  model.dispose();
});

test("setNonFinitePolicy('error') is the default of every loader (the CLI's --strict-finite), loadCheckpoint included", () => {
  setNonFinitePolicy('error');
  expect(() => loadCheckpoint(poisoned)).toThrow(NonFiniteWeightsError);
  const { model } = loadCheckpoint(clean);
  model.dispose();
  setNonFinitePolicy('warn');
  const warnings: string[] = [];
  const loaded = loadCheckpoint(poisoned, { warn: (m) => warnings.push(m) });
  expect(warnings).toHaveLength(1);
  loaded.model.dispose();
});

test("nonFinite: 'ignore' says nothing", () => {
  const model = new ResNet(spec);
  const warnings: string[] = [];
  loadWeightsInto(model, poisoned, { nonFinite: 'ignore', warn: (m) => warnings.push(m) });
  expect(warnings).toEqual([]);
  model.dispose();
});

test('NonFiniteTally (for loaders of other formats) lists at most three names', () => {
  const tally = new NonFiniteTally('x.pth', 'warn');
  for (let i = 0; i < 5; i++) tally.add(`t${i}`, [NaN, 1]);
  tally.add('ok', [1, 2]);
  expect(tally.describe()).toBe('x.pth: 5 of 6 tensors hold NaN or Inf (5 values: t0, t1, t2, ... (5 in all))');
});
