/**
 * The plug-in block `preact-basic` and shortcut option `D` against PyTorch definitions of the same
 * networks (fixtures from scripts/parity/make_plugin_fixtures.py; see fixtures/plugins/README.md):
 * eval-mode logits on cpu, wasm and native, and one torch.optim.SGD step; their weights load through
 * core's one loader (loadCheckpoint / loadWeightsInto). Also the zoo entries preact-resnet110/18 and
 * the spec fields the pre-activation nets need (stemNorm, finalNorm) through checkpoint metadata.
 */
import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FormatError,
  ResNet,
  ResNetSpec,
  SpecError,
  adaptStateDict,
  inferSpec,
  listBackends,
  loadRawStateDict,
  lossAndGradients,
  parseCheckpointMetadata,
  probeBackends,
  readWeights,
  useBackend,
} from '@resnet-ts/core';
import { loadCheckpoint, loadNpy, loadSafetensors, loadWeightsInto, saveCheckpoint, saveSafetensors } from '@resnet-ts/core/node';
import { countParameters, createModel, customSpec, getModelSpec, listModels } from '@resnet-ts/zoo';

const FIX = path.join(__dirname, 'fixtures', 'plugins');
const specOf = (name: string): ResNetSpec => JSON.parse(fs.readFileSync(path.join(FIX, `${name}.spec.json`), 'utf8')) as ResNetSpec;

/** The fixture's model with its PyTorch weights, through the one loader: the stored spec, or (option D: a plain state dict) the spec file. */
function loadFixture(name: string): ResNet {
  const file = path.join(FIX, `${name}.safetensors`);
  if (name !== 'optiond-cifar') return loadCheckpoint(file).model;
  const model = new ResNet(specOf(name));
  const report = loadWeightsInto(model, file);
  expect(report.missing).toEqual([]);
  return model.eval();
}

function maxAbsDiff(a: tf.Tensor, ref: tf.Tensor): { maxAbs: number; scale: number } {
  return tf.tidy(() => ({
    maxAbs: tf.max(tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(ref, 'float32')))).dataSync()[0],
    scale: Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]),
  }));
}

async function engineUnavailable(name: string): Promise<string | null> {
  if (name === 'cpu') return null;
  if (!listBackends().some((p) => p.name === name)) return `no ${name} backend plug-in is registered`;
  const probe = (await probeBackends()).find((p) => p.plugin.name === name);
  return probe?.availability.available ? null : `${name} backend unavailable: ${probe?.availability.reason}`;
}

afterAll(async () => {
  await useBackend('cpu');
});

describe.each(['cpu', 'wasm', 'native'])('PyTorch parity on %s', (backend) => {
  let skip: string | null = null;
  beforeAll(async () => {
    skip = await engineUnavailable(backend);
    if (skip) console.log(`SKIP plug-in parity on ${backend}: ${skip}`);
    else await useBackend(backend);
  });

  test.each(['preact-cifar', 'preact-imagenet', 'optiond-cifar'])('%s: eval-mode logits', (name) => {
    if (skip) return;
    const before = tf.memory().numTensors;
    const model = loadFixture(name);
    const x = loadNpy(path.join(FIX, `${name}.input.npy`));
    const ref = loadNpy(path.join(FIX, `${name}.logits.npy`));
    const y = tf.tidy(() => model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false }));
    const { maxAbs, scale } = maxAbsDiff(y, ref);
    console.log(`plug-in parity ${backend} ${name}: logits max abs diff ${maxAbs.toExponential(2)} (scale ${scale.toFixed(2)})`);
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    tf.dispose([x, ref, y]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test.each(['preact-cifar', 'optiond-cifar'])('%s: one SGD step (lr 0.1, momentum 0.9, weight decay 1e-4) gives PyTorch parameters', async (name) => {
    if (skip) return;
    const [lr, wd] = [0.1, 1e-4];
    const model = loadFixture(name).train();
    const x = loadNpy(path.join(FIX, `${name}.train.input.npy`));
    const labels = loadNpy(path.join(FIX, `${name}.train.labels.npy`));
    const refLoss = loadNpy(path.join(FIX, `${name}.train.loss.npy`));
    const xs = tf.transpose(x, [0, 2, 3, 1]);
    const { loss, grads } = lossAndGradients(model, xs, labels);
    const [mine, theirs] = [loss.dataSync()[0], refLoss.dataSync()[0]];
    expect(Math.abs(mine - theirs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(theirs)));
    // torch.optim.SGD's first step from zero momentum: buf = g + wd * w; w -= lr * buf.
    for (const [, v] of model.namedParameters()) tf.tidy(() => v.assign(tf.sub(v, tf.mul(tf.add(grads[v.name], tf.mul(v, wd)), lr))));
    const after = (await loadSafetensors(path.join(FIX, `${name}.train.after.safetensors`))).tensors;
    const state = model.stateDict({ layout: 'torch' });
    expect([...state.keys()].sort()).toEqual([...after.keys()].sort());
    let worst = { key: '', maxAbs: 0 };
    for (const [key, ref] of after) {
      const d = maxAbsDiff(state.get(key)!, ref).maxAbs;
      if (d > worst.maxAbs) worst = { key, maxAbs: d };
    }
    console.log(
      `plug-in SGD step ${backend} ${name}: loss ${mine.toFixed(6)} (PyTorch ${theirs.toFixed(6)}); ` +
        `${after.size} weights and BN buffers, worst max abs diff ${worst.maxAbs.toExponential(2)} at ${worst.key}`,
    );
    expect(worst.maxAbs).toBeLessThanOrEqual(1e-4);
    tf.dispose([x, labels, refLoss, xs, loss, ...Object.values(grads), ...after.values(), ...state.values()]);
    model.dispose();
  });
});

describe('plain PyTorch state dicts (no resnet-ts metadata): the architecture is read from the names', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test.each([
    ['optiond-cifar', { shortcut: 'D' }],
    ['preact-cifar', { stemNorm: 'none', finalNorm: 'bn-relu', shortcut: 'B' }],
    ['preact-imagenet', { stem: 'imagenet', stemNorm: 'none', finalNorm: 'bn-relu' }],
  ])('%s: convention, inferred spec, PyTorch logits', async (name, expected) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-plugin-sd-'));
    try {
      // The tensors alone, as `torch.save(model.state_dict())` would hold them.
      const file = path.join(dir, 'plain.safetensors');
      const { tensors } = await loadSafetensors(path.join(FIX, `${name}.safetensors`));
      await saveSafetensors(file, tensors);
      tf.dispose([...tensors.values()]);
      const { convention, stateDict, hints } = adaptStateDict(readWeights(new Uint8Array(fs.readFileSync(file))));
      expect(convention).toBe('torchvision');
      const spec = inferSpec(stateDict, hints);
      expect(spec).toMatchObject(expected);
      expect(spec.stages.map((s) => s.block)).toEqual(specOf(name).stages.map((s) => s.block));
      const model = new ResNet(spec).eval();
      loadRawStateDict(model, stateDict);
      const x = loadNpy(path.join(FIX, `${name}.input.npy`));
      const ref = loadNpy(path.join(FIX, `${name}.logits.npy`));
      const y = tf.tidy(() => model.forward(tf.transpose(x, [0, 2, 3, 1])));
      expect(maxAbsDiff(y, ref).maxAbs).toBeLessThanOrEqual(1e-4 * maxAbsDiff(y, ref).scale);
      tf.dispose([x, ref, y]);
      model.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('zoo entries preact-resnet110 and preact-resnet18', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test('listed with their layout; parameters counted without building equal the built model', () => {
    const names = listModels().map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['preact-resnet110', 'preact-resnet18']));
    const r110 = createModel('preact-resnet110');
    expect(r110.blocks().length).toBe(54);
    expect(r110.blocks().every((b) => b.typeName === 'PreActBasicBlock')).toBe(true);
    expect(r110.stages.map((s) => (s.layers[0] as unknown as { outChannels: number }).outChannels)).toEqual([16, 32, 64]);
    expect(r110.numParameters()).toBe(countParameters(getModelSpec('preact-resnet110')));
    expect(r110.summary().outputShape).toEqual([10]);
    const keys = [...r110.stateDict().keys()];
    expect(keys).toEqual(expect.arrayContaining(['bn.weight', 'bn.running_var', 'layer2.0.downsample.0.weight', 'layer1.0.bn1.weight']));
    expect(keys).not.toContain('bn1.weight'); // the stem is the bare conv
    tf.dispose([...r110.stateDict().values()]);
    r110.dispose();
    const r18 = createModel('preact-resnet18');
    expect(r18.blocks().length).toBe(8);
    expect(r18.numParameters()).toBe(countParameters(getModelSpec('preact-resnet18')));
    expect(r18.summary([64, 64]).outputShape).toEqual([1000]);
    r18.dispose();
    for (const name of ['optiond-cifar', 'preact-imagenet']) {
      const model = new ResNet(specOf(name));
      expect(model.numParameters()).toBe(countParameters(specOf(name)));
      model.dispose();
    }
  });

  test("resnet({block: 'preact-basic'}) builds the pre-activation net (bare stem, final BN-ReLU) unless told otherwise", () => {
    const { stem, stages, shortcut, numClasses, stemNorm, finalNorm } = getModelSpec('preact-resnet110');
    expect(customSpec({ block: 'preact-basic', layers: [18, 18, 18], stem: 'cifar', shortcut: 'B' })).toMatchObject({
      stem,
      stages,
      shortcut,
      numClasses,
      stemNorm,
      finalNorm,
    });
    expect(customSpec({ block: 'preact-basic', layers: [1], finalNorm: 'none' }).finalNorm).toBe('none');
    expect(customSpec({ block: 'basic', layers: [1] }).finalNorm).toBeUndefined();
  });

  test('a saved preact checkpoint round-trips stemNorm and finalNorm and gives the same logits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-preact-'));
    try {
      const model = loadFixture('preact-cifar');
      const file = path.join(dir, 'p.safetensors');
      await saveCheckpoint(file, model);
      const { model: back, spec } = loadCheckpoint(file);
      expect(spec).toMatchObject({ stemNorm: 'none', finalNorm: 'bn-relu' });
      const x = tf.randomNormal([2, 12, 12, 3], 0, 1, 'float32', 3);
      const [a, b] = [model.forward(x, { training: false }), back.forward(x, { training: false })];
      expect(maxAbsDiff(a, b).maxAbs).toBe(0);
      tf.dispose([x, a, b]);
      model.dispose();
      back.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('wrong spec values are one-line errors', () => {
    const spec = getModelSpec('preact-resnet110');
    expect(() => new ResNet({ ...spec, finalNorm: 'bn' as never })).toThrow(SpecError);
    expect(() => new ResNet({ ...spec, finalNorm: 'bn' as never })).toThrow("spec.finalNorm must be 'bn-relu' or 'none'");
    expect(() => new ResNet({ ...spec, shortcut: 'D', shortcutParams: { padding: 'split' } })).toThrow(/option D takes no parameters/);
    // The same field read from a file's metadata: the file and field are named.
    const bad = { format: 'resnet-ts/1', spec: JSON.stringify({ ...spec, stemNorm: 'relu' }) };
    expect(() => parseCheckpointMetadata(bad, 'x.safetensors')).toThrow(FormatError);
    expect(() => parseCheckpointMetadata(bad, 'x.safetensors')).toThrow('x.safetensors: metadata "spec.stemNorm" must be "bn-relu" or "none"; got "relu".');
  });

  test('preact weights into a model without the final norm are refused, naming the keys', () => {
    const model = new ResNet({ ...specOf('preact-cifar'), finalNorm: 'none' });
    expect(() => loadWeightsInto(model, path.join(FIX, 'preact-cifar.safetensors'))).toThrow(/bn\.weight/);
    model.dispose();
  });
});
