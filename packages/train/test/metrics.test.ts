// evaluate() on a real model whose weights hold NaN or Inf: every such prediction is wrong and
// counted, never "top-1: 100 %".
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { evaluate, formatEvalReport } from '../src/index.js';
import { synthetic, tinyModel } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** Writes `value` into `count` entries (from flat index `from`) of the model's variable `name`. */
function poison(model: ReturnType<typeof tinyModel>, name: string, value: number, from = 0, count = Infinity): void {
  const v = new Map(model.namedParameters()).get(name)!;
  tf.tidy(() => {
    const data = v.dataSync().slice() as Float32Array;
    data.fill(value, from, Math.min(data.length, from + count));
    v.assign(tf.tensor(data, v.shape));
  });
}

const data = synthetic(30, 8, 3);

test('a NaN fc layer: every prediction non-finite and wrong, loss NaN, shown in the report', () => {
  const model = tinyModel(2);
  poison(model, 'fc.weight', NaN);
  evaluate(model, data, { batchSize: 8 }); // builds the eval-mode folded weights (kept by the model)
  const before = tf.memory().numTensors;
  const r = evaluate(model, data, { batchSize: 8 });
  expect(tf.memory().numTensors).toBe(before);
  expect(r.nonFinite).toBe(30);
  expect(r.top1).toBe(0);
  expect(r.top5).toBe(0);
  expect(r.loss).toBeNaN();
  expect(r.perClass.every((a) => a === 0)).toBe(true);
  expect(r.confusion.flat().reduce((a, b) => a + b, 0)).toBe(0);
  const report = formatEvalReport(r);
  expect(report).toContain('top-1: 0.00 %');
  expect(report).toContain('non-finite predictions: 30 of 30');
  model.dispose();
});

test('an Inf logit on the true class is not a right answer either', () => {
  const model = tinyModel(2);
  poison(model, 'fc.bias', Infinity, 0, 1); // class 0 scores +Inf for every image
  const r = evaluate(model, data, { batchSize: 8 });
  expect(r.nonFinite).toBe(30);
  expect(r.top1).toBe(0);
  expect(r.perClass[0]).toBe(0);
  model.dispose();
});

test('finite weights: nothing non-finite, accuracies as before (top-1 from the confusion diagonal)', () => {
  const model = tinyModel(2);
  const r = evaluate(model, data, { batchSize: 8 });
  expect(r.nonFinite).toBe(0);
  expect(Number.isFinite(r.loss)).toBe(true);
  const diagonal = r.confusion.reduce((a, row, k) => a + row[k], 0);
  expect(r.top1).toBeCloseTo(diagonal / 30, 10);
  expect(formatEvalReport(r)).toContain('non-finite predictions: 0');
  model.dispose();
});
