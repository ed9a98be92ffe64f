import fs from 'node:fs';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { parseCheckpointMetadata, useBackend } from '@resnet-ts/core';
import { decodeSafetensors, encodeSafetensors } from '@resnet-ts/core';
import * as tf from '@tensorflow/tfjs-core';
import { writeBytesAtomic } from '@resnet-ts/core/node';
import { coreSafetensorsIO, TensorRecord } from '../src/index.js';
import { tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const tensors = new Map<string, TensorRecord>([
  ['conv1.weight', { dtype: 'float32', shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7) }],
  ['bn1.num_batches_tracked', { dtype: 'int32', shape: [], data: Int32Array.of(42) }],
  ['optimizer.momentum.conv1.weight', { dtype: 'float32', shape: [2, 1, 3, 3], data: new Float32Array(18).fill(-0.5) }],
]);
const metadata = { format: 'resnet-ts/1', training: JSON.stringify({ step: 3 }), extra_prefixes: '["optimizer"]', classes: '["a","b"]' };

test('checkpoint round trip through core\'s codec: atomic write, same tensors and metadata back', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ck.safetensors');
  await coreSafetensorsIO.save(file, tensors, metadata);
  expect(fs.readdirSync(dir)).toEqual(['ck.safetensors']); // no temp file left behind
  const back = coreSafetensorsIO.load(file);
  expect(back.metadata).toEqual(metadata);
  for (const [k, r] of tensors) {
    expect(back.tensors.get(k)!.shape).toEqual(r.shape);
    expect([...back.tensors.get(k)!.data]).toEqual([...r.data]);
  }
  expect(parseCheckpointMetadata(metadata).extraPrefixes).toEqual(['optimizer']);
});

test('corrupt or missing checkpoints are clear errors', async () => {
  const named = new Map([...tensors].map(([k, r]) => [k, tf.tensor(r.data, r.shape, r.dtype)]));
  const bytes = await encodeSafetensors(named, metadata);
  tf.dispose([...named.values()]);
  expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 10), 'x.safetensors')).toThrow(/x\.safetensors/);
  const dir = tmpDir();
  await writeBytesAtomic(path.join(dir, 't.safetensors'), bytes.subarray(0, 20));
  expect(() => coreSafetensorsIO.load(path.join(dir, 't.safetensors'))).toThrow(/t\.safetensors/);
  expect(() => coreSafetensorsIO.load(path.join(dir, 'none.safetensors'))).toThrow(
    /Cannot read checkpoint .*none\.safetensors: no such file/,
  );
});
