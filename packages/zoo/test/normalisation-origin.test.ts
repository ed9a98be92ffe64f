/**
 * `origin.normalisation` says whether a classifier's mean and std are known (stored with the weights,
 * given, or torchvision's standard for ImageNet weights) or the architecture's usual guess: the one
 * rule behind the CLI's "assumed" note and what `convert` and ONNX exports store. A 1000-class net
 * with a CIFAR stem was taken for ImageNet weights, and its guessed CIFAR normalisation stored as fact.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { saveCheckpoint, saveSafetensors } from '@resnet-ts/core/node';
import { PretrainedOptions, createModel } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-normalisation-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A state dict of `name` with `numClasses` outputs and no metadata (as from elsewhere), or a checkpoint with `stored` preprocessing. */
async function weights(file: string, name: string, numClasses: number, stored?: { mean: number[]; std: number[] }): Promise<string> {
  const model = createModel(name, { numClasses });
  const out = path.join(dir, file);
  if (stored) await saveCheckpoint(out, model, { preprocessing: stored });
  else await saveSafetensors(out, model.stateDict({ layout: 'torch' }));
  model.dispose();
  return out;
}

async function normalisation(file: string, model: string, options: PretrainedOptions = {}): Promise<string | undefined> {
  const clf = await fromPretrained(file, { model, ...options });
  clf.dispose();
  return clf.origin.normalisation;
}

test('known: stored, given (mean and std, or a preset), or ImageNet weights; assumed: anything else', async () => {
  const r18 = await weights('r18.safetensors', 'resnet18', 1000);
  const r18few = await weights('r18-3.safetensors', 'resnet18', 3);
  const cifar1000 = await weights('r20-1000.safetensors', 'resnet20', 1000);
  const cifar = await weights('r20.safetensors', 'resnet20', 10);
  const stored = await weights('r20-stored.safetensors', 'resnet20', 10, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  expect(await normalisation(r18, 'resnet18')).toBe('known'); // torchvision's ImageNet weights
  expect(await normalisation(r18few, 'resnet18')).toBe('assumed');
  expect(await normalisation(cifar1000, 'resnet20')).toBe('assumed'); // 1000 classes, but a CIFAR stem
  expect(await normalisation(cifar, 'resnet20')).toBe('assumed');
  expect(await normalisation(stored, 'resnet20')).toBe('known');
  expect(await normalisation(cifar, 'resnet20', { preprocessing: { mean: [0.4, 0.4, 0.4], std: [0.2, 0.2, 0.2] } })).toBe('known');
  expect(await normalisation(cifar, 'resnet20', { preprocessing: { resize: 40 } })).toBe('assumed');
  expect(await normalisation(r18few, 'resnet18', { preprocessing: 'imagenet-v1' })).toBe('known');
});
