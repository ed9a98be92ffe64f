/** The built `resnet` binary, run as a user runs it (npm test builds dist/ first). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { saveCheckpoint } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';

const bin = path.join(__dirname, '..', 'dist', 'bin.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

test('resnet summary resnet50 prints the layer table with torchvision totals', () => {
  const r = run('summary', 'resnet50');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/layer4\.2\.conv3\s+Conv2d 1x1\/1\s+\[7, 7, 2048\]/);
  expect(r.stdout).toContain('Total params: 25,557,032');
  expect(r.stdout).toContain('Total mult-adds: 4,089,184,256 (4.089 G)');
});

test('resnet summary --input and --json report shapes for another input size and channel count', () => {
  const r = run('summary', 'resnet20', '--input', '28x28x1', '--json');
  expect(r.status).toBe(0);
  const s = JSON.parse(r.stdout);
  expect(s.inputShape).toEqual([28, 28, 1]);
  expect(s.outputShape).toEqual([10]);
  expect(s.rows[0]).toMatchObject({ name: 'conv1', outputShape: [28, 28, 16], params: 144 });
  expect(s.totalParams).toBe(269_434);
});

test('resnet models lists the zoo', () => {
  const r = run('models');
  expect(r.status).toBe(0);
  for (const name of ['resnet18', 'resnet152-v1', 'resnet1202', 'plain56']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
});

test('an unknown model or malformed --input is one clear line on stderr and exit 1', () => {
  const a = run('summary', 'resnet19');
  expect(a.status).toBe(1);
  expect(a.stderr).toMatch(/^resnet: Unknown model 'resnet19'\. Known models: resnet18/);
  expect(a.stderr).not.toMatch(/\n\s+at /); // no stack trace
  const b = run('summary', 'resnet20', '--input', '32by32');
  expect(b.status).toBe(1);
  expect(b.stderr).toBe('resnet: --input must be HxW or HxWxC with positive integers (e.g. 224x224x3, 28x28x1); got 32by32\n');
});

test('weights are summarised at the size their images are prepared to (a fine-tune at 64x64), not their spec default; --input still chooses', async () => {
  // It reported [224, 224, 3] and 1.8 G mult-adds for a resnet18 fine-tuned at 64x64: ~12x its cost.
  await useBackend('cpu');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-summary-'));
  const file = path.join(dir, 'ft64.safetensors');
  const model = createModel('resnet18', { numClasses: 5 });
  await saveCheckpoint(file, model, { preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2], inputSize: [64, 64] } });
  model.dispose();
  const fed = JSON.parse(run('summary', file, '--json').stdout);
  expect([fed.inputShape, fed.outputShape]).toEqual([[64, 64, 3], [5]]);
  expect(fed.totalMacs).toBe(JSON.parse(run('summary', 'resnet18', '--classes', '5', '--input', '64x64x3', '--json').stdout).totalMacs);
  expect(JSON.parse(run('summary', file, '--input', '96x96', '--json').stdout).inputShape).toEqual([96, 96, 3]);
  // A short-side resize without a crop: a square image's size, said in a note.
  const resized = path.join(dir, 'r72.safetensors');
  const r72 = createModel('resnet18', { numClasses: 5 });
  await saveCheckpoint(resized, r72, { preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2], resize: 72 } });
  r72.dispose();
  const square = run('summary', resized, '--json');
  expect(JSON.parse(square.stdout).inputShape).toEqual([72, 72, 3]);
  expect(square.stderr).toMatch(
    /^note: .*r72\.safetensors resizes the short side of its images to 72 without a crop, so their size varies: summarised at 72x72/,
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
