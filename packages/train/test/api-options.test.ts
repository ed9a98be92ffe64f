/**
 * What the library API refuses from a JS caller, each in one typed line naming the value, what is
 * allowed and what to do: learning-rate schedules (every field of every kind), `SGD`'s options,
 * gradients and momentum buffers (as torch.optim.SGD, and shapes, not just sizes), `evaluate`'s data
 * and options, `predict`'s k. Each case was accepted before and gave a silently wrong run or number.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend, type Module } from '@resnet-ts/core';
import {
  DataError,
  Dataset,
  SGD,
  ScheduleSpec,
  TrainError,
  evaluate,
  makeSchedule,
  predict,
  scaledPaperSchedule,
  validateSchedule,
} from '../src/index.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** The error `f` throws (fails the test when it throws none). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** One line, typed, with the given parts. */
function expectRefusal(e: Error, type: typeof TrainError | typeof DataError, ...parts: RegExp[]): void {
  expect(e).toBeInstanceOf(type);
  expect(e.message).not.toContain('\n');
  for (const p of parts) expect(e.message).toMatch(p);
}

describe('validateSchedule: every field of every kind', () => {
  const constant = (lr: number): ScheduleSpec => ({ type: 'constant', lr });
  const cases: [string, unknown, RegExp][] = [
    [
      'cosine lr -0.1 (gradient ascent)',
      { type: 'cosine', lr: -0.1, total: 10 },
      /cosine schedule: lr is -0\.1; it must be a finite number >= 0: give 0\.1/,
    ],
    ['cosine lr NaN', { type: 'cosine', lr: NaN, total: 10 }, /lr is NaN; it must be a finite number >= 0/],
    ['cosine lr as a string', { type: 'cosine', lr: '0.1', total: 10 }, /lr is "0\.1" \(a string\); it must be a finite number/],
    ['cosine minLr -1', { type: 'cosine', lr: 0.1, total: 10, minLr: -1 }, /minLr is -1/],
    ['cosine total 2.5', { type: 'cosine', lr: 0.1, total: 2.5 }, /total is 2\.5; it must be a whole number of steps >= 1/],
    [
      'multistep gamma -1 (lr 0.1 then -0.1)',
      { type: 'multistep', lr: 0.1, milestones: [1], gamma: -1 },
      /gamma is -1; it must be a finite number > 0/,
    ],
    ['multistep gamma NaN', { type: 'multistep', lr: 0.1, milestones: [1], gamma: NaN }, /gamma is NaN/],
    [
      'multistep milestones not a list',
      { type: 'multistep', lr: 0.1, milestones: 5 },
      /milestones is 5; it must be a list of whole numbers/,
    ],
    ['multistep milestone 1.5', { type: 'multistep', lr: 0.1, milestones: [1.5] }, /milestones is \[1\.5\]/],
    [
      'warmup startLr -1',
      { type: 'warmup', iterations: 2, startLr: -1, then: constant(0.1) },
      /warmup schedule: startLr is -1; it must be a finite number >= 0/,
    ],
    ['warmup startLr NaN', { type: 'warmup', iterations: 2, startLr: NaN, then: constant(0.1) }, /startLr is NaN/],
    [
      'warmup mode typo',
      { type: 'warmup', iterations: 2, startLr: 0.01, mode: 'const', then: constant(0.1) },
      /mode is "const"; it must be 'linear' or 'constant'/,
    ],
    [
      'warmup iterations -1',
      { type: 'warmup', iterations: -1, startLr: 0.01, then: constant(0.1) },
      /iterations is -1; it must be a whole number/,
    ],
    [
      'warmup then missing',
      { type: 'warmup', iterations: 2, startLr: 0.01 },
      /then is undefined; it must be the schedule after the warm-up/,
    ],
    [
      'warmup then bad',
      { type: 'warmup', iterations: 2, startLr: 0.01, then: { type: 'cosine', lr: -1, total: 3 } },
      /cosine schedule: lr is -1/,
    ],
    ['constant lr Infinity', constant(Infinity), /constant schedule: lr is Infinity; it must be a finite number >= 0/],
    [
      'unknown type',
      { type: 'cosin', lr: 0.1, total: 3 },
      /schedule type "cosin" is unknown; it must be one of 'constant', 'multistep', 'cosine', 'warmup'/,
    ],
  ];
  test.each(cases)('%s is refused', (_, spec, message) => {
    expectRefusal(
      thrown(() => validateSchedule(spec as ScheduleSpec)),
      TrainError,
      /^Bad learning-rate schedule: /,
      message,
    );
    expect(() => makeSchedule(spec as ScheduleSpec)).toThrow(TrainError);
  });
  test('what the library and the CLI build is accepted, repeated milestones included', () => {
    for (const total of [1, 2, 3, 1000]) expect(() => validateSchedule(scaledPaperSchedule(total))).not.toThrow();
    expect(scaledPaperSchedule(3).milestones).toEqual([2, 2]);
    expect(() =>
      validateSchedule({
        type: 'warmup',
        iterations: 0,
        startLr: 0,
        mode: 'constant',
        then: { type: 'cosine', lr: 0, total: 1, minLr: 0 },
      }),
    ).not.toThrow();
    // As PyTorch: MultiStepLR's milestones in any order, CosineAnnealingLR's eta_min above the base rate.
    const unsorted = makeSchedule({ type: 'multistep', lr: 1, milestones: [4, 2], gamma: 0.5 });
    expect([1, 2, 3, 4, 5].map(unsorted)).toEqual([1, 0.5, 0.5, 0.25, 0.25]);
    const rising = makeSchedule({ type: 'cosine', lr: 0.1, minLr: 0.3, total: 10 });
    expect(rising(0)).toBeCloseTo(0.1, 12);
    expect(rising(10)).toBeCloseTo(0.3, 12);
  });
});

/** Two parameters: a 3x3 conv kernel (HWIO [3, 3, 2, 4]) and a bias. */
function params(): [string, tf.Variable][] {
  return [
    ['conv.weight', tf.variable(tf.ones([3, 3, 2, 4]))],
    ['fc.bias', tf.variable(tf.ones([4]))],
  ];
}

describe('SGD refuses what torch.optim.SGD refuses, and what would silently do nothing', () => {
  const cases: [string, object, RegExp][] = [
    ['momentum -0.5', { momentum: -0.5 }, /^momentum is -0\.5; it must be a finite number >= 0: give e\.g\. 0\.9/],
    ['momentum NaN', { momentum: NaN }, /^momentum is NaN/],
    ["momentum '0.9'", { momentum: '0.9' }, /^momentum is "0\.9" \(a string\); it must be a finite number >= 0/],
    ['weightDecay -1', { weightDecay: -1 }, /^weightDecay is -1; it must be a finite number >= 0/],
    ['weightDecay NaN', { weightDecay: NaN }, /^weightDecay is NaN/],
    ['lr NaN', { lr: NaN }, /^lr is NaN; it must be a finite number >= 0/],
    ['lr -1', { lr: -1 }, /^lr is -1/],
    ['dampening 5', { momentum: 0.9, dampening: 5 }, /^dampening is 5; it must be a finite number >= 0 and <= 1/],
    ["decay 'none'", { decay: 'none', weightDecay: 0.1 }, /^decay is "none"; it must be 'all' or 'no-bn-bias'/],
    ["nesterov 'yes'", { nesterov: 'yes', momentum: 0.9 }, /^nesterov is "yes"; it must be true or false/],
    [
      'nesterov with momentum 0',
      { nesterov: true, momentum: 0 },
      /^nesterov is true with momentum 0 and dampening 0; Nesterov momentum needs a momentum > 0/,
    ],
    [
      'lrScale typo',
      { lrScale: { 'fc.bais': 10 } },
      /^lrScale names 'fc\.bais', which is none of the 2 parameters \(did you mean 'fc\.bias'\?\): give parameter names/,
    ],
    ['lrScale -1', { lrScale: { 'fc.bias': -1 } }, /^lrScale\['fc\.bias'\] is -1; it must be a finite number >= 0/],
  ];
  test.each(cases)('%s', (_, options, message) => {
    const p = params();
    expectRefusal(
      thrown(() => new SGD(p, options as ConstructorParameters<typeof SGD>[1])),
      TrainError,
      message,
    );
    tf.dispose(p.map(([, v]) => v));
  });

  test('step: a gradient whose name matches no parameter, of another shape, or none at all, is refused and changes nothing', () => {
    const p = params();
    const opt = new SGD(p, { lr: 0.1, momentum: 0.9 });
    const g = { conv: tf.ones([3, 3, 2, 4]), bias: tf.ones([2, 2]) };
    expectRefusal(
      thrown(() => opt.step({ 'conv.weigth': g.conv })),
      TrainError,
      /^SGD\.step got a gradient for 'conv\.weigth', which is none of its 2 parameters \(did you mean 'conv\.weight'\?\)/,
    );
    expectRefusal(
      thrown(() => opt.step({ 'fc.bias': g.bias })),
      TrainError,
      /^SGD\.step got a gradient of shape \[2,2\] for 'fc\.bias', whose shape is \[4\]/,
    );
    expectRefusal(
      thrown(() => opt.step({})),
      TrainError,
      /^SGD\.step got no gradients/,
    );
    expectRefusal(
      thrown(() => opt.step({ 'fc.bias': tf.ones([4]) }, NaN)),
      TrainError,
      /^lr is NaN/,
    );
    expect(p.every(([, v]) => v.dataSync().every((x) => x === 1))).toBe(true);
    expect(opt.stateDict().size).toBe(0);
    // Keys by variable name (as tf.variableGrads returns them) still work.
    opt.step({ [p[1][1].name]: tf.ones([4]) });
    expect(p[1][1].dataSync()[0]).toBeCloseTo(0.9, 6);
    opt.dispose();
    tf.dispose([...p.map(([, v]) => v), g.conv, g.bias]);
  });

  test('loadStateDict compares shapes: a PyTorch-layout (OIHW) buffer of the same size is refused, naming both shapes', () => {
    const p = params();
    const opt = new SGD(p, { lr: 0.1, momentum: 0.9 });
    const oihw = tf.zeros([4, 2, 3, 3]);
    expectRefusal(
      thrown(() => opt.loadStateDict(new Map([['conv.weight', oihw]]))),
      TrainError,
      /^Momentum buffer 'conv\.weight' has shape \[4,2,3,3\]; the parameter's is \[3,3,2,4\]: give buffers in the parameters' layout/,
    );
    expect(opt.stateDict().size).toBe(0);
    const hwio = tf.fill([3, 3, 2, 4], 0.5);
    opt.loadStateDict(new Map([['conv.weight', hwio]]));
    expect(opt.stateDict().get('conv.weight')!.shape).toEqual([3, 3, 2, 4]);
    opt.dispose();
    tf.dispose([...p.map(([, v]) => v), oihw, hwio]);
  });
});

/** A stand-in model whose logits are `rows`, in order, batch after batch. */
function fixed(rows: number[][]): Module {
  let i = 0;
  return {
    forward: (x: tf.Tensor) => {
      const n = x.shape[0];
      const out = tf.tensor2d(rows.slice(i, i + n));
      i += n;
      return out;
    },
  } as unknown as Module;
}

const data = (labels: ArrayLike<number>, K: number): Dataset => ({
  images: new Uint8Array(labels.length * 4),
  labels: Int32Array.from(labels),
  shape: [2, 2, 1],
  classes: Array.from({ length: K }, (_, k) => `c${k}`),
});
const prep = { preprocessing: { mean: [0.5], std: [0.5] } };

describe('evaluate refuses data and options that make its numbers meaningless', () => {
  test('labels outside the classes or not whole numbers: a DataError before any forward', () => {
    const forward = jest.fn();
    const model = { forward } as unknown as Module;
    expectRefusal(
      thrown(() => evaluate(model, data([1, 5], 3), prep)),
      DataError,
      /^evaluate: the data set: label 5 of item 1 is out of range \[0, 2\]: labels must be whole-number indices into the 3 classes/,
    );
    expectRefusal(
      thrown(() => evaluate(model, { ...data([0], 3), labels: Float32Array.from([1.5]) as unknown as Int32Array }, prep)),
      DataError,
      /label 1\.5 of item 0 is out of range/,
    );
    expectRefusal(
      thrown(() => evaluate(model, { ...data([0, 1, 2, 0], 3), images: new Uint8Array(4) }, prep)),
      DataError,
      /^evaluate: the data set: 4 pixel values do not make 4 images of 2x2x1 \(16 values\)/,
    );
    expectRefusal(
      thrown(() => evaluate(model, data([], 3), prep)),
      DataError,
      /^evaluate: the data set has no images: give at least one\.$/,
    );
    expect(forward).not.toHaveBeenCalled();
  });

  test('limit, batchSize and outputs', () => {
    const model = fixed([[0, 0, 1]]);
    for (const limit of [-5, NaN, 0, 1.5])
      expectRefusal(
        thrown(() => evaluate(model, data([2], 3), { ...prep, limit })),
        TrainError,
        new RegExp(`^evaluate: limit is ${limit}; it must be a whole number >= 1`),
      );
    for (const batchSize of [0, -1, 1.5])
      expectRefusal(
        thrown(() => evaluate(model, data([2], 3), { ...prep, batchSize })),
        TrainError,
        /^evaluate: batchSize is .*; it must be a whole number >= 1/,
      );
    expectRefusal(
      thrown(() => evaluate(model, data([1], 2), { ...prep, outputs: [2, 2] })),
      TrainError,
      /^evaluate: outputs gives output 2 to data classes 0 and 1; each data class needs its own output/,
    );
    expectRefusal(
      thrown(() => evaluate(model, data([1], 2), { ...prep, outputs: [0, 1.5] })),
      TrainError,
      /^evaluate: outputs\[1\] is 1\.5/,
    );
    const r = evaluate(model, data([2], 3), { ...prep, limit: 1 });
    expect([r.n, r.top1]).toEqual([1, 1]);
  });
});

describe('predict: k is a whole number from 1 to the classes', () => {
  test.each([0, -1, NaN, 2.5])('k %p is refused', async (k) => {
    await expect(predict(fixed([[0, 1, 2]]), data([0], 3), { ...prep, channels: 1, k })).rejects.toThrow(
      new RegExp(`^predict: k is ${k}; it must be a whole number >= 1`),
    );
  });
  test('k above the classes is refused; the default is 5, or all when fewer; a short images array is a DataError', async () => {
    await expect(predict(fixed([[0, 1, 2]]), data([0], 3), { ...prep, channels: 1, k: 4 })).rejects.toThrow(
      /^predict: k is 4, but the model outputs 3 classes; k must be a whole number from 1 to 3/,
    );
    const [p] = await predict(fixed([[0, 1, 2]]), data([0], 3), { ...prep, channels: 1 });
    expect(p.top.map((t) => t.index)).toEqual([2, 1, 0]);
    const [q] = await predict(fixed([[0, 1, 2]]), data([0], 3), { ...prep, channels: 1, k: 1 });
    expect(q.top.map((t) => t.index)).toEqual([2]);
    await expect(predict(fixed([[0, 1, 2]]), { ...data([0, 0], 3), images: new Uint8Array(4) }, { ...prep, channels: 1 })).rejects.toThrow(
      DataError,
    );
  });
});
