/**
 * `fromPretrained(src, { preprocessing })` overrides the fields it gives. A `resize` given without a
 * `crop` means no crop, as torchvision's `Resize` alone: the stored or default crop (224 of 256, say)
 * kept after `resize: 64` framed a 64-pixel image in black (`resnet predict --resize 64` scored 0.70
 * where torchvision's `Resize(64)` gives 0.48). Other fields keep the base's crop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { saveCheckpoint } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-prep-override-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a resize without a crop drops the default and the stored crop; a crop given, or another field alone, keeps one', async () => {
  const model = createModel('resnet20', { numClasses: 3 });
  const bare = path.join(dir, 'bare.safetensors');
  const stored = path.join(dir, 'stored.safetensors');
  await saveCheckpoint(bare, model);
  const prep = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], resize: 96, crop: [80, 80] };
  await saveCheckpoint(stored, model, { metadata: { preprocessing: JSON.stringify(prep) } });
  model.dispose();
  const prepOf = async (file: string, preprocessing?: object) => {
    const clf = await fromPretrained(file, { model: 'resnet20', ...(preprocessing ? { preprocessing } : {}) });
    clf.model.dispose();
    return clf.preprocessing;
  };
  // The defaults (the usual CIFAR-10 transforms: resize 32, crop 32) and the stored transforms, untouched.
  expect(await prepOf(bare)).toMatchObject({ resize: 32, crop: [32, 32] });
  expect(await prepOf(stored)).toMatchObject({ resize: 96, crop: [80, 80] });
  for (const file of [bare, stored]) {
    const resized = await prepOf(file, { mean: [0.5], std: [0.5], resize: 24 });
    expect(resized.resize).toBe(24);
    expect(resized.crop).toBeUndefined();
    expect((await prepOf(file, { resize: [70, 90] })).crop).toBeUndefined();
    expect(await prepOf(file, { resize: 64, crop: [56, 56] })).toMatchObject({ resize: 64, crop: [56, 56] });
  }
  // Only the normalisation given: the resize and crop stay the base's.
  expect(await prepOf(stored, { mean: [0.4, 0.4, 0.4], std: [0.2, 0.2, 0.2] })).toMatchObject({ resize: 96, crop: [80, 80] });
}, 120_000);
