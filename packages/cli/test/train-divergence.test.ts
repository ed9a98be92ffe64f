/**
 * A run that diverges to huge but finite weights (lr 60: weights up to ~3e27, every eval-mode output
 * NaN; lr 30 did so before 16-channel convs ran as Winograd convs, and now ends just short of it, the
 * trajectory at such rates following every rounding) never exits 0, end to end through the built CLI (`npx tsc -b
 * packages/cli` first): one line naming the step and the last good checkpoint, no model.safetensors,
 * no temporary file. Needs Fashion-MNIST (/usr/share/datasets/fashion-mnist).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-divergence-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const maybe = HAVE_FMNIST ? test : test.skip;

maybe('train --lr 60: finite but exploded weights whose test outputs are NaN exit 1 with one line; nothing is saved from them', () => {
  const out = path.join(dir, 'lr60');
  const args = [
    'train',
    '--model',
    'resnet20',
    '--data',
    'fashion-mnist',
    '--limit',
    '512',
    '--test-limit',
    '256',
    '--epochs',
    '1',
    '--batch',
    '64',
    '--lr',
    '60',
    '--schedule',
    'constant',
    '--out',
    out,
  ];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  expect(r.status).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^resnet: Training diverged at step 8 \(epoch 1, lr 60\): the weights are finite \(largest magnitude \d\.\de\+\d+\) but the model's outputs in eval mode are not \(\d+ of \d+ test images give NaN or Inf logits, loss (NaN|-?Infinity)\); nothing was saved from it\. No checkpoint was written yet\./,
  );
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout + r.stderr).not.toMatch(/\bdone\b|^epoch 1\/1/m);
  expect(fs.readdirSync(out).sort()).toEqual(['log.jsonl']);
  expect(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8')).toBe('');
});

maybe(
  'train --lr 100 for one epoch: finite outputs but an exploded loss at the end exit 1, no model.safetensors; --json ends with an error event',
  () => {
    // The learning-rate drops kept the weights finite: it wrote model.safetensors (top-1 at chance) and exited 0.
    const out = path.join(dir, 'lr100');
    const args = [
      'train',
      '--model',
      'resnet20',
      '--limit',
      '300',
      '--epochs',
      '1',
      '--batch',
      '32',
      '--lr',
      '100',
      '--out',
      out,
      '--json',
    ];
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^resnet: Training diverged: its last epoch \(epoch 1, step 10, lr 1\) ended with a mean training loss of \d\.\d\de\+\d+ \(over 10 times a uniform guess's 2\.30\) and a test loss of \d\.\d\de\+\d+ in eval mode \(over 1000 times\), although the weights stayed finite; model\.safetensors was not written/,
    );
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; message?: string });
    expect(events.at(-1)).toEqual({ event: 'error', message: lines[0].replace(/^resnet: /, '') });
    expect(events.map((e) => e.event)).not.toContain('done');
    expect(fs.readdirSync(out).sort()).toEqual(['log.jsonl']);
  },
);
