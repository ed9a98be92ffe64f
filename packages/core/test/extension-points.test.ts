// The plug-in points a new block or network variant uses: a block's own residual combine (and the
// hooks that follow it), the optional stem and final norms of the spec, and the graph-export
// registry that refuses a module type nobody registered.
import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  BlockOptions,
  Conv2d,
  ForwardContext,
  GraphExportError,
  Module,
  ResNet,
  ResidualBlock,
  Rng,
  Shape,
  SpecError,
  Tracer,
  getShortcut,
  graphExporterFor,
  registerBlock,
  registerGraphExporter,
} from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

/** One 3x3 conv; the sum of branch and shortcut is left unactivated (its own combine). */
class LinearSumBlock extends ResidualBlock {
  readonly conv: Conv2d;
  constructor(o: BlockOptions) {
    super(o.inChannels, o.width, o.stride, o.residual);
    this.conv = this.registerModule('conv1', new Conv2d(o.inChannels, o.width, 3, { stride: o.stride, padding: 1, rng: o.rng }));
    if (o.residual) this.setShortcut(getShortcut(o.shortcut).create({ ...o, params: {}, outChannels: o.width }));
  }
  branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.conv.forward(x, ctx);
  }
  override combine(f: tf.Tensor | null, s: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => (f && s ? tf.add(f, s) : tf.clone((f ?? s)!)));
  }
  describeBranch(input: Shape, tracer: Tracer): Shape {
    return this.conv.describe(input, tracer.scope('conv1'));
  }
}
registerBlock('linear-sum-test', { description: 'test block', expansion: 1, create: (o) => new LinearSumBlock(o) });

const spec = (extra: object = {}) => ({
  stem: 'cifar' as const,
  stemWidth: 4,
  stages: [
    { block: 'linear-sum-test', width: 4, depth: 1, stride: 1 },
    { block: 'linear-sum-test', width: 8, depth: 1, stride: 2 },
  ],
  shortcut: 'B',
  numClasses: 3,
  ...extra,
});

/** A plug-in whose branch ends with 1 channel instead of its width: tf.add broadcast it over the shortcut's channels. */
class OneChannelBlock extends LinearSumBlock {
  readonly narrow: Conv2d;
  constructor(o: BlockOptions) {
    super(o);
    this.narrow = this.registerModule('conv2', new Conv2d(o.width, 1, 1, { rng: o.rng }));
  }
  override branch(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.narrow.forward(super.branch(x, ctx), ctx);
  }
  override describeBranch(input: Shape, tracer: Tracer): Shape {
    return this.narrow.describe(super.describeBranch(input, tracer), tracer.scope('conv2'));
  }
}
registerBlock('one-channel-test', { description: 'a broken test block', expansion: 1, create: (o) => new OneChannelBlock(o) });

test('a plug-in block whose branch and shortcut differ in shape is a ShapeError in forward and in summary, not a broadcast sum', () => {
  const model = new ResNet(spec({ stages: [{ block: 'one-channel-test', width: 4, depth: 1, stride: 1 }] }));
  const x = tf.zeros([2, 6, 6, 3]);
  const message = /^OneChannelBlock\(4->4, stride 1\): its branch gives \[2, 6, 6, 1\] but its shortcut \[2, 6, 6, 4\]; they are added, so they must have one shape/;
  expect(() => model.forward(x, { training: false })).toThrow(message);
  expect(() => model.summary()).toThrow(/^OneChannelBlock\(4->4, stride 1\): its branch gives \[32, 32, 1\] but its shortcut \[32, 32, 4\]/);
  tf.dispose(x);
  model.dispose();
});

test("a block's own combine is used by forward, the lesion hook and the branch scale", () => {
  const model = new ResNet(spec());
  const [block] = model.blocks() as LinearSumBlock[];
  const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 1);
  const ctx = { training: false };
  const check = (expected: tf.Tensor) => {
    const y = block.forward(x, ctx);
    expect(tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.min(y).dataSync()[0]).toBeLessThan(0); // unactivated: negative values survive
    tf.dispose([y, expected]);
  };
  check(tf.add(block.branch(x, ctx), x));
  block.branchScale = 0.5;
  check(tf.add(tf.mul(block.branch(x, ctx), 0.5), x));
  block.branchEnabled = false;
  check(tf.clone(x));
  tf.dispose(x);
  model.dispose();
});

test('stemNorm and finalNorm: layers, state-dict names, what they compute; defaults unchanged', () => {
  const plain = new ResNet(spec());
  expect(plain.head).toEqual([]);
  expect([...plain.stateDict().keys()].filter((k) => !k.startsWith('layer'))).toEqual(expect.arrayContaining(['bn1.weight']));
  const pre = new ResNet(spec({ stemNorm: 'none', finalNorm: 'bn-relu' }));
  const keys = [...pre.stateDict().keys()].filter((k) => !k.startsWith('layer'));
  expect(keys).toEqual(['conv1.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'fc.weight', 'fc.bias']);
  expect(pre.summary([8, 8]).rows.map((r) => r.name)).toEqual(expect.arrayContaining(['bn', 'relu_final']));
  // features = mean over space of relu(bn(stages(conv1(x)))).
  const bn = pre.head[0] as BatchNorm2d;
  tf.tidy(() => bn.runningMean.assign(tf.fill([8], 0.3)));
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2);
  const ctx = { training: false };
  const got = pre.features(x, ctx);
  const want = tf.tidy(() => {
    let y = pre.stem[0].forward(x, ctx);
    for (const s of pre.stages) y = s.forward(y, ctx);
    return tf.mean(tf.relu(bn.forward(y, ctx)), [1, 2]);
  });
  expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-6);
  expect(() => new ResNet(spec({ stemNorm: 'bn' }))).toThrow(SpecError);
  tf.dispose([x, got, want]);
  plain.dispose();
  pre.dispose();
});

test('graph exporters are looked up by exact class; a missing one is a one-line error naming type and path', () => {
  const model = new ResNet(spec());
  const [block] = model.blocks();
  expect(() => graphExporterFor(block, 'layer1.0')).toThrow(GraphExportError);
  expect(() => graphExporterFor(block, 'layer1.0')).toThrow(
    "Cannot export 'layer1.0' (LinearSumBlock): no graph exporter is registered for LinearSumBlock.",
  );
  class Sub extends LinearSumBlock {}
  const exporter = (_g: unknown, _m: Module, _p: string, x: string) => x;
  registerGraphExporter(LinearSumBlock, exporter);
  expect(graphExporterFor(block, 'layer1.0')).toBe(exporter);
  // A subclass may compute something else: it needs its own registration.
  const sub = new Sub({ inChannels: 4, width: 4, stride: 1, residual: false, shortcut: 'B', strideMode: 'v1.5', batchNorm: true, zeroInitResidual: false, rng: new Rng(0) });
  expect(() => graphExporterFor(sub, 'x')).toThrow(/\(Sub\)/);
  sub.dispose();
  model.dispose();
});
