/**
 * What a JavaScript caller gets wrong with a model, each answered in one typed line (audit 12): a
 * disposed model or input (a TypeError from deep inside tfjs), integer images, `{ training: 'false' }`
 * (ran in train mode and moved the running statistics), a misspelt state-dict layout (gave the tfjs
 * layout), impossible summary sizes (a table of 0 mult-adds) and malformed registry entries.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  RegistryError,
  ResNet,
  ShapeError,
  SpecError,
  getBlock,
  getShortcut,
  registerBlock,
  registerShortcut,
} from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

const spec = () => ({
  stem: 'cifar' as const,
  stemWidth: 4,
  stages: [{ block: 'basic', width: 4, depth: 1, stride: 1 }],
  shortcut: 'B',
  numClasses: 3,
  inChannels: 1,
});

test('a disposed model: forward, features and stateDict say so in one line', () => {
  const model = new ResNet(spec());
  model.dispose();
  const x = tf.zeros([1, 8, 8, 1]);
  expect(() => model.forward(x)).toThrow(
    new SpecError('forward() of a ResNet that was disposed: its weights are freed; build or load the model again.'),
  );
  expect(() => model.features(x)).toThrow(SpecError);
  expect(() => model.stateDict()).toThrow(/^stateDict\(\) of a ResNet that was disposed/);
  x.dispose();
});

test('a disposed input, integer images, and { training: "false" } are refused before anything runs', () => {
  const model = new ResNet(spec());
  const gone = tf.zeros([1, 8, 8, 1]);
  gone.dispose();
  expect(() => model.forward(gone)).toThrow(
    new ShapeError('ResNet was given a disposed tensor [1, 8, 8, 1]: it holds no values any more; pass one that is alive.'),
  );
  const ints = tf.zeros([1, 8, 8, 1], 'int32');
  expect(() => model.forward(ints)).toThrow(/^ResNet takes float32 images; got int32 \[1, 8, 8, 1\]\. Cast it with x\.toFloat\(\)/);
  const x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 1);
  const bn = model.namedModules().find(([, m]) => m instanceof BatchNorm2d)![1] as BatchNorm2d;
  const before = Array.from(bn.runningMean.dataSync());
  expect(() => model.forward(x, { training: 'false' } as never)).toThrow(/^forward's options must be \{ training: true \| false \}; got /);
  expect(Array.from(bn.runningMean.dataSync())).toEqual(before); // the statistics did not move
  // null and {} still mean what they did: the model's own mode (eval here), and eval mode.
  model.eval();
  tf.dispose([model.forward(x, null as never), model.forward(x, {} as never)]);
  expect(Array.from(bn.runningMean.dataSync())).toEqual(before);
  tf.dispose([ints, x]);
  model.dispose();
});

test("stateDict({ layout: 'pytorch' }) is refused (it gave the tfjs layout); summary sizes must be whole positive numbers", () => {
  const model = new ResNet(spec());
  expect(() => model.stateDict({ layout: 'pytorch' as never })).toThrow(new SpecError(`layout must be 'tfjs' or 'torch'; got "pytorch".`));
  for (const size of [
    [0, 0],
    [-3, 5],
    [2.5, 5],
  ])
    expect(() => model.summary(size as [number, number])).toThrow(
      /^summary's input size must be \[height, width\] of positive integers; got /,
    );
  expect(model.summary([8, 8]).outputShape).toEqual([3]);
  model.dispose();
});

test('registry entries without a create function or with expansion 0 are refused when registered, not at build', () => {
  expect(() => registerBlock('no-create-test', {} as never)).toThrow(RegistryError);
  expect(() => registerBlock('no-create-test', {} as never)).toThrow(
    /^registerBlock\('no-create-test'\): the factory must have a create\(options\) function/,
  );
  expect(() => registerBlock('zero-expansion-test', { description: 'x', expansion: 0, create: () => ({}) as never })).toThrow(
    /^registerBlock\('zero-expansion-test'\): expansion must be a whole number >= 1/,
  );
  expect(() => registerShortcut('', { create: () => ({}) as never } as never)).toThrow(
    /^registerShortcut: the name must be a non-empty string/,
  );
});

test("a registered name is not replaced by accident: 'basic' or 'B' from a plug-in is refused unless { replace: true }", () => {
  const basic = getBlock('basic');
  const mine = { description: 'my block', expansion: 1, create: basic.create };
  expect(() => registerBlock('basic', mine)).toThrow(
    new RegistryError(
      `registerBlock('basic'): 'basic' is already registered (${basic.description}); register under another name, or pass { replace: true } to replace it.`,
    ),
  );
  expect(getBlock('basic')).toBe(basic);
  expect(() => registerShortcut('B', { description: 'mine', create: () => null })).toThrow(
    /^registerShortcut\('B'\): 'B' is already registered/,
  );
  // The same factory again (a module imported twice) is a no-op; { replace: true } replaces, and can put the original back.
  registerBlock('basic', basic);
  registerBlock('basic', mine, { replace: true });
  expect(getBlock('basic')).toBe(mine);
  registerBlock('basic', basic, { replace: true });
  expect(getBlock('basic')).toBe(basic);
  const b = getShortcut('B');
  registerShortcut('B', b);
  expect(getShortcut('B')).toBe(b);
});
