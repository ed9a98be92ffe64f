// The model builder refuses a spec field of the wrong type or out of range with one line naming the
// field, the valid values and what was given (its type too, when that is what is wrong), instead of
// building something else (strideMode 'V1' built v1.5, zeroInitResidual 'no' zero-initialised) or
// failing inside tfjs (inChannels 2.5).
import { ResNet, ResNetSpec, SpecError, fmtValue, resolveSpec } from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

const base: ResNetSpec = {
  stem: 'cifar',
  stemWidth: 4,
  stages: [{ block: 'basic', width: 4, depth: 1, stride: 1 }],
  shortcut: 'A',
  numClasses: 3,
};

/** The message resolveSpec throws for `base` with `field` set to `value` (a SpecError), or null. */
function refusal(field: string, value: unknown): string | null {
  try {
    resolveSpec({ ...base, [field]: value } as ResNetSpec);
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    return (e as Error).message;
  }
}

test("strideMode: only 'v1' and 'v1.5'; a typo is refused naming both, never built as v1.5", () => {
  for (const mode of ['V1', 'v2', 'v1.0', 1]) {
    expect(refusal('strideMode', mode)).toBe(`spec.strideMode must be 'v1' or 'v1.5'; got ${fmtValue(mode)}.`);
  }
  expect(refusal('strideMode', 'V1')).toBe(`spec.strideMode must be 'v1' or 'v1.5'; got "V1".`);
  expect(resolveSpec({ ...base, strideMode: 'v1' }).strideMode).toBe('v1');
  expect(resolveSpec(base).strideMode).toBe('v1.5');
});

test('booleans must be booleans: zeroInitResidual, residual, batchNorm', () => {
  for (const field of ['zeroInitResidual', 'residual', 'batchNorm']) {
    expect(refusal(field, 'no')).toBe(`spec.${field} must be true or false; got "no".`);
    expect(refusal(field, 0)).toBe(`spec.${field} must be true or false; got 0.`);
    expect(refusal(field, false)).toBeNull();
    expect(refusal(field, true)).toBeNull();
  }
  // 'no' used to zero-initialise: the model is never built.
  expect(() => new ResNet({ ...base, zeroInitResidual: 'no' as never })).toThrow(SpecError);
});

test('seed: a whole number from 0 to 2^32 - 1 (the initialiser is 32-bit)', () => {
  for (const seed of [NaN, Infinity, 1.5, -1, 2 ** 32, '7']) {
    expect(refusal('seed', seed)).toBe(`spec.seed must be a whole number from 0 to 4294967295; got ${fmtValue(seed)}.`);
  }
  for (const seed of [0, 7, 2 ** 32 - 1]) expect(resolveSpec({ ...base, seed }).seed).toBe(seed);
});

test('inChannels, stemWidth and numClasses: positive integers; inputSize: [h, w] of positive integers', () => {
  expect(refusal('inChannels', 2.5)).toBe('spec.inChannels must be a positive integer; got 2.5.');
  expect(refusal('inChannels', 0)).toBe('spec.inChannels must be a positive integer; got 0.');
  expect(refusal('stemWidth', NaN)).toBe('spec.stemWidth must be a positive integer; got NaN.');
  expect(refusal('inputSize', [32])).toBe('spec.inputSize must be [height, width] of positive integers; got [32].');
  expect(refusal('inputSize', [32, 0.5])).toMatch(/^spec\.inputSize must be/);
  expect(resolveSpec({ ...base, inChannels: 1, inputSize: [8, 8] })).toMatchObject({ inChannels: 1, inputSize: [8, 8] });
  // The wrong type is said, not shown as if the value were fine ("got 10").
  expect(refusal('numClasses', '10')).toBe('spec.numClasses must be a positive integer; got "10" (a string).');
  expect(refusal('numClasses', 0)).toBe('spec.numClasses must be a positive integer; got 0.');
});

test('fmtValue: numbers as they are, anything else with its type', () => {
  expect([10, NaN, -Infinity, 2.5].map(fmtValue)).toEqual(['10', 'NaN', '-Infinity', '2.5']);
  expect(fmtValue('10')).toBe('"10" (a string)');
  expect(fmtValue(true)).toBe('true');
  expect(fmtValue('V1')).toBe('"V1"');
  expect(fmtValue([4, 8])).toBe('[4,8]');
  expect(fmtValue({ a: 1 })).toBe('{"a":1}');
  expect(fmtValue(undefined)).toBe('undefined');
  expect(fmtValue(null)).toBe('null');
  expect(fmtValue(10n)).toBe('10n (a bigint)');
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  expect(fmtValue(cyclic)).toBe('[...]');
  expect(fmtValue('x'.repeat(100)).length).toBeLessThan(100);
});
