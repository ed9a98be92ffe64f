/**
 * Parameters and multiply-adds of every model in ../shared/REFERENCE.md, computed by the model's
 * own analysis (no tensors run) and compared exactly with the reference.
 */
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { createModel, listModels } from '@resnet-ts/zoo';

beforeAll(async () => {
  await useBackend('cpu');
});

// torchvision 0.14 layout (v1.5), option B, 1000 classes, 224x224x3 (REFERENCE.md).
const IMAGENET = [
  ['resnet18', 11_689_512, 1.814],
  ['resnet34', 21_797_672, 3.664],
  ['resnet50', 25_557_032, 4.089],
  ['resnet101', 44_549_160, 7.801],
  ['resnet152', 60_192_808, 11.514],
] as const;

// The paper's Table 1 ("v1", stride on the first 1x1): multiply-adds to one decimal.
const PAPER_V1 = [
  ['resnet18-v1', 1.8],
  ['resnet34-v1', 3.6],
  ['resnet50-v1', 3.8],
  ['resnet101-v1', 7.6],
  ['resnet152-v1', 11.3],
] as const;

// CIFAR nets (section 4.2), 32x32x3 input.
const CIFAR = [
  ['resnet20', 269_722, 40.55],
  ['resnet32', 464_154, 68.86],
  ['resnet44', 658_586, 97.17],
  ['resnet56', 853_018, 125.49],
  ['resnet110', 1_727_962, 252.89],
] as const;

describe('ImageNet ResNets (torchvision layout)', () => {
  test.each(IMAGENET)('%s has %d params and %f G multiply-adds', (name, params, gmacs) => {
    const model = createModel(name);
    const s = model.summary();
    expect(s.totalParams).toBe(params);
    expect(Number((s.totalMacs / 1e9).toFixed(3))).toBe(gmacs);
    expect(s.outputShape).toEqual([1000]);
    model.dispose();
  });

  test.each(PAPER_V1)('%s matches the paper within rounding (%f G)', (name, gmacs) => {
    const model = createModel(name);
    const s = model.summary();
    // The paper truncates/rounds to one decimal: within 0.1 G.
    expect(Math.abs(s.totalMacs / 1e9 - gmacs)).toBeLessThan(0.1);
    // Parameter counts are the same for v1 and v1.5.
    const v15 = IMAGENET.find(([n]) => n === name.replace('-v1', ''))!;
    expect(s.totalParams).toBe(v15[1]);
    model.dispose();
  });
});

describe('CIFAR ResNets (option A)', () => {
  test.each(CIFAR)('%s has %d params and %f M multiply-adds', (name, params, mmacs) => {
    const model = createModel(name);
    const s = model.summary();
    expect(s.totalParams).toBe(params);
    expect(Number((s.totalMacs / 1e6).toFixed(2))).toBe(mmacs);
    model.dispose();
  });

  test('ResNet-1202 has 19.4 M parameters (paper)', () => {
    const model = createModel('resnet1202');
    expect(Number((model.numParameters() / 1e6).toFixed(1))).toBe(19.4);
    model.dispose();
  });

  test.each(CIFAR.map(([n]) => n))('plain counterpart of %s has the same params and multiply-adds', (name) => {
    const res = createModel(name);
    const plain = createModel(name.replace('resnet', 'plain'));
    expect(plain.spec.residual).toBe(false);
    expect(plain.numParameters()).toBe(res.numParameters());
    expect(plain.summary().totalMacs).toBe(res.summary().totalMacs);
    res.dispose();
    plain.dispose();
  });

  test('ResNet-20 with a 1-channel input has 269,434 params', () => {
    const model = createModel('resnet20', { inChannels: 1 });
    expect(model.numParameters()).toBe(269_434);
    model.dispose();
  });
});

describe('zoo listing', () => {
  test('every paper model and its plain counterpart is named', () => {
    const names = new Set(listModels().map((m) => m.name));
    for (const d of [18, 34, 50, 101, 152]) {
      expect(names).toContain(`resnet${d}`);
      expect(names).toContain(`resnet${d}-v1`);
      expect(names).toContain(`plain${d}`);
    }
    for (const d of [20, 32, 44, 56, 110, 1202]) {
      expect(names).toContain(`resnet${d}`);
      expect(names).toContain(`plain${d}`);
    }
  });
});
