/**
 * What an export says about feeding it: a classifier's preprocessing and class names stored in the
 * file's metadata are enough for onnxruntime, given an image and nothing else of resnet-ts, to give
 * the classifier's answer; a bare model states none; what would misdescribe the graph is refused.
 */
import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { fromPretrained, sampleImages } from '@resnet-ts/zoo/node';
import { ONNX_METADATA_KEYS, OnnxMetadataError, OnnxPreprocessing, exportOnnx, readOnnxMetadata } from '@resnet-ts/onnx';
import { cleanOrtWork, runOrt } from './ort';

beforeAll(() => useBackend('cpu'));
afterAll(() => cleanOrtWork());

/**
 * The NCHW input for a grayscale image of exactly `preprocessing.resize` pixels, prepared from the
 * metadata alone: centre padding (offset floor((P - H) / 2)), pixel / 255, (x - mean) / std.
 */
async function inputFromMetadata(file: string, p: OnnxPreprocessing): Promise<tf.Tensor> {
  const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
  expect([info.height, info.width]).toEqual(p.resize); // the sample needs no resampling
  const [ph, pw] = p.padTo ?? [info.height, info.width];
  const [top, left] = [Math.floor((ph - info.height) / 2), Math.floor((pw - info.width) / 2)];
  const x = new Float32Array(ph * pw).fill((0 - p.mean[0]) / p.std[0]);
  for (let y = 0; y < info.height; y++)
    for (let c = 0; c < info.width; c++) x[(y + top) * pw + c + left] = (data[y * info.width + c] / 255 - p.mean[0]) / p.std[0];
  return tf.tensor(x, [1, 1, ph, pw]);
}

test('a classifier exports its preprocessing and labels; onnxruntime fed by them alone gives its answer', async () => {
  const clf = await fromPretrained('resnet20-fashion-mnist');
  try {
    const meta = readOnnxMetadata(exportOnnx(clf));
    expect(meta.preprocessing).toEqual(clf.preprocessing);
    expect(meta.labels).toEqual(clf.labels);
    expect(meta.spec).toEqual(clf.model.spec);
    expect(meta.layout).toBe('nchw');
    expect(meta.props[ONNX_METADATA_KEYS.input]).toMatch(
      /^float32 \[batch, 1, height, width\]: a grayscale image .*pad.*minus mean \[0\.28/,
    );

    const sample = sampleImages('resnet20-fashion-mnist').find((s) => s.label === 'Sneaker')!;
    const x = await inputFromMetadata(sample.file, meta.preprocessing!);
    const logits = await runOrt(exportOnnx(clf), x);
    const [top] = await clf.classify(sample.file, { topk: 1 });
    expect(meta.labels![tf.argMax(logits, 1).dataSync()[0]]).toBe(top.label);
    expect(top.label).toBe('Sneaker');
    const ref = clf.model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false });
    expect(tf.max(tf.abs(tf.sub(logits, ref))).dataSync()[0]).toBeLessThan(1e-4 * Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]));
    tf.dispose([x, logits, ref]);
  } finally {
    clf.dispose();
  }
});

test('a bare model states no preprocessing nor labels; options store them, checked against the network', () => {
  const model = createModel('resnet20');
  try {
    const bare = readOnnxMetadata(exportOnnx(model));
    expect(bare.preprocessing).toBeUndefined();
    expect(bare.labels).toBeUndefined();
    expect(bare.props[ONNX_METADATA_KEYS.input]).toBe(
      'float32 [batch, 3, height, width]; how images were normalised for this network was not stored.',
    );

    const p: OnnxPreprocessing = { resize: 32, crop: [32, 32], mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26], channels: 3 };
    const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
    const given = readOnnxMetadata(exportOnnx(model, { preprocessing: p, labels, layout: 'nhwc', metadata: { trained_by: 'me' } }));
    expect(given).toMatchObject({ preprocessing: p, labels, layout: 'nhwc' });
    expect(given.props.trained_by).toBe('me');
    expect(given.props[ONNX_METADATA_KEYS.input]).toMatch(
      /^float32 \[batch, height, width, 3\]: an RGB image, turned upright by its EXIF orientation, resized to short side 32/,
    );

    const refusals: [object, RegExp][] = [
      [{ labels: labels.slice(1) }, /^labels must list 10 names, one per output of the network; got 9\.$/],
      [
        { preprocessing: { ...p, channels: 1, mean: [0.5], std: [0.5] } },
        /prepares 1-channel images, but the network takes 3 input channels/,
      ],
      [{ preprocessing: { ...p, std: [0.2, 0, 0.2] } }, /std must list 3 finite numbers > 0/],
      [{ preprocessing: { ...p, crop: 32 } }, /crop must be \[height, width\]/],
      [{ metadata: { 'resnet-ts.spec': '{}' } }, /'resnet-ts\.' are the exporter's own \(resnet-ts\.spec\)/],
      [{ metadata: { 'Resnet-TS.labels': '[]' } }, /'resnet-ts\.' are the exporter's own \(Resnet-TS\.labels\)/],
    ];
    for (const [options, message] of refusals) {
      expect(() => exportOnnx(model, options)).toThrow(OnnxMetadataError);
      expect(() => exportOnnx(model, options)).toThrow(message);
    }
  } finally {
    model.dispose();
  }
});

test('labels nobody named are not stored as class names; bytes that are no ONNX model are refused', () => {
  const model = createModel('resnet20');
  try {
    const clf = {
      model,
      preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], channels: 3 as const },
      labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    };
    expect(readOnnxMetadata(exportOnnx({ ...clf, origin: { labels: 'numbers' } })).labels).toBeUndefined();
    expect(readOnnxMetadata(exportOnnx({ ...clf, origin: { labels: 'named' } })).labels).toEqual(clf.labels);
    // A normalisation the classifier only assumed (weights that do not store it) is not stored as known;
    // given as an option, it is.
    const assumed = { ...clf, origin: { normalisation: 'assumed' as const } };
    expect(readOnnxMetadata(exportOnnx(assumed)).preprocessing).toBeUndefined();
    expect(readOnnxMetadata(exportOnnx(assumed, { preprocessing: clf.preprocessing })).preprocessing).toEqual(clf.preprocessing);
    expect(readOnnxMetadata(exportOnnx({ ...clf, origin: { normalisation: 'known' as const } })).preprocessing).toEqual(clf.preprocessing);
  } finally {
    model.dispose();
  }
  expect(() => readOnnxMetadata(new TextEncoder().encode('{"not": "onnx"}'))).toThrow(OnnxMetadataError);
  expect(() => readOnnxMetadata(new Uint8Array(0))).toThrow(/^not an ONNX model/);
});
