import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import { SpecError, useBackend } from '@resnet-ts/core';
import { createModel, customSpec, resnet } from '@resnet-ts/zoo';

beforeAll(async () => {
  await useBackend('cpu');
});

test('resnet({block, layers, stem: cifar}) with n=18 is ResNet-110', () => {
  const custom = resnet({ block: 'basic', layers: [18, 18, 18], stem: 'cifar' });
  const named = createModel('resnet110');
  expect(custom.numParameters()).toBe(named.numParameters());
  expect(custom.summary().totalMacs).toBe(named.summary().totalMacs);
  expect(custom.spec.shortcut).toBe('A');
  custom.dispose();
  named.dispose();
});

test('custom ImageNet depth defaults to option B and 1000 classes', () => {
  const spec = customSpec({ block: 'bottleneck', layers: [2, 2, 2, 2] });
  expect(spec.shortcut).toBe('B');
  expect(spec.numClasses).toBe(1000);
  expect(spec.stages.map((s) => s.width)).toEqual([64, 128, 256, 512]);
});

test('bad custom specs and unknown names give clear errors', () => {
  expect(() => resnet({ block: 'basic', layers: [] })).toThrow(/layers must be a non-empty list/);
  expect(() => resnet({ block: 'basic', layers: [2, 0] })).toThrow(SpecError);
  expect(() => resnet({ block: 'nope', layers: [1] })).toThrow(/Unknown block 'nope'.*basic, bottleneck/);
  expect(() => createModel('resnet19')).toThrow(/Unknown model 'resnet19'/);
});

test('same seed gives identical weights; another seed differs', () => {
  const a = createModel('resnet20', { seed: 7 });
  const b = createModel('resnet20', { seed: 7 });
  const c = createModel('resnet20', { seed: 8 });
  const wa = a.namedParameters()[0][1].dataSync();
  expect(Array.from(b.namedParameters()[0][1].dataSync())).toEqual(Array.from(wa));
  expect(Array.from(c.namedParameters()[0][1].dataSync())).not.toEqual(Array.from(wa));
  [a, b, c].forEach((m) => m.dispose());
});

test('resnet18 forward at 224x224 batch 1 gives [1, 1000]; resnet20 at 32x32 batch 2 gives [2, 10]', () => {
  const r18 = createModel('resnet18').eval();
  const y18 = r18.forward(tf.randomNormal([1, 224, 224, 3]));
  expect(y18.shape).toEqual([1, 1000]);
  expect(Number.isFinite(y18.sum().dataSync()[0])).toBe(true);
  const r20 = createModel('resnet20');
  const y20 = r20.forward(tf.randomNormal([2, 32, 32, 3]));
  expect(y20.shape).toEqual([2, 10]);
  tf.dispose([y18, y20]);
  r18.dispose();
  r20.dispose();
});
