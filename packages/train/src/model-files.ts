/**
 * The weight files a training run writes (model.safetensors, best.safetensors, checkpoint.safetensors):
 * torchvision names and layouts, with core's `resnet-ts/1` metadata (spec, class names,
 * preprocessing), written atomically through the checkpoint codec.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module, ResNet, ResNetSpec } from '@resnet-ts/core';
import { loadWeightsInto, openSafetensors, parseCheckpointMetadata } from '@resnet-ts/core/node';
import type { Preprocessing } from './batches.js';
import { checkpointIO, TensorRecord } from './checkpoint.js';
import type { Dataset } from './data/dataset.js';

function toRecord(t: tf.Tensor): TensorRecord {
  const data = t.dataSync();
  return t.dtype === 'int32'
    ? { dtype: 'int32', shape: t.shape, data: Int32Array.from(data) }
    : { dtype: 'float32', shape: t.shape, data: Float32Array.from(data) };
}

/**
 * Metadata common to checkpoints and weight files (core's `resnet-ts/1` keys): the model's spec, the
 * class names and the preprocessing: normalisation, padding, the image size trained on and, for
 * decoded images, how they were decoded (`resize` the short side + centre `crop`) and their channels,
 * so that eval, predict and the browser prepare images exactly as training did.
 */
export function weightsMetadata(
  model: Module,
  classes: string[],
  prep: Preprocessing,
  imageSize: [number, number],
  decoding: Dataset['decoding'] = undefined,
  channels?: number,
): Record<string, string> {
  const spec = (model as unknown as Partial<ResNet>).spec;
  const inputSize = prep.padTo ?? imageSize;
  return {
    format: 'resnet-ts/1',
    ...(spec ? { spec: JSON.stringify(spec) } : {}),
    classes: JSON.stringify(classes),
    preprocessing: JSON.stringify({ mean: prep.mean, std: prep.std, inputSize, imageSize, padTo: prep.padTo, ...decoding, ...(channels ? { channels } : {}) }),
  };
}

/** Writes the model's weights (torchvision names and layouts) with metadata, atomically. */
export async function saveWeights(file: string, model: Module, metadata: Record<string, string>, extra?: Map<string, tf.Tensor>): Promise<void> {
  const tensors = new Map<string, TensorRecord>();
  const sd = model.stateDict({ layout: 'torch' });
  for (const [k, t] of sd) tensors.set(k, toRecord(t));
  tf.dispose([...sd.values()]);
  if (extra) for (const [k, t] of extra) tensors.set(k, toRecord(t));
  await checkpointIO.save(file, tensors, metadata);
}

/**
 * Loads weights (torch layout; keys under the file's `extra_prefixes`, such as optimizer.*, ignored)
 * into `model` strictly, through core's one loader; returns the metadata.
 */
export function loadWeights(file: string, model: Module): { metadata: Record<string, string> } {
  return { metadata: loadWeightsInto(model as ResNet, file, { strict: true }).info.metadata };
}

/** What a weight or checkpoint file says about its model (absent fields are undefined). */
export interface WeightsInfo {
  spec?: ResNetSpec;
  classes?: string[];
  preprocessing?: Preprocessing & { inputSize?: [number, number]; imageSize?: [number, number]; resize?: number | [number, number]; crop?: [number, number]; channels?: number };
  training?: unknown;
  metadata: Record<string, string>;
}

/** Reads the metadata of a safetensors weight/checkpoint file written by `train`. */
export function readWeightsInfo(file: string): WeightsInfo {
  const f = openSafetensors(file);
  try {
    const info = parseCheckpointMetadata(f.metadata, file);
    return {
      spec: info.spec,
      classes: info.classes,
      preprocessing: info.preprocessing as WeightsInfo['preprocessing'],
      training: info.training,
      metadata: info.metadata,
    };
  } finally {
    f.close();
  }
}
