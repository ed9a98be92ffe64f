import * as tf from '@tensorflow/tfjs-core';
import { Batcher, Dataset, Preprocessing, channelStats } from '@resnet-ts/train';
import type { TestTensors } from './lesion.js';

/**
 * The first `limit` images of a data set as one prepared tensor (normalised and padded exactly as
 * the trainer and `evaluate` prepare them) plus their labels. The caller disposes `inputs`.
 */
export function prepareTestTensors(data: Dataset, preprocessing?: Preprocessing, limit?: number): TestTensors {
  const prep = preprocessing ?? channelStats(data);
  const N = Math.min(data.labels.length, limit ?? Infinity);
  const batcher = new Batcher(data, Math.max(1, N), prep);
  const idx = Int32Array.from({ length: N }, (_, i) => i);
  const { x, labels } = batcher.fill(idx);
  return {
    inputs: tf.tensor4d(Float32Array.from(x.subarray(0, N * batcher.outH * batcher.outW * batcher.channels)), [
      N,
      batcher.outH,
      batcher.outW,
      batcher.channels,
    ]),
    labels: Int32Array.from(labels.subarray(0, N)),
  };
}
