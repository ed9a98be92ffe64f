/**
 * `resnet export-onnx` stores what a runtime needs to feed the file (through the built CLI; `npx tsc
 * -b packages/cli` first): the weights' preprocessing and class names, or the flags'. It stored only
 * the spec, and whoever ran the file in onnxruntime had to guess the normalisation. A normalisation
 * nobody knows is not stored (a note says so), and flags that would store a guess are refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { saveCheckpoint, saveSafetensors } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { readOnnxMetadata } from '@resnet-ts/onnx';
import { refusal, runCli } from './cli-run.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-onnx-meta-'));
  const model = createModel('resnet20');
  const state = model.stateDict({ layout: 'torch' });
  await saveSafetensors(path.join(dir, 'plain-state-dict.safetensors'), state); // no metadata: a state dict from elsewhere
  await saveCheckpoint(path.join(dir, 'rgbd.safetensors'), createModel('resnet20', { inChannels: 4, numClasses: 5 }));
  model.dispose();
  const cifar1000 = createModel('resnet20', { numClasses: 1000 });
  await saveSafetensors(path.join(dir, 'cifar-stem-1000.safetensors'), cifar1000.stateDict({ layout: 'torch' }));
  cifar1000.dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const metadataOf = (file: string) => readOnnxMetadata(fs.readFileSync(path.join(dir, file)));

test("a shipped model's file holds its preprocessing and class names, as fromPretrained has them", async () => {
  const r = await runCli(['export-onnx', '--weights', 'resnet20-fashion-mnist', '--out', 'fm.onnx'], dir);
  expect([r.status, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toBe('wrote fm.onnx (opset 13, batch norm folded, nchw input; preprocessing and class names in its metadata)\n');
  const clf = await fromPretrained('resnet20-fashion-mnist');
  const stored = metadataOf('fm.onnx');
  expect([stored.preprocessing, stored.labels]).toEqual([clf.preprocessing, clf.labels]);
  clf.dispose();
});

test('weights without preprocessing: none stored, with a note; --mean and --std store theirs; a size alone is refused', async () => {
  const bare = await runCli(['export-onnx', '--model', 'resnet20', '--weights', 'plain-state-dict.safetensors', '--out', 'bare.onnx'], dir);
  expect(bare.status).toBe(0);
  expect(bare.stderr).toBe(
    'note: plain-state-dict.safetensors does not store its preprocessing, so neither does bare.onnx: give --mean and --std (and --resize, --crop) to store how its images were prepared.\n',
  );
  expect(metadataOf('bare.onnx')).toMatchObject({ preprocessing: undefined, labels: undefined });

  const args = ['export-onnx', '--model', 'resnet20', '--weights', 'plain-state-dict.safetensors'];
  const given = await runCli(
    [...args, '--out', 'given.onnx', '--mean', '0.5,0.4,0.3', '--std', '0.2,0.2,0.2', '--resize', '36', '--crop', '32'],
    dir,
  );
  expect([given.status, given.stderr]).toEqual([0, '']);
  expect(metadataOf('given.onnx').preprocessing).toMatchObject({
    resize: 36,
    crop: [32, 32],
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.2, 0.2],
    channels: 3,
  });

  // 1000 outputs do not make ImageNet weights of a CIFAR-stem net: its CIFAR normalisation is a guess too.
  const wide = await runCli(['export-onnx', '--model', 'resnet20', '--weights', 'cifar-stem-1000.safetensors', '--out', 'wide.onnx'], dir);
  expect([wide.status, wide.stderr]).toEqual([
    0,
    expect.stringMatching(/^note: cifar-stem-1000\.safetensors does not store its preprocessing, so neither does wide\.onnx/),
  ]);
  expect(metadataOf('wide.onnx').preprocessing).toBeUndefined();

  expect(await refusal([...args, '--out', 'guess.onnx', '--resize', '32'], dir)).toMatch(
    /^plain-state-dict\.safetensors does not store its preprocessing: give --mean and --std/,
  );
  expect(fs.existsSync(path.join(dir, 'guess.onnx'))).toBe(false);
});

test('a 4-channel model exports without image preprocessing; flags for images are refused in one line', async () => {
  const r = await runCli(['export-onnx', '--weights', 'rgbd.safetensors', '--out', 'rgbd.onnx'], dir);
  expect([r.status, r.stderr]).toEqual([0, '']);
  expect(metadataOf('rgbd.onnx')).toMatchObject({ preprocessing: undefined, spec: expect.objectContaining({ inChannels: 4 }) });
  expect(await refusal(['export-onnx', '--weights', 'rgbd.safetensors', '--out', 'x.onnx', '--mean', '0.5', '--std', '0.5'], dir)).toBe(
    '--mean, --std describe images, and images cannot feed this model (its input is not 1 or 3 channels): leave them out.',
  );
  expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
});
