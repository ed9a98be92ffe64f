import * as tf from '@tensorflow/tfjs-core';
import { ResNet, StateDictError, getBlock, ensureGradientsRegistered, RegistryError, fromTorchLayout, toTorchLayout } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

test('tf.grad and chained tensor methods work for every user of core (ENVIRONMENT.md pitfall)', () => {
  ensureGradientsRegistered();
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.div(tf.square(x), tf.scalar(2))));
  expect(Array.from(g(tf.tensor1d([1, 2, 3])).dataSync())).toEqual([1, 2, 3]);
  const t = tf.tensor1d([2]) as tf.Tensor & { square(): tf.Tensor };
  expect(t.square().dataSync()[0]).toBe(4);
});

test('state dict keys use torchvision names', () => {
  const m = createModel('resnet18');
  const keys = [...m.stateDict().keys()];
  for (const k of [
    'conv1.weight',
    'bn1.weight',
    'bn1.running_mean',
    'bn1.running_var',
    'bn1.num_batches_tracked',
    'layer1.0.conv1.weight',
    'layer1.0.bn2.bias',
    'layer2.0.downsample.0.weight',
    'layer2.0.downsample.1.running_var',
    'layer4.1.conv2.weight',
    'fc.weight',
    'fc.bias',
  ]) {
    expect(keys).toContain(k);
  }
  expect(keys).not.toContain('layer1.0.downsample.0.weight'); // option B: identity where shape is kept
  // torchvision's resnet18 state dict has 122 entries (102 without num_batches_tracked).
  expect(keys.length).toBe(122);
  m.dispose();
});

test('torch layout transposes convs to OIHW and linear to [out, in], and loads back', () => {
  const a = createModel('resnet20', { seed: 1 });
  const torch = a.stateDict({ layout: 'torch' });
  expect(torch.get('conv1.weight')!.shape).toEqual([16, 3, 3, 3]);
  expect(torch.get('fc.weight')!.shape).toEqual([10, 64]);
  expect(torch.get('layer2.0.conv1.weight')!.shape).toEqual([32, 16, 3, 3]);
  const b = createModel('resnet20', { seed: 2 });
  const report = b.loadStateDict(torch, { layout: 'torch' });
  expect(report.missing).toEqual([]);
  const x = tf.randomNormal([2, 32, 32, 3]);
  a.eval();
  b.eval();
  const diff = tf.max(tf.abs(tf.sub(a.forward(x), b.forward(x)))).dataSync()[0];
  expect(diff).toBe(0);
  tf.dispose([...torch.values()]);
  a.dispose();
  b.dispose();
});

test('initialize: false builds the same network with zero weights, which strict loading then replaces entirely', () => {
  const spec = createModel('resnet20', { seed: 3 }).spec;
  const seeded = new ResNet(spec);
  const blank = new ResNet(spec, { initialize: false });
  // Same tensors, same shapes; no draws: every parameter is zero (BN keeps its 1/0 defaults).
  const a = seeded.stateDict();
  const b = blank.stateDict();
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, t] of b) expect(t.shape).toEqual(a.get(k)!.shape);
  expect(tf.max(tf.abs(b.get('layer2.0.conv1.weight')!)).dataSync()[0]).toBe(0);
  expect(tf.max(tf.abs(b.get('fc.weight')!)).dataSync()[0]).toBe(0);
  expect(tf.max(tf.abs(a.get('layer2.0.conv1.weight')!)).dataSync()[0]).toBeGreaterThan(0);
  // After a strict load the blank model computes exactly what the seeded one does.
  blank.loadStateDict(a, { strict: true });
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7);
  seeded.eval();
  blank.eval();
  expect(tf.max(tf.abs(tf.sub(seeded.forward(x), blank.forward(x)))).dataSync()[0]).toBe(0);
  // The default is still the seeded initialisation.
  const again = new ResNet(spec);
  expect(Array.from(again.stateDict().get('conv1.weight')!.dataSync())).toEqual(Array.from(a.get('conv1.weight')!.dataSync()));
  tf.dispose(x);
  for (const m of [seeded, blank, again]) m.dispose();
});

test('loading a mismatched state dict lists missing, unexpected and mis-shaped keys and changes nothing', () => {
  const m = createModel('resnet20', { seed: 3 });
  const before = m.namedParameters()[0][1].dataSync().slice();
  const dict = m.stateDict();
  dict.delete('fc.bias');
  dict.set('fc.extra', tf.zeros([1]));
  dict.set('conv1.weight', tf.zeros([3, 3, 3, 8]));
  let err: StateDictError | undefined;
  try {
    m.loadStateDict(dict);
  } catch (e) {
    err = e as StateDictError;
  }
  expect(err).toBeInstanceOf(StateDictError);
  expect(err!.missing).toEqual(['fc.bias']);
  expect(err!.unexpected).toEqual(['fc.extra']);
  expect(err!.mismatched).toEqual([{ key: 'conv1.weight', expected: [3, 3, 3, 16], found: [3, 3, 3, 8] }]);
  expect(err!.message).toMatch(/missing keys: fc.bias; unexpected keys: fc.extra; mis-shaped keys: conv1.weight \(expected \[3, 3, 3, 16\], found \[3, 3, 3, 8\]\)/);
  expect(Array.from(m.namedParameters()[0][1].dataSync())).toEqual(Array.from(before));
  // Non-strict loads what matches and reports the rest.
  const report = m.loadStateDict(dict, { strict: false });
  expect(report.missing).toEqual(['fc.bias']);
  expect(report.loaded).not.toContain('conv1.weight');
  m.dispose();
});

test('num_batches_tracked may be absent (older PyTorch files)', () => {
  const m = createModel('resnet20');
  const dict = m.stateDict({ includeNumBatchesTracked: false });
  expect([...dict.keys()].some((k) => k.endsWith('num_batches_tracked'))).toBe(false);
  expect(m.loadStateDict(dict).missing).toEqual([]);
  m.dispose();
});

test('unknown block or shortcut names say what is registered and what to import', () => {
  expect(() => getBlock('wide')).toThrow(RegistryError);
  expect(() => getBlock('wide')).toThrow(/Registered blocks: basic, bottleneck/);
  expect(
    () => new ResNet({ stem: 'cifar', stages: [{ block: 'basic', width: 16, depth: 1, stride: 1 }], shortcut: 'Z', numClasses: 10 }),
  ).toThrow(/Unknown shortcut option 'Z'.*A, B, C, D/);
  expect(() => new ResNet({ stem: 'vgg' as 'cifar', stages: [], shortcut: 'A', numClasses: 10 })).toThrow(/spec.stem must be/);
});

test('ResNet input checks name the expected shape', () => {
  const m = createModel('resnet20');
  expect(() => m.forward(tf.zeros([2, 32, 32, 1]))).toThrow(/expects 3 input channels.*got \[2, 32, 32, 1\]/);
  m.dispose();
});

test('train() and eval() set the mode of the whole tree', () => {
  const m = createModel('resnet20');
  expect(m.namedModules().every(([, x]) => x.training)).toBe(true);
  m.eval();
  expect(m.namedModules().every(([, x]) => !x.training)).toBe(true);
  m.dispose();
});

test('layout conversion (a plain loop on host-memory backends) equals tf.transpose, keeps NaN/Inf and round-trips', () => {
  tf.tidy(() => {
    const oihw = tf.randomNormal([5, 3, 2, 7]);
    const hwio = fromTorchLayout(oihw, 'conv2d');
    const expected = tf.transpose(oihw, [2, 3, 1, 0]);
    expect(hwio.shape).toEqual(expected.shape);
    expect(Array.from(hwio.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(Array.from(toTorchLayout(hwio, 'conv2d').dataSync())).toEqual(Array.from(oihw.dataSync()));
    const linear = tf.randomNormal([4, 9]);
    expect(Array.from(fromTorchLayout(linear, 'linear').dataSync())).toEqual(Array.from(tf.transpose(linear).dataSync()));
    const special = tf.tensor([NaN, Infinity, 1, -Infinity], [2, 2]);
    expect(Array.from(toTorchLayout(special, 'linear').dataSync())).toEqual([NaN, 1, Infinity, -Infinity]);
  });
});

test("state dict layouts: 'tfjs' is the default (HWIO convs), and the old name 'native' still reads as 'tfjs'", () => {
  const m = createModel('resnet20', { seed: 2 });
  const byDefault = m.stateDict();
  const tfjs = m.stateDict({ layout: 'tfjs' });
  const legacy = m.stateDict({ layout: 'native' as never });
  const torch = m.stateDict({ layout: 'torch' });
  expect(tfjs.get('conv1.weight')!.shape).toEqual([3, 3, 3, 16]);
  expect(torch.get('conv1.weight')!.shape).toEqual([16, 3, 3, 3]);
  for (const [k, t] of byDefault) {
    expect(tfjs.get(k)!.shape).toEqual(t.shape);
    expect(Array.from(legacy.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
  }
  const b = createModel('resnet20', { seed: 3 });
  expect(b.loadStateDict(legacy, { layout: 'native' as never }).loaded.length).toBe(legacy.size);
  expect(Array.from(b.stateDict().get('fc.weight')!.dataSync())).toEqual(Array.from(byDefault.get('fc.weight')!.dataSync()));
  for (const d of [byDefault, tfjs, legacy, torch]) tf.dispose([...d.values()]);
  m.dispose();
  b.dispose();
});
