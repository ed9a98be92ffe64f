/**
 * ONNX export of the plug-in block `preact-basic` and shortcut option `D` (their exporters are
 * registered next to their classes) run in onnxruntime-node: PyTorch's logits for the fixtures of
 * packages/zoo/test/fixtures/plugins, resnet-ts's for the zoo's preact nets; and a module type with
 * no registered exporter is refused by name, never exported as a plausible wrong graph.
 */
import '@resnet-ts/backend-node';
import '@resnet-ts/zoo';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import path from 'node:path';
import { BatchNorm2d, BlockOptions, ResNet, ResNetSpec, ResidualBlock, registerBlock, useBackend } from '@resnet-ts/core';
import { loadCheckpoint, loadNpy, loadWeightsInto } from '@resnet-ts/core/node';
import { BasicBlock } from '@resnet-ts/blocks';
import { createModel } from '@resnet-ts/zoo';
import { OnnxExportError, exportOnnx, modelProtoType } from '@resnet-ts/onnx';
import { check, cleanOrtWork, ours, randomInput, randomizeBatchNorm, runOrt } from './ort';

const FIX = path.resolve(__dirname, '..', '..', 'zoo', 'test', 'fixtures', 'plugins');

beforeAll(async () => {
  await useBackend('wasm').catch(() => useBackend('cpu'));
});
afterAll(() => cleanOrtWork());

function fixtureModel(name: string): ResNet {
  const file = path.join(FIX, `${name}.safetensors`);
  if (name !== 'optiond-cifar') return loadCheckpoint(file).model;
  const model = new ResNet(JSON.parse(fs.readFileSync(path.join(FIX, `${name}.spec.json`), 'utf8')) as ResNetSpec);
  loadWeightsInto(model, file);
  return model.eval();
}

const opTypes = (bytes: Uint8Array) => (modelProtoType().decode(bytes) as unknown as { graph: { node: { op_type: string }[] } }).graph.node.map((n) => n.op_type);

describe.each(['preact-cifar', 'preact-imagenet', 'optiond-cifar'])('%s (PyTorch fixture)', (name) => {
  test.each([true, false])('fold batch norm %s: onnxruntime gives PyTorch logits and resnet-ts logits', async (foldBatchNorm) => {
    const model = fixtureModel(name);
    const x = loadNpy(path.join(FIX, `${name}.input.npy`));
    const torch = loadNpy(path.join(FIX, `${name}.logits.npy`));
    const bytes = exportOnnx(model, { foldBatchNorm });
    const ops = opTypes(bytes);
    if (name.startsWith('optiond')) expect(ops).toContain('AveragePool');
    const y = await runOrt(bytes, x);
    check(`${name} fold ${foldBatchNorm} vs PyTorch`, y, torch);
    const mine = ours(model, x);
    check(`${name} fold ${foldBatchNorm} vs resnet-ts`, y, mine);
    tf.dispose([x, torch, y, mine]);
    model.dispose();
  });
});

describe('zoo pre-activation nets', () => {
  test.each([
    ['preact-resnet110', [2, 3, 32, 32]],
    ['preact-resnet18', [1, 3, 64, 64]],
  ])('%s: graph shape (no Relu after the adds, final BN-ReLU) and onnxruntime logits', async (name, shape) => {
    const model = createModel(name as string, { seed: 2 });
    randomizeBatchNorm(model, 12);
    // Untrained running statistics do not normalise a deep pre-activation net's residual stream: each
    // block would double its variance (1e7-sized logits after 54 blocks). Quieter branches keep it near 1.
    for (const [key, v] of model.namedParameters()) if (key.endsWith('conv2.weight')) tf.tidy(() => v.assign(tf.mul(v, 0.2)));
    model.eval();
    const bytes = exportOnnx(model);
    const ops = opTypes(bytes);
    const blocks = model.blocks().length;
    expect(ops.filter((o) => o === 'Add').length).toBe(blocks);
    // Per block: pre-activation Relu and the Relu between the convs; plus the final Relu. None after an Add.
    expect(ops.filter((o) => o === 'Relu').length).toBe(2 * blocks + 1);
    ops.forEach((o, i) => o === 'Add' && expect(ops[i + 1]).not.toBe('Relu'));
    const x = randomInput(shape as number[], 31);
    const y = await runOrt(bytes, x);
    const mine = ours(model, x);
    check(`${name} (seeded init, random BN)`, y, mine);
    tf.dispose([x, y, mine]);
    model.dispose();
  });

  test('a lesioned preact block and a scaled branch export as they run', async () => {
    const model = createModel('preact-resnet110', { seed: 5, stages: [16, 32, 64].map((width, i) => ({ block: 'preact-basic', width, depth: 2, stride: i ? 2 : 1 })) });
    randomizeBatchNorm(model, 3);
    model.eval();
    const blocks = model.blocks();
    blocks[2].branchEnabled = false; // the downsampling block of stage 2: its projection of the pre-activated input remains
    blocks[4].branchScale = 0.5;
    const x = randomInput([2, 3, 16, 16], 8);
    const y = await runOrt(exportOnnx(model, { foldBatchNorm: false }), x);
    const mine = ours(model, x);
    check('preact lesioned + scaled', y, mine);
    tf.dispose([x, y, mine]);
    model.dispose();
  });
});

/** A user's block made of `convK`/`bnK` children (the basic block's layers) that computes something else. */
class SwappedBlock extends BasicBlock {
  override combine(f: tf.Tensor | null, s: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => tf.sub(f ?? tf.zerosLike(s!), s ?? tf.zerosLike(f!)));
  }
}

describe('a module type without a registered exporter', () => {
  test('is refused with one line naming the type and the path', () => {
    registerBlock('swapped-basic', { description: 'test block', expansion: 1, create: (o: BlockOptions) => new SwappedBlock(o) });
    const model = new ResNet({ stem: 'cifar', stages: [{ block: 'swapped-basic', width: 8, depth: 1, stride: 1 }], shortcut: 'B', numClasses: 3 });
    expect(model.blocks()[0]).toBeInstanceOf(ResidualBlock);
    expect(() => exportOnnx(model)).toThrow(OnnxExportError);
    expect(() => exportOnnx(model)).toThrow(/^Cannot export 'layer1\.0' \(SwappedBlock\): no graph exporter is registered for SwappedBlock\. Register one/);
    model.dispose();
  });
});

test('a batch norm whose fold would not be exact stays a BatchNormalization node (the runtime fusion refuses the same fold)', () => {
  const model = createModel('resnet20', { seed: 1 });
  const bn = model.child('bn1') as BatchNorm2d;
  tf.tidy(() => bn.runningVar.assign(tf.fill([bn.numFeatures], -bn.eps))); // var + eps = 0: the scale is Inf
  const ops = opTypes(exportOnnx(model));
  expect(ops.filter((o) => o === 'BatchNormalization').length).toBe(1);
  expect(ops.filter((o) => o === 'Conv').length).toBe(19);
  model.dispose();
});
