/**
 * `resnet convert --to torchvision` keeps what the tensors cannot say. A torchvision state dict has
 * the same keys for a plain and a residual net, for ResNet v1 and v1.5 bottlenecks, and for option A's
 * two paddings; the file keeps the spec (with classes and preprocessing) in its safetensors metadata,
 * every reader builds the net from it, and the round trip gives the same logits. A one-line note says
 * what a tool that reads only the tensors would build instead. PyTorch still loads the file into
 * torchvision's model (strict). Also: a shipped model's name converts to torchvision; kuangliu's CIFAR
 * PreActResNet (conv-only shortcuts) is refused in one line, its variant with batch-normed shortcuts
 * loads. Fixtures are made at test time (PyTorch cases skip, saying why, without torch). Build first:
 * `npx tsc -b packages/cli`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { openSafetensors, parseCheckpointMetadata, saveNpy } from '@resnet-ts/core/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';
import { ROOT, refusal, runCli } from './cli-run';

let dir = '';
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-convert-tv-'));
  const gray = tf.randomNormal([3, 1, 32, 32], 0, 1, 'float32', 7);
  await saveNpy(path.join(dir, 'x1.npy'), gray);
  gray.dispose();
});
afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(args, dir, 180_000);

/** The logits file {@link logits} writes for `weights` on `input`. */
const outOf = (weights: string, input: string) => `${weights.replace(/[^a-z0-9]+/gi, '_')}.${input}`;

/** The resnet-ts fields of a safetensors file's metadata. */
function info(file: string) {
  const f = openSafetensors(path.join(dir, file));
  try {
    return parseCheckpointMetadata(f.metadata, file);
  } finally {
    f.close();
  }
}

/** `resnet forward --weights <w>` on `input`: the logits file's bytes (exit 0, nothing on stderr). */
async function logits(weights: string, input: string, extra: string[] = []): Promise<Buffer> {
  const out = outOf(weights, input);
  const r = await run('forward', '--weights', weights, '--input', input, '--out', out, ...extra);
  expect({ weights, status: r.status, stderr: r.stderr }).toEqual({ weights, status: 0, stderr: '' });
  return fs.readFileSync(path.join(dir, out));
}

/** Runs `resnet convert ...args`; expects exit 0 and returns stderr (the notes). */
async function convert(...args: string[]): Promise<string> {
  const r = await run('convert', ...args);
  expect({ args, status: r.status, stdout: r.stdout }).toEqual({
    args,
    status: 0,
    stdout: expect.stringMatching(/^wrote .*torch|^wrote .*resnet-ts/),
  });
  return r.stderr;
}

const PLAIN_NOTE =
  "note: a torchvision state dict cannot say this net is plain (no shortcuts); resnet-ts reads that back from the file's metadata, " +
  'but a tool that reads only the tensors (torchvision, PyTorch) would build a residual resnet20\n';

describe('a plain net (shipped plain20-fashion-mnist)', () => {
  test('its name converts to torchvision; the file keeps spec, classes and preprocessing; a note says what the tensors alone give', async () => {
    expect(await convert('plain20-fashion-mnist', 'named_tv.safetensors', '--to', 'torchvision')).toBe(PLAIN_NOTE);
    const meta = info('named_tv.safetensors');
    expect(meta.format).toBe('pt');
    expect(meta.spec).toMatchObject({ residual: false, inChannels: 1, numClasses: 10 });
    expect(meta.classes?.[0]).toBe('T-shirt/top');
    expect(meta.preprocessing?.mean).toHaveLength(1);
    expect(await logits('named_tv.safetensors', 'x1.npy')).toEqual(await logits('plain20-fashion-mnist', 'x1.npy'));
  });

  test('resnet-ts -> torchvision -> resnet-ts: the same logits at every step, the spec kept', async () => {
    expect(await convert('plain20-fashion-mnist', 'p20_rt.safetensors')).toBe('');
    expect(await convert('p20_rt.safetensors', 'p20_tv.safetensors')).toBe(PLAIN_NOTE);
    expect(await convert('p20_tv.safetensors', 'p20_back.safetensors')).toBe('');
    expect(info('p20_back.safetensors')).toMatchObject({ format: 'resnet-ts/1', spec: { residual: false } });
    const want = await logits('plain20-fashion-mnist', 'x1.npy');
    for (const w of ['p20_rt.safetensors', 'p20_tv.safetensors', 'p20_back.safetensors']) expect(await logits(w, 'x1.npy')).toEqual(want);
    // --model names another architecture than the stored spec: refused, not run as the residual net.
    expect(
      await refusal(['forward', '--model', 'resnet20', '--weights', 'p20_tv.safetensors', '--input', 'x1.npy', '--out', 'o.npy'], dir),
    ).toMatch(/another architecture than this model \(residual: file false, model true/);
    expect(await refusal(['convert', 'p20_tv.safetensors', 'again.safetensors', '--to', 'torchvision'], dir)).toBe(
      "'p20_tv.safetensors' is already a torchvision state dict (the resnet-ts spec in its metadata); `resnet convert p20_tv.safetensors <out.safetensors>` makes a resnet-ts checkpoint of it.",
    );
  });
});

const skip = pythonSkipReason(['torch', 'torchvision']);
const torchTest = skip ? test.skip : test;
if (skip) console.log(`SKIP the PyTorch cases of convert --to torchvision: ${skip}`);

/**
 * torchvision's ResNet of one bottleneck a stage (64..512 wide); akamaster's CIFAR ResNet-8 (option A,
 * padding split, in a DataParallel wrapper); kuangliu's PreActResNet of one block a stage (8..64 wide),
 * with its conv-only shortcuts and with batch-normed ones; their logits on x3.npy.
 */
const MAKE = `
import os, sys, json, torch, numpy as np, torch.nn as nn, torch.nn.functional as F
out, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, 'scripts', 'parity'))
from make_torch_fixtures import CifarResNet, randomize
from torchvision.models.resnet import ResNet, Bottleneck
torch.set_num_threads(2)
x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
np.save(out + '/x3.npy', x.numpy())
tv = randomize(ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10), 1).eval()
torch.save(tv.state_dict(), out + '/tv14.pth')
ak = randomize(CifarResNet([1, 1, 1]), 2).eval()
torch.save({'epoch': 1, 'state_dict': {'module.' + k: v for k, v in ak.state_dict().items()}}, out + '/akamaster.th')
class PreActBlock(nn.Module):
    def __init__(self, i, o, stride, bn):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(i); self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o); self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        if stride != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), *([nn.BatchNorm2d(o)] if bn else []))
    def forward(self, x):
        out = F.relu(self.bn1(x)); sc = self.shortcut(out) if hasattr(self, 'shortcut') else x
        return self.conv2(F.relu(self.bn2(self.conv1(out)))) + sc
class PreActResNet(nn.Module):
    def __init__(self, bn):
        super().__init__(); self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        for n, (i, o, s) in enumerate([(8, 8, 1), (8, 16, 2), (16, 32, 2), (32, 64, 2)]):
            setattr(self, 'layer%d' % (n + 1), nn.Sequential(PreActBlock(i, o, s, bn)))
        self.linear = nn.Linear(64, 10)
    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.linear(F.avg_pool2d(out, 4).flatten(1))
for name, m in [('akamaster', ak), ('preact', randomize(PreActResNet(False), 4).eval()), ('preact_bn', randomize(PreActResNet(True), 5).eval())]:
    if name != 'akamaster': torch.save(m.state_dict(), out + '/' + name + '.pth')
    with torch.no_grad(): np.save(out + '/' + name + '.ref.npy', m(x).numpy())
json.dump({'stem': 'imagenet', 'stages': [{'block': 'bottleneck', 'width': w, 'depth': 1, 'stride': s} for w, s in [(64, 1), (128, 2), (256, 2), (512, 2)]],
           'shortcut': 'B', 'numClasses': 10, 'strideMode': 'v1'}, open(out + '/v1.json', 'w'))
`;

/** Max |a - b| of two .npy files (in dir), relative to max(1, max |b|), by NumPy. */
function relDiff(a: string, b: string): number {
  const code = `import sys, numpy as np; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); assert a.shape == b.shape; print(np.abs(a - b).max() / max(1.0, np.abs(b).max()))`;
  return Number(runPython(['-c', code, path.join(dir, a), path.join(dir, b)]).trim());
}

describe('with PyTorch', () => {
  beforeAll(() => {
    if (!skip) runPython(['-c', MAKE, dir, ROOT], { env: { OMP_NUM_THREADS: '2' }, timeout: 120_000 });
  }, 180_000);

  torchTest('ResNet v1: the round trip keeps the stride placement; PyTorch loads the file into torchvision (strict)', async () => {
    expect(await convert('tv14.pth', 'v1_rt.safetensors', '--model', 'v1.json')).toBe('');
    expect(await convert('v1_rt.safetensors', 'v1_tv.safetensors')).toBe(
      "note: a torchvision state dict cannot say this resnet14 is ResNet v1 (a bottleneck's stride on its first 1x1 conv); resnet-ts reads that back from the file's metadata, " +
        "but a tool that reads only the tensors (torchvision, PyTorch) would build ResNet v1.5 (a bottleneck's stride on its 3x3 conv, as torchvision's)\n",
    );
    expect(info('v1_tv.safetensors').spec).toMatchObject({ strideMode: 'v1' });
    expect(await logits('v1_tv.safetensors', 'x3.npy')).toEqual(await logits('v1_rt.safetensors', 'x3.npy'));
    // PyTorch: the metadata is ignored, the tensors are torchvision's resnet (v1.5) state dict, loaded strictly.
    const check = `
import sys, json, struct, torch, numpy as np
from torchvision.models.resnet import ResNet, Bottleneck
try:
    from safetensors.torch import load_file
except ImportError:  # the same reading: the header's tensors, __metadata__ skipped
    def load_file(p):
        b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
        dt = {'F32': np.float32, 'I64': np.int64}
        return {k: torch.from_numpy(np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=dt[v['dtype']]).reshape(v['shape']).copy()) for k, v in h.items()}
m = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10)
m.load_state_dict(load_file(sys.argv[1]), strict=True)
ref = torch.load(sys.argv[2])
print(all(torch.equal(ref[k], v) for k, v in m.state_dict().items()))
`;
    expect(runPython(['-c', check, path.join(dir, 'v1_tv.safetensors'), path.join(dir, 'tv14.pth')]).trim()).toBe('True');
  });

  torchTest(
    "akamaster's option A (padding split): .th -> resnet-ts -> torchvision keeps PyTorch's logits; the .th converts directly too",
    async () => {
      const note =
        "note: a torchvision state dict cannot say its option-A shortcuts pad the new zero channels half before and half after the identity channels (padding 'split'); " +
        "resnet-ts reads that back from the file's metadata, but a tool that reads only the tensors (torchvision, PyTorch) would build a resnet8 that pads them all after the identity channels\n";
      expect(await convert('akamaster.th', 'ak_rt.safetensors')).toBe('');
      expect(await convert('ak_rt.safetensors', 'ak_tv.safetensors')).toBe(note);
      expect(await convert('akamaster.th', 'ak_direct.safetensors', '--to', 'torchvision')).toBe(note);
      const want = await logits('ak_rt.safetensors', 'x3.npy');
      expect(await logits('ak_tv.safetensors', 'x3.npy')).toEqual(want);
      expect(await logits('ak_direct.safetensors', 'x3.npy')).toEqual(want);
      expect(relDiff(outOf('ak_tv.safetensors', 'x3.npy'), 'akamaster.ref.npy')).toBeLessThan(1e-5);
    },
  );

  torchTest(
    "kuangliu's PreActResNet: conv-only shortcuts refused in one line; batch-normed ones load as a pre-activation net without a final batch norm",
    async () => {
      expect(await refusal(['convert', 'preact.pth', 'pa.safetensors'], dir)).toBe(
        "These weights are of an architecture resnet-ts does not build: a pre-activation net without a final batch norm (no 'bn.weight') and with shortcut projections " +
          "of a 1x1 conv alone, without a batch norm (the first in block layer2.0), as in kuangliu's CIFAR PreActResNet; resnet-ts's projections are a 1x1 conv and a batch norm. " +
          "resnet-ts builds ResNets of basic blocks and plain bottlenecks (4x expansion, no groups): torchvision's resnet18..152, the CIFAR resnet20..1202, plain nets and pre-activation basic-block nets.",
      );
      expect(fs.existsSync(path.join(dir, 'pa.safetensors'))).toBe(false);
      expect(await convert('preact_bn.pth', 'pa_bn.safetensors')).toBe('');
      expect(info('pa_bn.safetensors').spec).toMatchObject({
        stages: [{ block: 'preact-basic' }, {}, {}, {}],
        stemNorm: 'none',
        finalNorm: 'none',
      });
      await logits('pa_bn.safetensors', 'x3.npy');
      expect(relDiff(outOf('pa_bn.safetensors', 'x3.npy'), 'preact_bn.ref.npy')).toBeLessThan(1e-5);
    },
  );
});
