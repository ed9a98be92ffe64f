/**
 * fromPretrained (the command line's path) on checkpoints as training frameworks write them, made at
 * test time by the real PyTorch (skipped, saying why, without it): a PyTorch Lightning checkpoint
 * (`{'state_dict': {'model.…'}, 'epoch', …}`) gives PyTorch's logits; `{'model', 'model_ema'}` uses
 * 'model' and says so in one line; a custom head is refused with remedies that work. Wide and grouped
 * bottlenecks are refused as unsupported, also when a model is named for them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { UnsupportedArchitectureError } from '@resnet-ts/core';
import { loadNpy, saveSafetensors } from '@resnet-ts/core/node';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const MAKE = `
import sys, torch, torchvision, numpy as np
from torchvision.models.resnet import ResNet, BasicBlock
out = sys.argv[1]
torch.set_num_threads(2)
torch.manual_seed(3)
m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.1, 0.1)
m.eval()
sd = m.state_dict()
opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
# What pytorch_lightning's Trainer.save_checkpoint writes for a LightningModule holding the net as self.model.
torch.save({'epoch': 3, 'global_step': 300, 'pytorch-lightning_version': '2.1.0',
            'state_dict': {'model.' + k: v for k, v in sd.items()},
            'optimizer_states': [opt.state_dict()], 'lr_schedulers': [], 'hyper_parameters': {'lr': 0.1}},
           out + '/lightning.ckpt')
ema = {k: (v + 1 if k == 'fc.bias' else v) for k, v in sd.items()}
torch.save({'model': sd, 'model_ema': ema, 'epoch': 3}, out + '/two.pth')
head = {k: v for k, v in sd.items() if not k.startswith('fc.')}
head.update({'fc.0.weight': torch.randn(16, 512), 'fc.0.bias': torch.zeros(16), 'fc.3.weight': torch.randn(10, 16), 'fc.3.bias': torch.zeros(10)})
torch.save(head, out + '/seqhead.pth')
x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
np.save(out + '/x.npy', x.numpy())
with torch.no_grad():
    np.save(out + '/logits.npy', m(x).numpy())
`;

describe('training-framework checkpoints made by PyTorch', () => {
  const skip = pythonSkipReason(['torch', 'torchvision', 'numpy']);
  let dir = '';
  beforeAll(() => {
    if (skip) return void console.log(`SKIP Lightning/EMA checkpoint tests: ${skip}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-wrappers-'));
    runPython(['-c', MAKE, dir], { env: { OMP_NUM_THREADS: '2' }, what: 'making the checkpoints' });
  }, 180_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  /** max |logits - PyTorch's| of a classifier's model and the scale it is judged against. */
  function diffToTorch(model: { forward(x: tf.Tensor): tf.Tensor }): { maxAbs: number; scale: number } {
    const x = loadNpy(path.join(dir, 'x.npy'));
    const ref = loadNpy(path.join(dir, 'logits.npy'));
    const out = tf.tidy(() => ({
      maxAbs: tf.max(tf.abs(tf.sub(model.forward(tf.transpose(x, [0, 2, 3, 1])), ref))).dataSync()[0],
      scale: Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]),
    }));
    tf.dispose([x, ref]);
    return out;
  }

  test("a Lightning checkpoint ({'state_dict': {'model.…'}}) loads without naming anything and gives PyTorch's logits", async () => {
    if (skip) return;
    const clf = await fromPretrained(path.join(dir, 'lightning.ckpt'));
    expect(clf.origin.convention).toBe('torchvision');
    expect(clf.model.spec.numClasses).toBe(10);
    expect(clf.model.spec.stages.map((s) => s.depth)).toEqual([1, 1, 1, 1]);
    const { maxAbs, scale } = diffToTorch(clf.model);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    clf.dispose();
  }, 120_000);

  test("{'model', 'model_ema'}: 'model' is used (PyTorch's logits) and one note line names it and 'model_ema'", async () => {
    if (skip) return;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const clf = await fromPretrained(path.join(dir, 'two.pth'));
      const notes = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith('note:'));
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(
        /two\.pth holds 2 state dicts \('model', 'model_ema'\); using 'model'\. .*torch\.save\(checkpoint\['model_ema'\]/,
      );
      expect(notes[0]).not.toMatch(/\n/);
      const { maxAbs, scale } = diffToTorch(clf.model);
      expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
      clf.dispose();
    } finally {
      warn.mockRestore();
    }
  }, 120_000);

  test('an nn.Sequential head: named, with the JS-only and the PyTorch remedy, and no model suggested that cannot fit', async () => {
    if (skip) return;
    const err = await fromPretrained(path.join(dir, 'seqhead.pth')).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /its head \(fc\.0\.weight, fc\.0\.bias, fc\.3\.weight, fc\.3\.bias\) is not the single linear layer 'fc'/,
    );
    expect((err as Error).message).toMatch(/\(JS API only\).*save it from PyTorch with the head as one nn\.Linear named fc\.$/);
    expect((err as Error).message).not.toMatch(/Say which architecture|--model/);
  }, 120_000);
});

describe('wide and grouped bottlenecks', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-wide-'));
  });
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  /** A torchvision-named stem and one bottleneck with conv2 of shape `conv2` and `out` channels, as safetensors. */
  async function bottleneckFile(name: string, conv2: number[], out: number): Promise<string> {
    const width = conv2[0];
    const t: Record<string, tf.Tensor> = { 'conv1.weight': tf.zeros([8, 3, 7, 7]) };
    const bn = (at: string, c: number) => {
      for (const p of ['weight', 'bias', 'running_mean', 'running_var']) t[`${at}.${p}`] = tf.ones([c]);
    };
    bn('bn1', 8);
    t['layer1.0.conv1.weight'] = tf.zeros([width, 8, 1, 1]);
    bn('layer1.0.bn1', width);
    t['layer1.0.conv2.weight'] = tf.zeros(conv2);
    bn('layer1.0.bn2', width);
    t['layer1.0.conv3.weight'] = tf.zeros([out, width, 1, 1]);
    bn('layer1.0.bn3', out);
    t['layer1.0.downsample.0.weight'] = tf.zeros([out, 8, 1, 1]);
    bn('layer1.0.downsample.1', out);
    t['fc.weight'] = tf.zeros([5, out]);
    t['fc.bias'] = tf.zeros([5]);
    const file = path.join(dir, name);
    await saveSafetensors(file, t);
    tf.dispose(Object.values(t));
    return file;
  }

  test.each([
    ['wide.safetensors', [32, 32, 3, 3], 64, /as Wide ResNet's/],
    ['resnext.safetensors', [32, 4, 3, 3], 64, /8 groups, as ResNeXt's/],
  ])('%s: unsupported, inferred or with a model named for it, and no model suggested', async (name, conv2, out, kind) => {
    const file = await bottleneckFile(name, conv2 as number[], out as number);
    for (const options of [{}, { model: 'resnet50' }]) {
      const err = await fromPretrained(file, options).catch((e: Error) => e);
      expect(err).toBeInstanceOf(UnsupportedArchitectureError);
      expect((err as Error).message).toMatch(kind as RegExp);
      expect((err as Error).message).not.toMatch(/--model|\bresnet50\b|Say which architecture|does not match the model/);
    }
  });
});
