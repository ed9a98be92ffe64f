/**
 * ONNX export checked by running the exported models in onnxruntime-node and comparing with
 * resnet-ts's own logits (and, for the committed fixtures, with PyTorch's).
 */
import '@resnet-ts/backend-node';
import '@resnet-ts/zoo';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResNet, adaptStateDict, inferSpec, listBackends, loadRawStateDict, readWeights, useBackend } from '@resnet-ts/core';
import { loadCheckpoint, loadNpy } from '@resnet-ts/core/node';
import { createModel, resnet as resnetOf } from '@resnet-ts/zoo';
import { OnnxExportOptions, exportOnnx, modelProtoType, saveOnnx } from '@resnet-ts/onnx';
import { check, cleanOrtWork, ours, randomInput, randomizeBatchNorm, runOrt } from './ort';

const FIX = path.resolve(__dirname, '..', '..', 'core', 'test', 'fixtures', 'parity');

beforeAll(async () => {
  // wasm is ~40x faster than the cpu reference; both match PyTorch (packages/core/test/parity.test.ts).
  const name = listBackends().some((p) => p.name === 'wasm') ? 'wasm' : 'cpu';
  try {
    await useBackend(name);
  } catch {
    await useBackend('cpu');
  }
});

afterAll(() => cleanOrtWork());

describe.each(['resnet20', 'bottleneck'])('%s (PyTorch fixture)', (fixture) => {
  let model: ResNet;
  beforeAll(() => {
    model = loadCheckpoint(path.join(FIX, `${fixture}.safetensors`)).model;
    model.eval();
  });
  afterAll(() => model.dispose());

  test('folded export in onnxruntime matches PyTorch and resnet-ts', async () => {
    const x = loadNpy(path.join(FIX, `${fixture}.input.npy`));
    const torch = loadNpy(path.join(FIX, `${fixture}.logits.npy`));
    const bytes = exportOnnx(model);
    const y = await runOrt(bytes, x);
    check(`${fixture} folded vs PyTorch`, y, torch);
    const mine = ours(model, x);
    check(`${fixture} folded vs resnet-ts`, y, mine);
    tf.dispose([x, torch, y, mine]);
  });

  test.each([1, 3])('unfolded (BatchNormalization nodes), dynamic batch %i', async (batch) => {
    const [, , h, w] = fixture === 'resnet20' ? [0, 0, 32, 32] : [0, 0, 64, 64];
    const x = randomInput([batch, 3, h, w], batch);
    const bytes = exportOnnx(model, { foldBatchNorm: false });
    const y = await runOrt(bytes, x);
    const mine = ours(model, x);
    check(`${fixture} unfolded batch ${batch}`, y, mine);
    tf.dispose([x, y, mine]);
  });
});

describe('resnet18 (torchvision layout, option B)', () => {
  test('folded and unfolded, batch 1 and 3, NCHW and NHWC input', async () => {
    const model = createModel('resnet18', { seed: 7 });
    randomizeBatchNorm(model, 11);
    model.eval();
    const folded = exportOnnx(model);
    for (const batch of [1, 3]) {
      const x = randomInput([batch, 3, 64, 64], 100 + batch);
      const mine = ours(model, x);
      const y = await runOrt(folded, x);
      check(`resnet18 folded batch ${batch}`, y, mine);
      tf.dispose([x, mine, y]);
    }
    const x = randomInput([2, 3, 48, 64], 5);
    const mine = ours(model, x);
    const y1 = await runOrt(exportOnnx(model, { foldBatchNorm: false, inputName: 'image', outputName: 'scores' }), x, 'image', 'scores');
    check('resnet18 unfolded 48x64', y1, mine);
    const nhwc = tf.transpose(x, [0, 2, 3, 1]);
    const y2 = await runOrt(exportOnnx(model, { layout: 'nhwc' }), nhwc);
    check('resnet18 nhwc input', y2, mine);
    tf.dispose([x, mine, y1, nhwc, y2]);
    model.dispose();
  });
});

describe('other shapes of network', () => {
  test.each([
    ['plain20 (no shortcuts)', () => createModel('plain20', { seed: 3 })],
    ['resnet20 with shortcut C', () => createModel('resnet20', { shortcut: 'C', seed: 4 })],
    ['resnet20 option A, odd input size 15x17', () => createModel('resnet20', { seed: 5 })],
    [
      'bottleneck v1 stride placement, no batch norm',
      () => resnetOf({ block: 'bottleneck', layers: [1, 1], widths: [4, 8], strideMode: 'v1', batchNorm: false }),
    ],
  ])('%s', async (name, make) => {
    const model = make();
    randomizeBatchNorm(model, 9);
    model.eval();
    const x = randomInput(name.includes('15x17') ? [3, 3, 15, 17] : [2, 3, 32, 32], 21);
    for (const foldBatchNorm of [true, false]) {
      const y = await runOrt(exportOnnx(model, { foldBatchNorm }), x);
      const mine = ours(model, x);
      check(`${name} fold ${foldBatchNorm}`, y, mine);
      tf.dispose([y, mine]);
    }
    x.dispose();
    model.dispose();
  });
});

describe("option A with the CIFAR code's split padding (half the zero channels before the identity)", () => {
  test('a PyTorch CIFAR checkpoint exported to ONNX gives PyTorch\'s logits in onnxruntime', async () => {
    const TORCH_FIX = path.resolve(__dirname, '..', '..', 'core', 'test', 'fixtures', 'torch');
    const file = path.join(TORCH_FIX, 'cifar-resnet8-optionA.legacy.th');
    const { stateDict, hints } = adaptStateDict(readWeights(new Uint8Array(fs.readFileSync(file))));
    const model = new ResNet(inferSpec(stateDict, hints)).eval();
    expect(model.spec.shortcutParams).toEqual({ padding: 'split' });
    loadRawStateDict(model, stateDict);
    const x = loadNpy(path.join(TORCH_FIX, 'input.npy'));
    const torch = loadNpy(`${file}.logits.npy`);
    for (const foldBatchNorm of [true, false]) {
      const y = await runOrt(exportOnnx(model, { foldBatchNorm }), x);
      check(`cifar option A split fold ${foldBatchNorm} vs PyTorch`, y, torch);
      y.dispose();
    }
    tf.dispose([x, torch]);
    model.dispose();
  });
});

describe('model structure', () => {
  test('ops, dynamic batch, metadata; saveOnnx writes atomically', async () => {
    const model = createModel('resnet20');
    const n0 = tf.memory().numTensors;
    const bytes = exportOnnx(model);
    exportOnnx(model, { foldBatchNorm: false });
    expect(tf.memory().numTensors).toBe(n0); // no leaks
    const m = modelProtoType().decode(bytes) as unknown as {
      graph: { node: { op_type: string }[]; input: { type: { tensor_type: { shape: { dim: { dim_param?: string }[] } } } }[] };
      metadata_props: { key: string }[];
      opset_import: { version: number }[];
    };
    const ops = new Set(m.graph.node.map((n) => n.op_type));
    expect([...ops].sort()).toEqual(['Add', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'Pad', 'Relu', 'Slice']);
    expect(m.graph.input[0].type.tensor_type.shape.dim[0].dim_param).toBe('batch');
    expect(m.metadata_props.map((p) => p.key)).toContain('resnet-ts.spec');
    const unfolded = modelProtoType().decode(exportOnnx(model, { foldBatchNorm: false })) as unknown as typeof m;
    expect(unfolded.graph.node.some((n) => n.op_type === 'BatchNormalization')).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-onnx-'));
    const file = path.join(dir, 'm.onnx');
    await saveOnnx(file, model, { opset: 17 } as OnnxExportOptions);
    expect(fs.readdirSync(dir)).toEqual(['m.onnx']);
    const x = randomInput([2, 3, 32, 32], 1);
    model.eval();
    const y = await runOrt(fs.readFileSync(file), x);
    const mine = ours(model, x);
    check('resnet20 (default init) opset 17 from file', y, mine);
    tf.dispose([x, y, mine]);
    fs.rmSync(dir, { recursive: true, force: true });
    model.dispose();
  });
});
