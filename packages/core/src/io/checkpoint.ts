/**
 * resnet-ts checkpoints: safetensors with torchvision key names and torchvision layouts (OIHW convs,
 * [out, in] linear), so `model.load_state_dict(safetensors.torch.load_file(f))` works in PyTorch,
 * plus string metadata that says how to rebuild and feed the model:
 *
 * - `format`: `resnet-ts/1`
 * - `spec`: JSON of the resolved {@link ResNetSpec}
 * - `classes`: JSON list of class names (when given)
 * - `preprocessing`: JSON `{mean, std, inputSize, ...}` (when given)
 * - `training`: JSON training state (epoch, step, schedule...) (when given)
 * - `extra_prefixes`: JSON list of the first name segments of extra (non-model) tensors, e.g.
 *   `["optimizer"]` for momentum buffers stored as `optimizer.momentum.layer1.0.conv1.weight`.
 *
 * Extra tensors come after the model's in the file. Loaders ignore keys under `extra_prefixes`.
 *
 * A torchvision state dict written by resnet-ts (`resnet convert --to torchvision`) has only the
 * model's tensors and `format: pt` (Hugging Face's mark of a PyTorch state dict), but keeps `spec`,
 * `classes` and `preprocessing` ({@link stateDictMetadata}): its keys cannot say whether the net is
 * plain, where a bottleneck strides or how option A pads, and the readers of resnet-ts build the model
 * from the stored spec, as for a checkpoint. PyTorch (`safetensors.torch.load_file`) ignores metadata.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FormatError } from '../errors.js';
import type { ResNet, ResNetSpec } from '../resnet.js';
import { assertSameArchitecture, checkClassesSchema, checkPreprocessingSchema, checkSpecSchema, checkTrainingSchema } from './checkpoint-schema.js';
import { NamedTensors, SafetensorsWriteOptions, encodeSafetensors, namedTensorEntries } from './safetensors.js';
import { readWeights } from './weights.js';
import { loadRawStateDict } from './load-raw.js';

export { hiddenArchitecture, netName, type HiddenFact } from './hidden-architecture.js';

/** The `format` metadata value of checkpoints written by this version. */
export const CHECKPOINT_FORMAT = 'resnet-ts/1';

/** The `format` of a torchvision state dict written by resnet-ts: `pt`, as Hugging Face marks PyTorch weights. */
export const STATE_DICT_FORMAT = 'pt';

/** Input normalisation stored with a checkpoint. */
export interface Preprocessing {
  mean?: number[];
  std?: number[];
  /** [height, width] the model was trained on. */
  inputSize?: [number, number];
  [key: string]: unknown;
}

/** Options of the checkpoint writers. */
export interface CheckpointOptions extends SafetensorsWriteOptions {
  /** Extra string metadata (merged; the keys above win). */
  metadata?: Record<string, string>;
  classes?: string[];
  preprocessing?: Preprocessing;
  /** Training state stored as JSON under `training`. */
  training?: unknown;
  /**
   * Non-model tensors (optimizer momenta, ...), written after the model's. Each name must have a
   * prefix segment (`optimizer.…`) that no model key has.
   */
  extraTensors?: NamedTensors;
}

/** What a checkpoint's metadata says. */
export interface CheckpointInfo {
  format?: string;
  spec?: ResNetSpec;
  classes?: string[];
  preprocessing?: Preprocessing;
  training?: unknown;
  extraPrefixes: string[];
  metadata: Record<string, string>;
}

function parseJson<T>(metadata: Record<string, string>, key: string, source: string): T | undefined {
  const text = metadata[key];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new FormatError(`${source}: metadata "${key}" is not valid JSON (${(e as Error).message}).`);
  }
}

/**
 * Reads the resnet-ts fields out of safetensors metadata (any file; absent fields stay undefined),
 * each checked against its schema (see `checkpoint-schema.ts`): a malformed field is a
 * {@link FormatError} naming `source` and the field, e.g. `run/model.safetensors: metadata
 * "spec.stages[1]" must be an object …`.
 */
export function parseCheckpointMetadata(metadata: Record<string, string>, source = 'checkpoint'): CheckpointInfo {
  const extra = parseJson<unknown>(metadata, 'extra_prefixes', source) ?? [];
  if (!Array.isArray(extra) || !extra.every((p) => typeof p === 'string')) {
    throw new FormatError(`${source}: metadata "extra_prefixes" must be a JSON list of strings.`);
  }
  const spec = parseJson<unknown>(metadata, 'spec', source);
  if (spec !== undefined) checkSpecSchema(spec, source);
  const classes = parseJson<unknown>(metadata, 'classes', source);
  if (classes !== undefined) checkClassesSchema(classes, spec, source);
  const preprocessing = parseJson<unknown>(metadata, 'preprocessing', source);
  if (preprocessing !== undefined) checkPreprocessingSchema(preprocessing, source);
  const training = parseJson<unknown>(metadata, 'training', source);
  if (training !== undefined) checkTrainingSchema(training, source);
  return {
    format: metadata.format,
    spec,
    classes,
    preprocessing: preprocessing as Preprocessing | undefined,
    training,
    extraPrefixes: extra as string[],
    metadata,
  };
}

/** Whether a key belongs to the extra (non-model) tensors. */
export function isExtraKey(key: string, extraPrefixes: readonly string[]): boolean {
  const first = key.split('.')[0];
  return extraPrefixes.includes(first);
}

/** The metadata a checkpoint of `model` carries, and the prefixes of the extra tensors. */
export function checkpointMetadata(model: ResNet, options: CheckpointOptions = {}): Record<string, string> {
  const modelKeys = new Set(model.paramLayouts().keys());
  const prefixes: string[] = [];
  for (const [name] of options.extraTensors ? namedTensorEntries(options.extraTensors) : []) {
    if (modelKeys.has(name)) throw new FormatError(`Extra tensor '${name}' has the name of a model parameter.`);
    const dot = name.indexOf('.');
    if (dot <= 0)
      throw new FormatError(`Extra tensor '${name}' needs a prefix such as 'optimizer.' to keep it apart from the model's keys.`);
    const prefix = name.slice(0, dot);
    if ([...modelKeys].some((k) => k.split('.')[0] === prefix)) {
      throw new FormatError(`Extra tensor prefix '${prefix}.' is also a module of the model; pick another (e.g. 'optimizer.').`);
    }
    if (!prefixes.includes(prefix)) prefixes.push(prefix);
  }
  const meta = modelMetadata(CHECKPOINT_FORMAT, model.spec, options);
  if (options.training !== undefined) meta.training = JSON.stringify(options.training);
  if (prefixes.length) meta.extra_prefixes = JSON.stringify(prefixes);
  return meta;
}

/** How to rebuild and feed a model (`format`, `spec`, `classes`, `preprocessing`): one writer for both kinds of file. */
function modelMetadata(
  format: string,
  spec: ResNetSpec,
  options: Pick<CheckpointOptions, 'metadata' | 'classes' | 'preprocessing'>,
): Record<string, string> {
  const meta: Record<string, string> = { ...(options.metadata ?? {}) };
  meta.format = format;
  meta.spec = JSON.stringify(spec);
  if (options.classes && options.classes.length !== spec.numClasses)
    throw new FormatError(`${options.classes.length} class names given for a model with ${spec.numClasses} outputs.`);
  if (options.classes) meta.classes = JSON.stringify(options.classes);
  if (options.preprocessing) meta.preprocessing = JSON.stringify(options.preprocessing);
  return meta;
}

/**
 * The metadata of a torchvision state dict of a model with `spec` (see the file's comment): `format:
 * pt`, and the `spec`, `classes` and `preprocessing` a checkpoint stores, read back by
 * {@link parseCheckpointMetadata} (the readers then build the model from the spec, not from the keys).
 */
export function stateDictMetadata(
  spec: ResNetSpec,
  options: Pick<CheckpointOptions, 'metadata' | 'classes' | 'preprocessing'> = {},
): Record<string, string> {
  return modelMetadata(STATE_DICT_FORMAT, spec, options);
}

/** A whole checkpoint in memory (browser-friendly; Node users want `saveCheckpoint`, which streams). */
export async function encodeCheckpoint(model: ResNet, options: CheckpointOptions = {}): Promise<Uint8Array> {
  const meta = checkpointMetadata(model, options);
  const state = model.stateDict({ layout: 'torch' });
  try {
    const all = new Map(state);
    for (const [k, t] of options.extraTensors ? namedTensorEntries(options.extraTensors) : []) all.set(k, t);
    return await encodeSafetensors(all, meta, options);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

/**
 * Loads a checkpoint (or a plain torchvision state dict, as safetensors or a `torch.save` file) held
 * in memory into `model`. Keys under the file's `extra_prefixes` are returned, not loaded. The
 * caller owns the returned extra tensors. Other naming conventions: `adaptStateDict` first.
 */
export function decodeCheckpointInto(
  model: ResNet,
  bytes: Uint8Array,
  options: { strict?: boolean } = {},
): { info: CheckpointInfo; extraTensors: Map<string, tf.Tensor> } {
  // The one weights path: read, then loadRawStateDict (keys, architecture, non-finite policy, load).
  const raw = readWeights(bytes, { source: 'checkpoint' });
  const info = parseCheckpointMetadata(raw.metadata);
  const strict = options.strict ?? true;
  // After the key check, before anything is loaded: a refused file leaves the model unchanged.
  const beforeLoad = strict ? () => assertSameArchitecture(info.spec, model.spec, 'checkpoint') : undefined;
  loadRawStateDict(model, raw, { strict, source: 'checkpoint', beforeLoad });
  const extraTensors = new Map<string, tf.Tensor>();
  for (const [k, t] of raw.tensors) if (isExtraKey(k, info.extraPrefixes)) extraTensors.set(k, tf.tensor(t.data, t.shape, t.dtype));
  return { info, extraTensors };
}
