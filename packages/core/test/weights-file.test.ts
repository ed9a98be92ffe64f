/**
 * PyTorch checkpoints from disk through the Node helpers: readWeightsFile, loadWeightsInto (which
 * reads `.pth` files instead of rejecting them), the safetensors-only paths' message for a `.pth`,
 * and the non-finite policy on the byte-based loader.
 */
import './setup';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NonFiniteWeightsError, RawStateDict, ResNet, adaptStateDict, inferSpec, loadRawStateDict } from '@resnet-ts/core';
import {
  FileError,
  loadCheckpoint,
  loadNpy,
  loadWeightsInto,
  openSafetensors,
  readWeightsFile,
  weightsFileFormat,
} from '@resnet-ts/core/node';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const CIFAR = path.join(FIX, 'cifar-resnet8-optionA.legacy.th');

function cifarModel(): ResNet {
  const { stateDict, hints } = adaptStateDict(readWeightsFile(CIFAR));
  return new ResNet(inferSpec(stateDict, hints)).eval();
}

test("loadWeightsInto reads a legacy .th from akamaster's trainer and gives PyTorch's logits", () => {
  const model = cifarModel();
  const r = loadWeightsInto(model, CIFAR);
  expect(r.missing).toEqual([]);
  expect(r.info.metadata.best_prec1).toBe('91.25');
  const x = loadNpy(path.join(FIX, 'input.npy'));
  const ref = loadNpy(`${CIFAR}.logits.npy`);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.forward(tf.transpose(x, [0, 2, 3, 1])), ref))).dataSync()[0]);
  expect(diff).toBeLessThanOrEqual(1e-4);
  tf.dispose([x, ref]);
  model.dispose();
});

test('loadCheckpoint(.pth) builds the architecture the weights imply (CIFAR option A split), in eval mode', () => {
  const { model, spec, metadata, extraTensors } = loadCheckpoint(CIFAR);
  expect(model.training).toBe(false);
  expect(spec).toMatchObject({ stem: 'cifar', shortcut: 'A', shortcutParams: { padding: 'split' }, numClasses: 10 });
  expect(metadata.best_prec1).toBe('91.25');
  expect(extraTensors.size).toBe(0);
  const x = loadNpy(path.join(FIX, 'input.npy'));
  const ref = loadNpy(`${CIFAR}.logits.npy`);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.forward(tf.transpose(x, [0, 2, 3, 1])), ref))).dataSync()[0]);
  expect(diff).toBeLessThanOrEqual(1e-4);
  tf.dispose([x, ref]);
  model.dispose();
});

test('loadWeightsInto with a .pth of another architecture: one line, the model unchanged', () => {
  const model = cifarModel();
  const before = model.stateDict();
  expect(() => loadWeightsInto(model, path.join(FIX, 'hf-basic.pytorch_model.bin'))).toThrow(
    /hf-basic\.pytorch_model\.bin' does not match the model: unexpected keys: layer2\.0\.downsample.*mis-shaped keys: conv1\.weight/,
  );
  const after = model.stateDict();
  for (const [k, t] of before) expect(tf.tidy(() => tf.max(tf.abs(tf.sub(t, after.get(k)!))).dataSync()[0])).toBe(0);
  tf.dispose([...before.values(), ...after.values()]);
  model.dispose();
});

test("CIFAR option A weights into a model padded 'after' are refused (same keys and shapes, other outputs)", () => {
  const { stateDict, hints } = adaptStateDict(readWeightsFile(CIFAR));
  const model = new ResNet(inferSpec(stateDict, { ...hints, shortcutParams: { padding: 'after' } }));
  const before = model.stateDict();
  expect(() => loadWeightsInto(model, CIFAR)).toThrow(
    /\(cifar convention\): the weights were trained with other architecture options than the model: shortcutParams: weights \{"padding":"split"\}, model \{"padding":"after"\}/,
  );
  const after = model.stateDict();
  for (const [k, t] of before) expect(tf.tidy(() => tf.max(tf.abs(tf.sub(t, after.get(k)!))).dataSync()[0])).toBe(0);
  tf.dispose([...before.values(), ...after.values()]);
  expect(loadWeightsInto(model, CIFAR, { strict: false }).missing).toEqual([]); // non-strict: the caller's call
  model.dispose();
});

test('a .pth where safetensors is expected is named as a PyTorch checkpoint, with what reads it', () => {
  expect(() => openSafetensors(path.join(FIX, 'torchvision-basic.pt'))).toThrow(
    /is a PyTorch checkpoint \(torch\.save, zip format\), not safetensors: read it with readWeightsFile/,
  );
  expect(() => openSafetensors(CIFAR)).toThrow(/legacy format/);
  expect(weightsFileFormat(CIFAR)).toBe('torch-legacy');
});

test('file-system problems are FileErrors', () => {
  expect(() => readWeightsFile(path.join(FIX, 'no-such.pth'))).toThrow(FileError);
  expect(() => readWeightsFile(FIX)).toThrow(/is a directory/);
});

test("non-finite weights: 'error' refuses before anything changes, 'warn' says one line", () => {
  const raw = readWeightsFile(path.join(FIX, 'torchvision-basic.pt'));
  const bad = new Float32Array(raw.tensors.get('fc.weight')!.data as Float32Array);
  bad[3] = NaN;
  bad[5] = Infinity;
  const sd: RawStateDict = { ...raw, tensors: new Map(raw.tensors).set('fc.weight', { ...raw.tensors.get('fc.weight')!, data: bad }) };
  const model = new ResNet(inferSpec(sd)).eval();
  const fc = model.fc.weight.dataSync().slice();
  expect(() => loadRawStateDict(model, sd, { source: 'bad.pt', nonFinite: 'error' })).toThrow(NonFiniteWeightsError);
  expect(model.fc.weight.dataSync()).toEqual(fc);
  const warnings: string[] = [];
  loadRawStateDict(model, sd, { source: 'bad.pt', nonFinite: 'warn', warn: (m) => warnings.push(m) });
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/bad\.pt: 1 of \d+ tensors hold NaN or Inf \(2 values: fc\.weight\)/);
  model.dispose();
});

test('tmp folder is writable (sanity for the suites that write)', () => {
  expect(fs.existsSync(os.tmpdir())).toBe(true);
});
