/**
 * `resnet forward`'s note on NaN/Inf logits names the cause that is true, through the built CLI
 * (`npx tsc -b packages/cli` first): a finite but huge input with finite weights overflows float32
 * inside the net (the note said the weights made them), naming the input's largest |value|; a batch
 * norm with a negative running_var is named. On wasm, whose NaN/Inf cases run on tfjs's cpu backend,
 * tfjs's 4-line "running TensorFlow.js in Node.js" banner is not printed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadSafetensors, saveNpy, saveSafetensors } from '@resnet-ts/core/node';
import { BIN, ROOT } from './cli-run.js';

const WEIGHTS = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-forward-cause-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function forward(input: string, weights: string, backend: string): { status: number | null; stdout: string; stderr: string } {
  const args = ['forward', '--weights', weights, '--input', input, '--out', path.join(dir, 'logits.npy'), '--backend', backend];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.each(['cpu', 'wasm'])(
  'finite input of |value| 3e38, finite weights (%s): the note says float32 overflowed, naming the largest |value|; no tfjs banner',
  async (backend) => {
    // Every value is ±3e38, finite (float32 reaches 3.4e38): sums of them overflow in the first convolution.
    await saveNpy(
      path.join(dir, 'big.npy'),
      tf.tidy(() => tf.mul(tf.sign(tf.randomNormal([2, 1, 32, 32], 0, 1, 'float32', 0)), 3e38)),
    );
    const r = forward('big.npy', WEIGHTS, backend);
    expect([r.status, r.stdout]).toEqual([0, `wrote logits [2, 10] to ${path.join(dir, 'logits.npy')} (backend ${backend})\n`]);
    expect(r.stderr).toMatch(
      new RegExp(
        '^note: \\d+ of 20 logits are NaN or Inf: values overflowed float32 \\(beyond ±3\\.4e38\\) inside the net; the input is finite, ' +
          'largest \\|value\\| 3e\\+38, and so are the weights \\(largest \\|value\\| 1\\.11, no batch norm running_var below 0\\)\\.\n$',
      ),
    );
  },
);

test('a batch norm running_var below 0 is named as the cause', async () => {
  const { tensors, metadata } = await loadSafetensors(WEIGHTS);
  const v = tensors.get('layer1.0.bn2.running_var')!;
  const values = v.dataSync().slice();
  values[3] = -1;
  tensors.set('layer1.0.bn2.running_var', tf.tensor(values, v.shape));
  await saveSafetensors(path.join(dir, 'negative-var.safetensors'), tensors, metadata);
  tf.dispose([...tensors.values(), v]);
  await saveNpy(path.join(dir, 'x.npy'), tf.randomUniform([2, 1, 28, 28], -1, 1, 'float32', 5));
  const r = forward('x.npy', path.join(dir, 'negative-var.safetensors'), 'cpu');
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(
    /^note: \d+ of 20 logits are NaN or Inf: the input is finite, so the weights make them: a batch norm running_var below 0 \(layer1\.0\.bn2\.running_var\)\.\n$/,
  );
});
