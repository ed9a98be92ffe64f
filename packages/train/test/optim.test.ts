import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { SGD, learningRate, makeSchedule, paperSchedule, paperWarmup, scaledPaperSchedule, TrainError } from '../src/index.js';

beforeAll(async () => {
  await useBackend('cpu');
});

function run(options: ConstructorParameters<typeof SGD>[1], steps: number): number[] {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new SGD([['w', w]], options);
  for (let i = 0; i < steps; i++) opt.step({ w: tf.tensor1d([0.5, 0.25]) });
  const out = [...w.dataSync()];
  w.dispose();
  opt.dispose();
  return out;
}

describe('SGD (torch.optim.SGD semantics)', () => {
  test('momentum + weight decay matches a hand computation', () => {
    // step 1: d = g + wd*w = [0.51, 0.23]; buf = d; w = [0.949, -2.023]
    // step 2: d = [0.50949, 0.22977]; buf = 0.9*buf + d = [0.96849, 0.43677]; w = [0.852151, -2.066677]
    const w = run({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, 2);
    expect(w[0]).toBeCloseTo(0.852151, 6);
    expect(w[1]).toBeCloseTo(-2.066677, 6);
  });
  test('nesterov matches a hand computation', () => {
    // step 1: d = [0.51, 0.23], buf = d, d += 0.9*buf -> [0.969, 0.437]; w = [0.9031, -2.0437]
    // step 2: d = [0.509031, 0.229563]; buf = [0.968031, 0.436563]; d += 0.9 buf; w = [0.76507411, -2.10594697]
    const w = run({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true }, 2);
    expect(w[0]).toBeCloseTo(0.76507411, 6);
    expect(w[1]).toBeCloseTo(-2.10594697, 6);
  });
  test('dampening, plain SGD and the no-bn-bias filter', () => {
    // dampening 0.5: step 2 buf = 0.9*[0.5,0.25] + 0.5*[0.5,0.25] (first step buf = d, undamped)
    const w = run({ lr: 0.1, momentum: 0.9, dampening: 0.5 }, 2);
    expect(w[0]).toBeCloseTo(1 - 0.05 - 0.1 * (0.45 + 0.25), 6);
    expect(run({ lr: 0.1 }, 3)[0]).toBeCloseTo(1 - 0.15, 6);
    // a 1-D parameter gets no decay with 'no-bn-bias'
    expect(run({ lr: 0.1, weightDecay: 0.5, decay: 'no-bn-bias' }, 1)[0]).toBeCloseTo(0.95, 6);
    expect(run({ lr: 0.1, weightDecay: 0.5 }, 1)[0]).toBeCloseTo(1 - 0.1 * (0.5 + 0.5), 6);
    expect(() => new SGD([], { nesterov: true })).toThrow(TrainError);
  });
  test('momentum buffers save and load: continuing gives the same result', () => {
    const full = run({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, 3);
    const w = tf.variable(tf.tensor1d([1, -2]));
    const a = new SGD([['w', w]], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    a.step({ w: tf.tensor1d([0.5, 0.25]) });
    a.step({ w: tf.tensor1d([0.5, 0.25]) });
    const state = a.stateDict();
    a.dispose();
    const b = new SGD([['w', w]], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    b.loadStateDict(state);
    b.step({ w: tf.tensor1d([0.5, 0.25]) });
    expect([...w.dataSync()]).toEqual(full);
    tf.dispose([...state.values(), w]);
    b.dispose();
  });
  test('a step leaks no tensors', () => {
    const w = tf.variable(tf.randomNormal([3, 3]));
    const opt = new SGD([['w', w]], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
    const g = tf.ones([3, 3]);
    opt.step({ w: g });
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.step({ w: g });
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([w, g]);
    opt.dispose();
  });
});

describe('schedules', () => {
  test("the paper's multi-step: 0.1, /10 at 32k and 48k", () => {
    const s = makeSchedule(paperSchedule());
    expect(s(0)).toBe(0.1);
    expect(s(31999)).toBe(0.1);
    expect(s(32000)).toBeCloseTo(0.01, 12);
    expect(s(47999)).toBeCloseTo(0.01, 12);
    expect(s(48000)).toBeCloseTo(0.001, 12);
    expect(s(63999)).toBeCloseTo(0.001, 12);
    expect(scaledPaperSchedule(1000)).toEqual({ type: 'multistep', lr: 0.1, milestones: [500, 750], gamma: 0.1 });
  });
  test("warm-up: the paper's ResNet-110 (0.01 for 400 iterations) and linear", () => {
    const s = makeSchedule(paperWarmup(paperSchedule()));
    expect(s(0)).toBe(0.01);
    expect(s(399)).toBe(0.01);
    expect(s(400)).toBe(0.1);
    expect(s(32000)).toBeCloseTo(0.01, 12);
    const lin = { type: 'warmup', iterations: 10, startLr: 0, mode: 'linear', then: { type: 'constant', lr: 0.1 } } as const;
    expect(learningRate(lin, 0)).toBe(0);
    expect(learningRate(lin, 5)).toBeCloseTo(0.05, 12);
    expect(learningRate(lin, 10)).toBe(0.1);
  });
  test('cosine, composed with warm-up', () => {
    const c = { type: 'cosine', lr: 0.1, total: 100 } as const;
    expect(learningRate(c, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(c, 50)).toBeCloseTo(0.05, 12);
    expect(learningRate(c, 100)).toBeCloseTo(0, 12);
    expect(learningRate(c, 150)).toBeCloseTo(0, 12);
    const w = { type: 'warmup', iterations: 5, startLr: 0.01, mode: 'constant', then: c } as const;
    expect(learningRate(w, 4)).toBe(0.01);
    expect(learningRate(w, 50)).toBeCloseTo(0.05, 12);
    expect(() => makeSchedule({ type: 'multistep', lr: 0.1, milestones: [5, 2.5] })).toThrow(/milestones/);
  });
});
