/**
 * Numerical parity with PyTorch (fixtures from scripts/parity/make_fixtures.py; see
 * test/fixtures/parity/README.md): eval-mode logits on cpu, wasm and native, and one SGD training step on each.
 * The torchvision resnet18 case generates its checkpoint at test time and runs only where
 * /usr/bin/python3 has torch.
 */
import '@resnet-ts/backend-node';
import '@resnet-ts/zoo';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResNet, listBackends, probeBackends, useBackend } from '@resnet-ts/core';
import { loadCheckpoint, loadNpy, loadSafetensors, loadWeightsInto } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const FIX = path.join(__dirname, 'fixtures', 'parity');
const ROOT = path.resolve(__dirname, '..', '..', '..');

/** max |a - b| and the scale it is judged against (max(1, max |ref|)). */
function diff(a: tf.Tensor, ref: tf.Tensor): { maxAbs: number; scale: number } {
  return tf.tidy(() => ({
    maxAbs: tf.max(tf.abs(tf.sub(a, ref))).dataSync()[0],
    scale: Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]),
  }));
}

function logitsOf(model: ResNet, inputNchw: string): tf.Tensor {
  const x = loadNpy(inputNchw);
  const y = tf.tidy(() => model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false }));
  x.dispose();
  return y;
}

async function engineUnavailable(name: string): Promise<string | null> {
  if (!listBackends().some((p) => p.name === name)) return `no ${name} backend plug-in is registered by @resnet-ts/backend-node yet`;
  const probe = (await probeBackends()).find((p) => p.plugin.name === name);
  if (!probe?.availability.available) return `${name} backend unavailable: ${probe?.availability.reason}`;
  return null;
}

const FIXTURES = ['resnet20', 'bottleneck'];

describe.each(['cpu', 'wasm', 'native'])('eval-mode logits match PyTorch on %s', (backend) => {
  let skip: string | null = null;
  beforeAll(async () => {
    if (backend !== 'cpu') skip = await engineUnavailable(backend);
    if (skip) console.log(`SKIP parity on ${backend}: ${skip}`);
    else await useBackend(backend);
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  test.each(FIXTURES)('%s (committed fixture)', (name) => {
    if (skip) return;
    const before = tf.memory().numTensors;
    const { model } = loadCheckpoint(path.join(FIX, `${name}.safetensors`));
    const y = logitsOf(model, path.join(FIX, `${name}.input.npy`));
    const ref = loadNpy(path.join(FIX, `${name}.logits.npy`));
    const { maxAbs, scale } = diff(y, ref);
    console.log(`parity ${backend} ${name}: max abs diff ${maxAbs.toExponential(2)} (output scale ${scale.toFixed(2)})`);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    tf.dispose([y, ref]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('torchvision resnet18 (generated with PyTorch at test time)', () => {
  const skip = pythonSkipReason(['torch', 'torchvision']);
  let dir = '';
  beforeAll(async () => {
    if (skip) {
      console.log(`SKIP resnet18 parity: ${skip}`);
      return;
    }
    await useBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-parity-'));
    runPython([path.join(ROOT, 'scripts/parity/make_fixtures.py'), '--out', dir, '--only', 'resnet18'], {
      env: { OMP_WAIT_POLICY: 'PASSIVE' },
    });
  });
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test('logits match (wasm when available, else cpu)', async () => {
    if (skip) return;
    const backend = (await engineUnavailable('wasm')) ? 'cpu' : 'wasm';
    await useBackend(backend);
    const model = createModel('resnet18');
    const report = loadWeightsInto(model, path.join(dir, 'resnet18.safetensors'));
    expect(report.loaded.length).toBe(122);
    model.eval();
    const y = logitsOf(model, path.join(dir, 'resnet18.input.npy'));
    const ref = loadNpy(path.join(dir, 'resnet18.logits.npy'));
    const { maxAbs, scale } = diff(y, ref);
    console.log(`parity ${backend} torchvision resnet18: max abs diff ${maxAbs.toExponential(2)} (output scale ${scale.toFixed(2)})`);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    tf.dispose([y, ref]);
    model.dispose();
    await useBackend('cpu');
  });
});

describe.each(['cpu', 'wasm', 'native'])('one SGD training step matches torch.optim.SGD on %s', (backend) => {
  test('resnet20: train-mode BN, cross-entropy, lr 0.1, momentum 0.9, weight decay 1e-4', async () => {
    const skip = backend !== 'cpu' ? await engineUnavailable(backend) : null;
    if (skip) {
      console.log(`SKIP training-step parity on ${backend}: ${skip}`);
      return;
    }
    await useBackend(backend);
    const lr = 0.1;
    const momentum = 0.9;
    const wd = 1e-4;
    const { model } = loadCheckpoint(path.join(FIX, 'resnet20.safetensors'));
    model.train();
    const x = loadNpy(path.join(FIX, 'resnet20.train.input.npy'));
    const labels = loadNpy(path.join(FIX, 'resnet20.train.labels.npy'));
    const refLossT = loadNpy(path.join(FIX, 'resnet20.train.loss.npy'));
    const refLoss = refLossT.dataSync()[0];
    const named = model.namedParameters();
    const buffers = new Map<string, tf.Tensor>();
    const xs = tf.transpose(x, [0, 2, 3, 1]);
    const onehot = tf.oneHot(labels as tf.Tensor1D, 10);
    const { value, grads } = tf.variableGrads(
      () => {
        const logits = model.forward(xs, { training: true });
        return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
      },
      named.map(([, v]) => v),
    );
    const loss = value.dataSync()[0];
    console.log(`train step ${backend}: loss ${loss.toFixed(6)} (PyTorch ${refLoss.toFixed(6)})`);
    expect(Math.abs(loss - refLoss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(refLoss)));
    // torch.optim.SGD: d = g + wd * w; buf = d on the first step (then buf = momentum * buf + d); w -= lr * buf.
    for (const [name, v] of named) {
      tf.tidy(() => {
        const d = tf.add(grads[v.name], tf.mul(v, wd));
        const prev = buffers.get(name);
        const buf = prev ? tf.add(tf.mul(prev, momentum), d) : d;
        buffers.set(name, tf.keep(buf));
        v.assign(tf.sub(v, tf.mul(buf, lr)));
      });
    }
    const after = (await loadSafetensors(path.join(FIX, 'resnet20.train.after.safetensors'))).tensors;
    const mine = model.stateDict({ layout: 'torch' });
    let worst = { key: '', maxAbs: 0 };
    for (const [key, ref] of after) {
      const t = mine.get(key);
      expect(t).toBeDefined();
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(t!, 'float32'), tf.cast(ref, 'float32')))).dataSync()[0]);
      if (d > worst.maxAbs) worst = { key, maxAbs: d };
    }
    console.log(
      `train step ${backend}: ${after.size} updated weights and BN buffers, worst max abs diff ${worst.maxAbs.toExponential(2)} at ${worst.key}`,
    );
    expect(worst.maxAbs).toBeLessThanOrEqual(1e-4);
    tf.dispose([x, labels, refLossT, xs, onehot, value, ...Object.values(grads), ...buffers.values(), ...after.values(), ...mine.values()]);
    model.dispose();
    await useBackend('cpu');
  });
});
