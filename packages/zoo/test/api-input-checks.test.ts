/**
 * The library refuses what it cannot use in one line, with a typed resnet-ts error (never a TypeError
 * from inside, a wasm trap or an engine's internal message), and gives an empty batch an empty
 * answer on every engine: `model.forward` of 0 images is [0, classes] (cpu gave it; native said
 * "plan: input or output of the wrong size", wasm trapped "divide by zero"), of a Float32Array or a
 * JS array a ShapeError naming the tensor it takes (was "Cannot read properties of undefined");
 * `classify([])` says no images were given; `classify(x, { topk })` refuses what is not a whole number
 * from 1 to the classes (0, -1, NaN, 2.5 were reinterpreted); `loadImageFolder` with `preprocessing`
 * needs no `size` (it threw "undefined is not iterable").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { ShapeError, SpecError, probeBackends, useBackend } from '@resnet-ts/core';
import { DataError, loadImageFolder } from '@resnet-ts/train';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained, sampleImages } from '@resnet-ts/zoo/node';

const ENGINES = ['cpu', 'native', 'wasm'];

test('forward of an empty batch is an empty [0, classes] on every engine, in eval and training mode; batch norm untouched', async () => {
  const available = (await probeBackends())
    .filter((b) => ENGINES.includes(b.plugin.name) && b.availability.available)
    .map((b) => b.plugin.name);
  expect(available).toContain('cpu');
  for (const engine of available) {
    await useBackend(engine);
    const model = createModel('resnet20');
    const before = model.namedBuffers().map(([, v]) => Array.from(v.dataSync()));
    const x = tf.zeros([0, 32, 32, 3]);
    for (const training of [false, true]) {
      const y = model.forward(x, { training });
      expect([engine, training, y.shape, y.dtype, y.size]).toEqual([engine, training, [0, 10], 'float32', 0]);
      const f = model.features(x, { training });
      expect([engine, training, f.shape]).toEqual([engine, training, [0, 64]]);
      tf.dispose([y, f]);
    }
    expect(model.namedBuffers().map(([, v]) => Array.from(v.dataSync()))).toEqual(before);
    // Images of 0 pixels are refused (cpu and wasm gave finite logits for them).
    expect(() => model.forward(tf.zeros([1, 0, 0, 3]), { training: false })).toThrow(
      new ShapeError('ResNet expects images of at least 1x1 pixels; got [1, 0, 0, 3] (height 0, width 0).'),
    );
    x.dispose();
    model.dispose();
  }
  await useBackend('cpu');
});

test('forward of a typed array, a JS array or nothing: a ShapeError saying it takes a 4-D NHWC tf.Tensor', () => {
  const model = createModel('resnet20').eval();
  const advice = 'Make one with tf.tensor4d(values, [batch, height, width, 3]).';
  const cases: [unknown, string][] = [
    [new Float32Array(3072), 'a Float32Array of 3072 values'],
    [[[[[0, 0, 0]]]], 'a JavaScript array'],
    [undefined, 'undefined'],
    [42, 'a number'],
  ];
  for (const [x, what] of cases) {
    expect(() => model.forward(x as tf.Tensor)).toThrow(
      new ShapeError(`ResNet takes a 4-D NHWC tf.Tensor [batch, height, width, 3]; got ${what}. ${advice}`),
    );
  }
  model.dispose();
});

describe('classify', () => {
  let clf: Awaited<ReturnType<typeof fromPretrained>>;
  beforeAll(async () => {
    await useBackend('cpu');
    clf = await fromPretrained('resnet20-fashion-mnist');
  });
  afterAll(() => clf.dispose());

  test('of an empty array: a SpecError saying no images were given', async () => {
    await expect(clf.classify([])).rejects.toThrow(
      new SpecError('classify: no images were given (an empty array): pass at least one image or tensor.'),
    );
  });

  test('topk: a whole number from 1 to the classes; others refused, not reinterpreted', async () => {
    const x = tf.zeros([32, 32, 1]); // one image: one list
    for (const topk of [0, -1, NaN, 2.5, 11, Infinity]) {
      await expect(clf.classify(x, { topk })).rejects.toThrow(
        new SpecError(`classify: topk must be a whole number from 1 to the model's 10 classes; got ${topk}.`),
      );
    }
    expect(await clf.classify(x, { topk: 1 })).toHaveLength(1);
    expect(await clf.classify(x, { topk: 10 })).toHaveLength(10);
    expect(await clf.classify(x)).toHaveLength(5);
    x.dispose();
  });
});

test('loadImageFolder with preprocessing needs no size; without either, a DataError', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-api-folder-'));
  try {
    for (const [i, s] of sampleImages('resnet20-fashion-mnist').slice(0, 4).entries()) {
      fs.mkdirSync(path.join(dir, `c${i % 2}`), { recursive: true });
      fs.copyFileSync(s.file, path.join(dir, `c${i % 2}`, path.basename(s.file)));
    }
    const preprocessing = {
      resize: 28,
      crop: [28, 28] as [number, number],
      padTo: [32, 32] as [number, number],
      mean: [0.286],
      std: [0.353],
      channels: 1 as const,
    };
    const data = await loadImageFolder(dir, { preprocessing });
    expect([data.labels.length, data.shape]).toEqual([4, [32, 32, 1]]);
    await expect(loadImageFolder(dir, {} as never)).rejects.toThrow(DataError);
    await expect((loadImageFolder as (d: string) => Promise<unknown>)(dir)).rejects.toThrow(/^loadImageFolder: give size/); // no options: a TypeError before
    await expect(loadImageFolder(dir, {} as never)).rejects.toThrow(
      'loadImageFolder: give size [height, width] (whole numbers of at least 1) to decode for training, or preprocessing to decode as a classifier does; got size undefined.',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
