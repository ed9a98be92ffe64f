/**
 * `modelFromPretrained` loads the network of any source without the image side, so a model that
 * images cannot feed (4 input channels) loads with its weights; `fromPretrained`, which builds a
 * classifier of images, refuses it in one line that names the way that works.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { SpecError, useBackend } from '@resnet-ts/core';
import { saveCheckpoint } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained, modelFromPretrained } from '@resnet-ts/zoo/node';

test('a 4-channel checkpoint: modelFromPretrained gives the same logits; fromPretrained refuses images', async () => {
  await useBackend('cpu');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-model-only-'));
  const file = path.join(dir, 'rgbd.safetensors');
  const model = createModel('resnet20', { inChannels: 4, numClasses: 5 });
  await saveCheckpoint(file, model);
  const loaded = await modelFromPretrained(file);
  expect([loaded.spec.inChannels, loaded.spec.numClasses]).toEqual([4, 5]);
  const x = tf.randomUniform([2, 16, 16, 4], -1, 1, 'float32', 3);
  const [a, b] = tf.tidy(() => [model.forward(x, { training: false }), loaded.forward(x, { training: false })]);
  expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
  // What only a classifier uses is refused, not dropped.
  await expect(modelFromPretrained(file, { preprocessing: 'imagenet-v1' })).rejects.toThrow(
    /^modelFromPretrained returns the network alone: preprocessing is for fromPretrained's classifier/,
  );
  await expect(modelFromPretrained(file, { classes: ['a', 'b', 'c', 'd', 'e'] })).rejects.toThrow(
    /class names are for fromPretrained's classifier/,
  );
  // Shipped models load the same way.
  const shipped = await modelFromPretrained('resnet20-fashion-mnist');
  expect(shipped.spec.inChannels).toBe(1);
  await expect(fromPretrained(file)).rejects.toThrow(
    new SpecError(
      'Images can feed 1- or 3-channel models; this one takes 4: give it tensors instead (resnet forward --input x.npy, or modelFromPretrained and model.forward).',
    ),
  );
  tf.dispose([x, a, b]);
  [model, loaded, shipped].forEach((m) => m.dispose());
  fs.rmSync(dir, { recursive: true, force: true });
});
