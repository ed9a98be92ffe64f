/**
 * Weight bytes -> a ready model: format detection, naming conventions, the architecture, the
 * strict load. The single place the zoo turns any supported file into a {@link ResNet}.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FormatError, ResNet, ResNetSpec, SpecError, decodeSafetensors, parseCheckpointMetadata } from '@resnet-ts/core';
import type { CheckpointInfo } from '@resnet-ts/core';
import { getModelSpec } from './index.js';

/** A state dict in torchvision names and layouts, with the file's metadata. The caller disposes `tensors`. */
export interface LoadedStateDict {
  tensors: Map<string, tf.Tensor>;
  info: CheckpointInfo;
}

/** Reads weight bytes (safetensors: torchvision state dict or resnet-ts checkpoint). */
export function readStateDict(bytes: Uint8Array, source: string): LoadedStateDict {
  const looksLikeZip = bytes[0] === 0x50 && bytes[1] === 0x4b;
  const looksLikePickle = bytes[0] === 0x80 || bytes[0] === 0x8a;
  if (looksLikeZip || looksLikePickle) {
    throw new FormatError(`${source} is a PyTorch torch.save file; this build reads safetensors only. Convert it with safetensors.torch.save_file(torch.load(f), 'model.safetensors').`);
  }
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  return { tensors, info: parseCheckpointMetadata(metadata, source) };
}

/** Number of classes and input channels a torchvision-named state dict implies, where it says. */
export function headShape(tensors: Map<string, tf.Tensor>): { numClasses?: number; inChannels?: number } {
  const fc = tensors.get('fc.weight');
  const conv1 = tensors.get('conv1.weight');
  return { numClasses: fc?.shape[0], inChannels: conv1?.shape[1] };
}

/**
 * The architecture of a state dict: `model` (zoo name or spec) with the head size and input
 * channels taken from the weights, else the spec stored in a resnet-ts checkpoint.
 */
export function specFor(sd: LoadedStateDict, source: string, model?: string | ResNetSpec, numClasses?: number): ResNetSpec {
  const head = headShape(sd.tensors);
  const fixed: Partial<ResNetSpec> = {};
  if (numClasses !== undefined) fixed.numClasses = numClasses;
  else if (head.numClasses !== undefined) fixed.numClasses = head.numClasses;
  if (head.inChannels !== undefined) fixed.inChannels = head.inChannels;
  if (typeof model === 'string') return getModelSpec(model, fixed);
  if (model) return { ...model, ...fixed };
  if (sd.info.spec) return numClasses !== undefined ? { ...sd.info.spec, numClasses } : sd.info.spec;
  throw new SpecError(`${source} does not say which architecture it holds: pass { model: 'resnet50' } (CLI: --model resnet50).`);
}

/** Builds the model of `spec` and loads the state dict strictly (torch layouts); returns it in eval mode. */
export function buildModel(spec: ResNetSpec, sd: LoadedStateDict, source: string): ResNet {
  const model = new ResNet(spec);
  try {
    const own = new Map([...sd.tensors].filter(([k]) => !sd.info.extraPrefixes.includes(k.split('.')[0])));
    model.loadStateDict(own, { strict: true, layout: 'torch' });
  } catch (e) {
    model.dispose();
    const err = e as Error;
    err.message = `${source}: ${err.message}`;
    throw err;
  }
  return model.eval();
}
