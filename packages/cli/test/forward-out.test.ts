/**
 * `resnet forward --out` writes NumPy .npy, so it must be named .npy and must not be `--input`:
 * each is refused in one line before anything is loaded or written, through the built CLI
 * (`npx tsc -b packages/cli` first). It wrote .npy bytes under any name, and replaced the input
 * batch with the logits when given the input's own path.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { saveNpy } from '@resnet-ts/core/node';
import { refusal, runCli } from './cli-run.js';

let dir: string;
let inputBytes: Buffer;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-forward-out-'));
  await saveNpy(path.join(dir, 'x.npy'), tf.randomUniform([2, 1, 28, 28], -1, 1, 'float32', 3));
  inputBytes = fs.readFileSync(path.join(dir, 'x.npy'));
  fs.symlinkSync('x.npy', path.join(dir, 'link.npy'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const forward = (out: string) => ['forward', '--weights', 'resnet20-fashion-mnist', '--input', 'x.npy', '--out', out];

test('an --out not named .npy is refused, naming the format its extension stands for; nothing is written', async () => {
  const cases: [string, string][] = [
    [
      'o.safetensors',
      "forward writes NumPy .npy, not safetensors: 'o.safetensors' would hold .npy bytes under a .safetensors name. Name it .npy (e.g. 'o.npy').",
    ],
    ['o.onnx', "forward writes NumPy .npy, not ONNX: 'o.onnx' would hold .npy bytes under a .onnx name. Name it .npy (e.g. 'o.npy')."],
    ['o.txt', "forward writes NumPy .npy: 'o.txt' would hold .npy bytes under a .txt name. Name it .npy (e.g. 'o.npy')."],
    [
      'logits',
      "forward writes NumPy .npy: 'logits' would hold .npy bytes under a name without an extension. Name it .npy (e.g. 'logits.npy').",
    ],
  ];
  for (const [out, message] of cases) {
    expect(await refusal(forward(out), dir)).toBe(message);
    expect([out, fs.existsSync(path.join(dir, out))]).toEqual([out, false]);
  }
});

test('an --out that is a folder is said to be one (EISDIR), not a name without .npy', async () => {
  fs.mkdirSync(path.join(dir, 'folder'));
  expect(await refusal(forward('folder'), dir)).toBe("Cannot write 'folder': it is a folder, not a file (EISDIR).");
});

test('an --out that is --input (same path, another spelling of it, a link to it) is refused; the input is kept', async () => {
  for (const out of ['x.npy', './x.npy', path.join(dir, 'x.npy'), 'link.npy']) {
    expect(await refusal(forward(out), dir)).toBe(
      `--out '${out}' is --input itself: writing it would replace the input. Give another --out.`,
    );
    expect(fs.readFileSync(path.join(dir, 'x.npy')).equals(inputBytes)).toBe(true);
  }
  const r = await runCli([...forward('logits.npy'), '--backend', 'cpu'], dir);
  expect([r.status, r.stderr, fs.existsSync(path.join(dir, 'logits.npy'))]).toEqual([0, '', true]);
});

test("a 3-d batch of a 1-channel model's images is told to add the channel axis (x[:, None]), not a batch axis", async () => {
  await saveNpy(path.join(dir, 'grey.npy'), tf.randomUniform([4, 28, 28], -1, 1, 'float32', 5));
  await saveNpy(path.join(dir, 'one.npy'), tf.randomUniform([1, 28, 28], -1, 1, 'float32', 5));
  const run = (input: string, ...more: string[]) =>
    refusal(['forward', '--weights', 'resnet20-fashion-mnist', '--input', input, '--out', 'y.npy', ...more], dir);
  expect(await run('grey.npy')).toBe(
    "--input 'grey.npy' has shape [4, 28, 28]; expected [N, 1, H, W] (nchw). Add the channel axis (x[:, None] in NumPy).",
  );
  expect(await run('grey.npy', '--layout', 'nhwc')).toBe(
    "--input 'grey.npy' has shape [4, 28, 28]; expected [N, H, W, 1] (nhwc). Add the channel axis (x[..., None] in NumPy).",
  );
  // One image ([C, H, W]) lacks the batch axis.
  expect(await run('one.npy')).toBe(
    "--input 'one.npy' has shape [1, 28, 28]; expected [N, 1, H, W] (nchw). Add a batch dimension (x[None] in NumPy).",
  );
  expect(fs.existsSync(path.join(dir, 'y.npy'))).toBe(false);
});
