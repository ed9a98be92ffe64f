/**
 * The compiled inference plan's life: rebuilt when the weights change (`loadStateDict`,
 * `Variable.assign`) or a lesion switches a block's branch off, rebuilt for a new input shape, never
 * used in training or under a gradient tape, no tensor leaks, and its native memory freed when the
 * model is disposed.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setInferencePlan, useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import '../src/index.js';
import { loadAddon } from '../src/native/index.js';
import { describeNative, expectSameValues, input, logits, planRuns, randomizeBatchNorms } from './plan-helpers.js';

const differs = (a: Float32Array, b: Float32Array) => a.some((v, i) => Math.abs(v - b[i]) > 1e-3);

describeNative('compiled inference plan: invalidation, leaks, disposal', () => {
  beforeAll(async () => {
    await useBackend('native');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  test('loadStateDict and Variable.assign rebuild the plan: it gives the new weights’ logits', () => {
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 1);
    const other = createModel('resnet20', { seed: 5 }).eval();
    randomizeBatchNorms(other, 2);
    const x = input([2, 32, 32, 3]);
    const before = logits(model, x, true);

    const dict = other.stateDict();
    model.loadStateDict(dict);
    tf.dispose([...dict.values()]);
    const loaded = logits(model, x, true);
    expect(differs(loaded, before)).toBe(true);
    expectSameValues(loaded, logits(other, x, false));

    // One weight assigned in place of the old storage.
    const w = model.fc.weight;
    w.assign(tf.mul(w, 2));
    const assigned = logits(model, x, true);
    expect(differs(assigned, loaded)).toBe(true);
    expectSameValues(assigned, logits(model, x, false));
    x.dispose();
    model.dispose();
    other.dispose();
  });

  test('a lesion (branchEnabled = false) rebuilds the plan, and so does undoing it', () => {
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 3);
    const x = input([2, 32, 32, 3]);
    const whole = logits(model, x, true);
    for (const b of [1, 3, 6]) {
      const block = model.blocks()[b]; // 3 and 6 are option A blocks that change the shape
      block.branchEnabled = false;
      let lesioned = new Float32Array();
      expect(planRuns(() => (lesioned = logits(model, x, true)))).toBe(1);
      expect(differs(lesioned, whole)).toBe(true);
      expectSameValues(lesioned, logits(model, x, false));
      block.branchEnabled = true;
      expectSameValues(logits(model, x, true), whole, 0);
    }
    x.dispose();
    model.dispose();
  });

  test('a new input shape gets its own plan; training mode and a gradient tape use the layers', () => {
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 4);
    for (const shape of [
      [1, 32, 32, 3],
      [3, 40, 24, 3],
    ]) {
      const x = input(shape);
      let planned = new Float32Array();
      expect(planRuns(() => (planned = logits(model, x, true)))).toBe(1);
      expectSameValues(planned, logits(model, x, false));
      x.dispose();
    }
    const x = input([2, 32, 32, 3]);
    expect(planRuns(() => model.forward(x, { training: true }).dispose())).toBe(0);
    expect(
      planRuns(() =>
        tf
          .grad((v: tf.Tensor) => tf.sum(model.forward(v, { training: false })))(x)
          .dispose(),
      ),
    ).toBe(0);
    const previous = setInferencePlan(false);
    expect(planRuns(() => model.forward(x).dispose())).toBe(0);
    setInferencePlan(previous);
    x.dispose();
    model.dispose();
  });

  test('no tensor leaks: tf.memory().numTensors stays flat over planned forwards and rebuilds', () => {
    const model = createModel('resnet20').eval();
    randomizeBatchNorms(model, 6);
    const x = input([2, 32, 32, 3]);
    logits(model, x, true); // builds the plan (and the folded-weight caches it reads)
    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) logits(model, x, true);
    model.blocks()[2].branchEnabled = false;
    logits(model, x, true);
    model.blocks()[2].branchEnabled = true;
    logits(model, x, true);
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
    model.dispose();
  });

  test('building the plan makes no folded copy of the weights: tensor bytes stay what the model holds', () => {
    const model = createModel('resnet50').eval();
    randomizeBatchNorms(model, 7);
    const x = input([1, 64, 64, 3]);
    const weightBytes = model.parameters().reduce((n, p) => n + p.size * 4, 0);
    const before = tf.memory().numBytes;
    // The tensor bytes at the moment the native plan copies the weights (the peak of the build).
    const addon = loadAddon().addon!;
    let atCreate = -1;
    const original = addon.planCreate.bind(addon);
    const spy = jest.spyOn(addon, 'planCreate').mockImplementation((...args: Parameters<typeof addon.planCreate>) => {
      atCreate = tf.memory().numBytes;
      return original(...args);
    });
    try {
      // Builds the plan (the batch norms are folded while the filters are copied) and runs it.
      expect(planRuns(() => logits(model, x, true))).toBe(1);
    } finally {
      spy.mockRestore();
    }
    // A folded copy of every filter would add about weightBytes at that moment.
    expect(atCreate - before).toBeLessThan(weightBytes * 0.05);
    expect(tf.memory().numBytes - before).toBeLessThan(weightBytes * 0.05);
    x.dispose();
    model.dispose();
  });

  test('native memory is freed: dispose() and a rebuild release the old plan', () => {
    const addon = loadAddon().addon!;
    const spy = jest.spyOn(addon, 'planDispose');
    try {
      const model = createModel('resnet20').eval();
      const x = input([2, 32, 32, 3]);
      logits(model, x, true);
      expect(spy).not.toHaveBeenCalled();
      model.blocks()[0].branchEnabled = false;
      logits(model, x, true); // rebuild: the old plan is freed
      expect(spy).toHaveBeenCalledTimes(1);
      model.dispose();
      expect(spy).toHaveBeenCalledTimes(2);
      // A freed handle refuses to run instead of touching freed memory.
      expect(() => addon.planRun(spy.mock.calls[1][0], new Float32Array(6144), new Float32Array(20))).toThrow(/disposed/);
      x.dispose();
    } finally {
      spy.mockRestore();
    }
  });
});
