/**
 * NaN and Inf never pass as results, end to end through the built CLI (`npx tsc -b packages/cli`
 * first): a training run that diverges exits non-zero with one line naming the step and the last
 * good checkpoint (which holds no NaN/Inf, nor gives NaN/Inf outputs) and writes no model; weights
 * with a NaN layer evaluate as 0 % with the non-finite predictions counted, with a one-line warning, then
 * exit 1 after the report, and
 * `--strict-finite` refuses them. Needs Fashion-MNIST (/usr/share/datasets/fashion-mnist).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import '@resnet-ts/zoo'; // registers the blocks and shortcuts loadCheckpoint rebuilds the model from
import { countNonFinite, useBackend } from '@resnet-ts/core';
import { loadCheckpoint, loadNpy, loadSafetensors, saveNpy, saveSafetensors } from '@resnet-ts/core/node';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const WEIGHTS = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz');

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-nonfinite-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function resnet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The shipped ResNet-20 with `count` NaN values in fc.weight, written to `file`. */
async function poisonedWeights(file: string, count: number): Promise<void> {
  const { tensors, metadata } = await loadSafetensors(WEIGHTS);
  const fc = tensors.get('fc.weight')!;
  const values = fc.dataSync().slice();
  values.fill(NaN, 0, count);
  tensors.set('fc.weight', tf.tensor(values, fc.shape));
  await saveSafetensors(file, tensors, metadata);
  tf.dispose([...tensors.values(), fc]);
}

const maybe = HAVE_FMNIST ? test : test.skip;

maybe('train --lr 10: one line naming the step and the last good checkpoint, finite in tensors and outputs; no model', () => {
  const out = path.join(dir, 'diverged');
  // lr 10: a healthy first step, then finite weights whose outputs in eval mode are NaN (lr 1e6 has no healthy step at all).
  const train = ['--lr', '10', '--schedule', 'constant', '--iterations', '6', '--checkpoint-every', '1'];
  const r = resnet(['train', ...train, '--limit', '256', '--test-limit', '256', '--batch', '64', '--out', out]);
  expect(r.status).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
  expect(lines).toHaveLength(1);
  const m =
    /^resnet: Training diverged at step (\d+) \(epoch 1, lr 10\): .* The last good checkpoint is .*checkpoint\.safetensors \(step (\d+)\)\./;
  const [, divergedAt, good] = (m.exec(lines[0]) ?? []).map(Number);
  expect([good >= 1, good]).toEqual([true, divergedAt - 1]);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stdout + r.stderr).not.toMatch(/\bdone\b|top-1/);
  expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  expect(fs.readdirSync(out).filter((f) => f.includes('tmp'))).toEqual([]);
  // The checkpoint it names is complete and finite: loads under the strict check, every tensor finite...
  const file = path.join(out, 'checkpoint.safetensors');
  const ckpt = loadCheckpoint(file, { nonFinite: 'error' });
  expect(ckpt.training?.step).toBe(good);
  for (const t of ckpt.extraTensors.values()) expect(countNonFinite(t.dataSync())).toBe(0);
  ckpt.model.dispose();
  tf.dispose([...ckpt.extraTensors.values()]);
  // ...and so are its outputs on the test images.
  const ev = resnet(['eval', '--weights', file, '--limit', '256', '--json']);
  expect(ev.status).toBe(0);
  const j = JSON.parse(ev.stdout) as { n: number; nonFinite: number; loss: number };
  expect([j.n, j.nonFinite, Number.isFinite(j.loss)]).toEqual([256, 0, true]);
});

maybe(
  'eval of weights with a NaN layer: one warning line, 0 % top-1 with every prediction counted non-finite; --strict-finite refuses them',
  async () => {
    const file = path.join(dir, 'nan-fc.safetensors');
    await poisonedWeights(file, 5);
    const r = resnet(['eval', '--weights', file, '--limit', '200']);
    expect(r.status).toBe(1); // the report, then a failure a script sees (it exited 0)
    expect(r.stderr.trim().split('\n')).toEqual([
      `warning: ${file}: 1 of 97 tensors hold NaN or Inf (5 values: fc.weight); outputs computed with them will be NaN or meaningless.`,
      'resnet: 200 of 200 predictions are not finite (NaN or Inf logits): the weights are broken; the report above counts them wrong.',
    ]);
    expect(r.stdout).toContain('loss: NaN   top-1: 0.00 %   top-5: 0.00 %');
    expect(r.stdout).toContain('non-finite predictions: 200 of 200');
    const json = resnet(['eval', '--weights', file, '--limit', '200', '--json']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ n: 200, top1: 0, top5: 0, nonFinite: 200 });

    for (const args of [
      ['eval', '--weights', file, '--limit', '200', '--strict-finite'],
      ['--strict-finite', 'eval', '--weights', file, '--limit', '200'],
    ]) {
      const strict = resnet(args);
      expect(strict.status).toBe(1);
      expect(strict.stdout).toBe('');
      expect(strict.stderr.trim().split('\n')).toEqual([
        `resnet: ${file}: 1 of 97 tensors hold NaN or Inf (5 values: fc.weight): refusing them (strict finite check). A diverged run writes such values; use an earlier checkpoint.`,
      ]);
    }
    // The shipped weights are clean: no warning, and the strict check lets them through.
    const clean = resnet(['eval', '--weights', WEIGHTS, '--limit', '200', '--strict-finite']);
    expect(clean.status).toBe(0);
    expect(clean.stderr).toBe('');
    expect(clean.stdout).toContain('non-finite predictions: 0');
  },
);

test('forward writes NaN logits as they come, with a note naming the cause it can see: the input, else the weights', async () => {
  const x = tf.randomUniform([2, 1, 28, 28], -1, 1, 'float32', 5);
  const poisoned = tf.buffer(x.shape, 'float32', x.dataSync().slice());
  poisoned.set(NaN, 1, 0, 3, 4); // one NaN pixel in the second image
  await saveNpy(path.join(dir, 'clean.npy'), x);
  await saveNpy(path.join(dir, 'nan.npy'), poisoned.toTensor());
  await poisonedWeights(path.join(dir, 'nan-fc.safetensors'), 3); // class 0 only
  const run = (input: string, weights: string) =>
    resnet(['forward', '--weights', weights, '--input', input, '--out', path.join(dir, 'logits.npy'), '--backend', 'cpu']);

  const fromInput = run('nan.npy', WEIGHTS);
  expect(fromInput.status).toBe(0);
  expect(fromInput.stderr.trim()).toBe("note: 10 of 20 logits are NaN or Inf: --input 'nan.npy' holds 1 NaN or Inf value.");
  const logits = loadNpy(path.join(dir, 'logits.npy')).dataSync();
  expect([...logits.slice(0, 10)].every(Number.isFinite)).toBe(true); // the first image is untouched
  expect([...logits.slice(10)].every(Number.isNaN)).toBe(true);

  const fromWeights = run('clean.npy', path.join(dir, 'nan-fc.safetensors'));
  expect(fromWeights.status).toBe(0);
  expect(fromWeights.stderr).toMatch(/^note: 2 of 20 logits are NaN or Inf: the input is finite, so the weights make them/m);
  expect(run('clean.npy', WEIGHTS).stderr).toBe('');
});
