/**
 * `resnet summary` and `resnet convert` on `.pth` files that the real PyTorch writes at test time with
 * `torch.save(sd, f, pickle_protocol=4 or 5)`, in the zip and the legacy format (skipped, saying why,
 * where /usr/bin/python3 has no torch): recognised, and converted to exactly PyTorch's tensors.
 * Build first: `npx tsc -b packages/cli`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readWeights } from '@resnet-ts/core';
import { pythonSkipReason, runPython } from '../../../test-support/python';
import { ROOT, runCli } from './cli-run';

/** A narrow torchvision-named net, its plain state dict as safetensors, and its parameter count. */
const MAKE = `
import os, sys, torch
out, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, 'scripts', 'parity'))
from make_torch_fixtures import BasicBlock, TorchResNet, randomize, save_safetensors
m = randomize(TorchResNet(BasicBlock, [1, 1, 1, 1], [8, 16, 24, 32], stem='imagenet', stem_width=8, num_classes=6), 12)
sd = m.state_dict()
save_safetensors(out + '/expected.safetensors', {k: v.contiguous() for k, v in sd.items()})
for p in (4, 5):
    for fmt in ('zip', 'legacy'):
        torch.save(sd, '%s/net.p%d.%s.pth' % (out, p, fmt), pickle_protocol=p, _use_new_zipfile_serialization=fmt == 'zip')
print(sum(t.numel() for t in m.parameters()))
`;

const skip = pythonSkipReason(['torch', 'torchvision']);
let dir = '';
let params = '';

beforeAll(() => {
  if (skip) return void console.log(`SKIP .pth pickle protocols 4-5 on the CLI: ${skip}`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-protocols-'));
  const stdout = runPython(['-c', MAKE, dir, ROOT], { env: { OMP_NUM_THREADS: '1' } });
  params = Number(stdout.trim()).toLocaleString('en-US');
}, 120_000);

afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

const read = (file: string) => readWeights(new Uint8Array(fs.readFileSync(path.join(dir, file))), { source: file });

test.each([
  [4, 'zip'],
  [4, 'legacy'],
  [5, 'zip'],
  [5, 'legacy'],
])('pickle_protocol=%i, %s format: summary reads it, convert writes PyTorch’s tensors', async (p, fmt) => {
  if (skip) return;
  const file = `net.p${p}.${fmt}.pth`;
  const summary = await runCli(['summary', file], dir);
  expect({ status: summary.status, stderr: summary.stderr }).toEqual({ status: 0, stderr: '' });
  expect(summary.stdout).toContain(`Total params: ${params}`);
  const out = `net.p${p}.${fmt}.safetensors`;
  const convert = await runCli(['convert', file, out], dir);
  expect({ status: convert.status, stderr: convert.stderr }).toEqual({ status: 0, stderr: '' });
  const got = read(out);
  const want = read('expected.safetensors');
  expect([...got.tensors.keys()].sort()).toEqual([...want.tensors.keys()].sort());
  for (const [key, w] of want.tensors) {
    const t = got.tensors.get(key)!;
    expect({ key, shape: t.shape }).toEqual({ key, shape: w.shape });
    expect(Array.from(t.data)).toEqual(Array.from(w.data));
  }
});
