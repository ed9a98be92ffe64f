/**
 * The zoo's builders and top-k refuse what they would otherwise reinterpret: `resnet({layers,
 * widths})` with a widths list of another length than layers (a missing width was made up, an extra
 * one dropped), and `topK(row, k)` with k outside 1..row length (k = -1 gave all but one entry, NaN
 * none), with the check `classify`'s `topk` uses (`checkTopK`).
 */
import '@resnet-ts/backend-node';
import { ResNet, SpecError, useBackend } from '@resnet-ts/core';
import { checkTopK, createModel, customSpec, getModelSpec, resnet, topK } from '@resnet-ts/zoo';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('resnet({layers, widths}): one width per stage', () => {
  test('a widths list shorter or longer than layers is refused, naming both', () => {
    const message = (n: number, got: string) =>
      `widths must list one positive integer per stage, as many as layers (${n}); got ${got}. ` +
      'Leave widths out for the defaults (64, 128, 256, 512 for imagenet; 16, 32, 64 for cifar).';
    const cifar = { block: 'basic', stem: 'cifar' as const, layers: [1, 1, 1], stemWidth: 4 };
    expect(() => resnet({ ...cifar, widths: [4, 8] })).toThrow(new SpecError(message(3, '[4,8]')));
    expect(() => resnet({ ...cifar, widths: [4, 8, 16, 32] })).toThrow(new SpecError(message(3, '[4,8,16,32]')));
    expect(() => customSpec({ block: 'basic', layers: [1, 1, 1, 1], widths: [8, 16, 32] })).toThrow(SpecError);
    expect(() => resnet({ ...cifar, widths: [4, 8, 0] })).toThrow(SpecError);
    expect(() => resnet({ ...cifar, widths: '4,8,16' as never })).toThrow(new SpecError(message(3, '"4,8,16"')));
  });

  test('as many widths as layers, or none, build as before', () => {
    expect(customSpec({ block: 'basic', stem: 'cifar', layers: [1, 1, 1], widths: [4, 8, 16] }).stages.map((s) => s.width)).toEqual([
      4, 8, 16,
    ]);
    expect(customSpec({ block: 'basic', stem: 'cifar', layers: [1, 1, 1] }).stages.map((s) => s.width)).toEqual([16, 32, 64]);
    expect(customSpec({ block: 'basic', layers: [1, 1, 1, 1] }).stages.map((s) => s.width)).toEqual([64, 128, 256, 512]);
  });

  test('spec typos that reach the model builder through the zoo are refused too', () => {
    expect(() => createModel('resnet50', { strideMode: 'V1' as never })).toThrow("spec.strideMode must be 'v1' or 'v1.5'; got \"V1\".");
    expect(() => createModel('resnet20', { numClasses: '10' as never })).toThrow(
      'spec.numClasses must be a positive integer; got "10" (a string).',
    );
    // A misspelt field built the default silently (a 10-class model for numClass: 100).
    expect(() => createModel('resnet20', { numClass: 100 } as never)).toThrow(
      /^A ResNet spec has no field 'numClass' \(did you mean 'numClasses'\?\): it would be ignored\. Its fields: stem, stemWidth, /,
    );
    expect(() => resnet({ block: 'basic', layers: [1, 1, 1], stem: 'cifar', inChanels: 1 } as never)).toThrow(
      /^A ResNet spec has no field 'inChanels' \(did you mean 'inChannels'\?\)/,
    );
    expect(
      () => new ResNet({ ...getModelSpec('resnet20'), stages: [{ block: 'basic', width: 16, depth: 1, stride: 1, strid: 2 }] } as never),
    ).toThrow(/^Stage 0 of the spec has no field 'strid' \(did you mean 'stride'\?\)/);
  });
});

describe('topK and checkTopK: k is a whole number from 1 to the number of classes', () => {
  const row = Float32Array.from([0.1, 0.5, 0.2, 0.2]);
  const labels = ['a', 'b', 'c', 'd'];

  test('k outside 1..classes, or not a whole number, is refused', () => {
    for (const k of [-1, 0, NaN, 2.5, 5, Infinity]) {
      expect(() => topK(row, k, labels)).toThrow(
        new SpecError(`topK: k must be a whole number from 1 to the model's 4 classes; got ${k}.`),
      );
    }
    expect(() => checkTopK('3', 4, 'classify: topk')).toThrow(
      new SpecError(`classify: topk must be a whole number from 1 to the model's 4 classes; got "3" (a string).`),
    );
  });

  test('k from 1 to classes gives k entries, most probable first', () => {
    expect(topK(row, 1, labels).map((c) => c.label)).toEqual(['b']);
    expect(topK(row, 4, labels).map((c) => c.index)).toEqual([1, 2, 3, 0]);
    expect(() => checkTopK(4, 4)).not.toThrow();
  });
});
