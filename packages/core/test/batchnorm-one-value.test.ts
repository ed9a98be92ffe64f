// Train-mode batch norm with one value per channel (N * H * W = 1: one image whose maps are 1x1) has
// a batch variance of 0 whatever the input: every image gives the same output, no gradient flows
// and the running variance is pulled toward 0. It is refused (as PyTorch does) on every engine,
// before any running statistic changes; smallestBatchNormInput tells a trainer up front.
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, ShapeError, SpecError, listBackends, probeBackends, smallestBatchNormInput, useBackend } from '@resnet-ts/core';
import { createModel, resnet } from '@resnet-ts/zoo';
import './setup';

/** Every buffer (running statistics, batch counters) of `model`, by name. */
function buffers(model: { namedBuffers(): [string, tf.Variable][] }): Record<string, number[]> {
  return Object.fromEntries(model.namedBuffers().map(([name, v]) => [name, Array.from(v.dataSync())]));
}

async function available(name: string): Promise<boolean> {
  if (name === 'cpu') return true;
  if (!listBackends().some((p) => p.name === name)) return false;
  return (await probeBackends()).find((p) => p.plugin.name === name)?.availability.available === true;
}

/** resnet18's layout, narrow: an ImageNet stem and four stages, so 32x32 images leave layer4 with 1x1 maps. */
const tiny = () => resnet({ block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemWidth: 4, numClasses: 3, seed: 1 });

afterAll(async () => {
  await useBackend('cpu');
});

describe.each(['cpu', 'wasm', 'native'])('train-mode batch norm with one value per channel on %s', (engine) => {
  let skip = false;
  beforeAll(async () => {
    skip = !(await available(engine));
    if (skip) console.log(`SKIP one-value batch norm on ${engine}: not available here`);
    else await useBackend(engine);
  });

  test('a lone BatchNorm2d refuses [1, 1, 1, C] in training and leaves its running statistics as they were', () => {
    if (skip) return;
    const bn = new BatchNorm2d(4);
    const before = buffers(bn);
    const x = tf.tensor4d([1, 2, 3, 4], [1, 1, 1, 4]);
    expect(() => bn.forward(x, { training: true })).toThrow(ShapeError);
    expect(() => bn.forward(x, { training: true })).toThrow(
      'Batch norm in training got input [1, 1, 1, 4] (NHWC), one value per channel, and needs more than one to compute a batch variance; ' +
        'train with a batch of at least 2 images, or with larger images (eval mode takes this input).',
    );
    expect(buffers(bn)).toEqual(before);
    // The residual + ReLU epilogue (one fused kernel on native) is refused the same way.
    expect(() => bn.forward(x, { training: true }, { residual: x, relu: true })).toThrow(ShapeError);
    expect(buffers(bn)).toEqual(before);
    // Two values per channel, from two images or from a 2x1 map, train; eval mode and frozen statistics take one.
    for (const shape of [
      [2, 1, 1, 4],
      [1, 2, 1, 4],
    ] as [number, number, number, number][]) {
      tf.dispose(bn.forward(tf.ones(shape), { training: true }));
    }
    tf.dispose(bn.forward(x, { training: false }));
    bn.frozenStatistics = true;
    tf.dispose(bn.forward(x, { training: true }));
    x.dispose();
    bn.dispose();
  });

  test('a ResNet refuses one 32x32 image in training, naming the layer, before any batch norm updates its statistics', () => {
    if (skip) return;
    const model = tiny();
    const before = buffers(model);
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 3);
    expect(() => model.forward(x, { training: true })).toThrow(ShapeError);
    expect(() => model.forward(x, { training: true })).toThrow(
      'ResNet in training got input [1, 32, 32, 3], one image, and its batch norm layer4.0.bn1 would get [1, 1, 1, 8], one value per channel',
    );
    expect(buffers(model)).toEqual(before);
    // Eval mode takes it; two images train.
    tf.dispose(model.forward(x, { training: false }));
    tf.dispose(model.forward(tf.concat([x, x]), { training: true }));
    x.dispose();
    model.dispose();
  });
});

describe('smallestBatchNormInput: the smallest input any batch norm layer sees, from the shape description', () => {
  test('resnet18 on 32x32 images: layer4 sees 1x1 maps, so a batch must hold at least 2 images', () => {
    const model = createModel('resnet18', { numClasses: 10 });
    const before = buffers(model);
    expect(smallestBatchNormInput(model, [32, 32, 3])).toEqual({
      layer: 'layer4.0.bn1',
      shape: [1, 1, 512],
      spatialSize: 1,
      minBatchSize: 2,
    });
    // [h, w] takes the spec's channels; nothing takes the spec's inputSize (224: layer4 sees 7x7).
    expect(smallestBatchNormInput(model, [32, 32])).toEqual(smallestBatchNormInput(model, [32, 32, 3]));
    expect(smallestBatchNormInput(model)).toEqual({ layer: 'layer4.0.bn1', shape: [7, 7, 512], spatialSize: 49, minBatchSize: 1 });
    expect(smallestBatchNormInput(model, [64, 64, 3])).toMatchObject({ spatialSize: 4, minBatchSize: 1 });
    expect(buffers(model)).toEqual(before);
    model.dispose();
  });

  test('frozen layers and nets without batch norm: none computes batch statistics', () => {
    const model = tiny();
    for (const [, m] of model.namedModules()) if (m instanceof BatchNorm2d) m.frozenStatistics = true;
    expect(smallestBatchNormInput(model, [32, 32, 3])).toBeNull();
    // With the frozen layers, one image trains (they normalise with their running statistics).
    tf.dispose(model.forward(tf.ones([1, 32, 32, 3]), { training: true }));
    model.dispose();
    const plain = resnet({ block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemWidth: 4, numClasses: 3, batchNorm: false });
    expect(smallestBatchNormInput(plain, [32, 32, 3])).toBeNull();
    plain.dispose();
  });

  test('an input shape that is not [h, w, c] of positive integers is refused', () => {
    const model = tiny();
    expect(() => smallestBatchNormInput(model, [32, 0, 3])).toThrow(SpecError);
    expect(() => smallestBatchNormInput(model, [32, 32, 3, 1])).toThrow(SpecError);
    const bn = new BatchNorm2d(4);
    expect(() => smallestBatchNormInput(bn)).toThrow(
      'smallestBatchNormInput: the input shape must be [height, width, channels] of positive integers; got undefined.',
    );
    expect(smallestBatchNormInput(bn, [1, 1, 4])).toEqual({ layer: '', shape: [1, 1, 4], spatialSize: 1, minBatchSize: 2 });
    bn.dispose();
    model.dispose();
  });
});
