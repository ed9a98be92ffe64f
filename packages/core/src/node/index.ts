/**
 * @resnet-ts/core/node: file helpers for Node. Writes are atomic (a temporary file in the same
 * folder, fsync, rename: a crash never leaves a half-written file under the real name) and stream
 * tensor by tensor; reads take the header first and then each tensor's bytes with positioned reads,
 * so a model is never held twice in memory as raw bytes.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { FormatError } from '../errors.js';
import { LoadReport, ParamLayout, torchShape } from '../module.js';
import { ResNet } from '../resnet.js';
import {
  NamedTensors,
  SafetensorsWriteOptions,
  encodeSafetensorsTensor,
  namedTensorEntries,
  planSafetensors,
  safetensorsDtypeFor,
} from '../io/safetensors.js';
import { decodeNpy, encodeNpy, NpyWriteOptions } from '../io/npy.js';
import { CheckpointInfo, CheckpointOptions, checkpointMetadata, isExtraKey, parseCheckpointMetadata } from '../io/checkpoint.js';
import { assertSameArchitecture } from '../io/checkpoint-schema.js';
import { openForRead, writeFileAtomic } from './files.js';
import { modelFromWeightsFile, readWeightsFile, weightsFileFormat } from './weights-file.js';
import { openSafetensors } from './safetensors-file.js';
import { readAt } from './reread.js';
import { loadRawStateDict } from '../io/load-raw.js';
import { NonFinitePolicy } from '../io/finite.js';

export * from '../io/safetensors.js';
export * from '../io/npy.js';
export * from '../io/checkpoint.js';
export { FileError, fileError, ensureDir, cleanStaleTempFiles, writeFileAtomic, cacheDir } from './files.js';
export type { AtomicWriteOptions } from './files.js';
export { readWeightsFile, readFileBytes, weightsFileFormat } from './weights-file.js';
export { SafetensorsFile, openSafetensors } from './safetensors-file.js';

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Writes bytes to `file` atomically. */
export async function writeBytesAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(file, (fd) => writeAll(fd, bytes));
}

// ---------------------------------------------------------------------------------------------
// safetensors

/**
 * Saves tensors to a safetensors file, atomically, one tensor at a time (only one tensor's bytes
 * are in memory besides the tensors themselves). Float tensors are F32 unless `dtype` says F16/BF16;
 * int32 `*num_batches_tracked` buffers are written as I64 for PyTorch.
 */
export async function saveSafetensors(
  file: string,
  tensors: NamedTensors,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): Promise<void> {
  const items = namedTensorEntries(tensors).map(([name, t]) => ({ name, t, dtype: safetensorsDtypeFor(name, t, options), shape: t.shape }));
  const { header } = planSafetensors(items, metadata);
  await writeFileAtomic(file, async (fd) => {
    writeAll(fd, header);
    for (const { name, t, dtype } of items) writeAll(fd, await encodeSafetensorsTensor(t, dtype, name));
  });
}

/** Loads every tensor (or those `filter` keeps) of a safetensors file. The caller owns them. */
export async function loadSafetensors(
  file: string,
  options: { filter?: (name: string) => boolean } = {},
): Promise<{ tensors: Map<string, tf.Tensor>; metadata: Record<string, string> }> {
  const f = openSafetensors(file);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const e of f.entries) if (!options.filter || options.filter(e.name)) tensors.set(e.name, f.read(e));
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  } finally {
    f.close();
  }
  return { tensors, metadata: f.metadata };
}

/**
 * Copies a safetensors file entry by entry (raw bytes, dtypes unchanged) keeping the tensors that
 * `keep` accepts, with new metadata. Atomic and streaming.
 */
export async function rewriteSafetensors(
  input: string,
  output: string,
  options: { keep?: (name: string) => boolean; metadata?: Record<string, string> } = {},
): Promise<{ kept: string[]; dropped: string[] }> {
  const f = openSafetensors(input);
  try {
    const kept = f.entries.filter((e) => !options.keep || options.keep(e.name));
    const dropped = f.entries.filter((e) => !kept.includes(e)).map((e) => e.name);
    const { header } = planSafetensors(kept, options.metadata ?? {});
    await writeFileAtomic(output, (fd) => {
      writeAll(fd, header);
      for (const e of kept) writeAll(fd, f.rawBytes(e));
    });
    return { kept: kept.map((e) => e.name), dropped };
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// .npy

/** Saves a tensor as `.npy`, atomically. */
export async function saveNpy(file: string, t: tf.Tensor, options: NpyWriteOptions = {}): Promise<void> {
  const bytes = await encodeNpy(t, options);
  await writeBytesAtomic(file, bytes);
}

/** Loads a `.npy` file as a tensor (the caller owns it). */
export function loadNpy(file: string): tf.Tensor {
  const fd = openForRead(file);
  try {
    const size = fs.fstatSync(fd).size;
    return decodeNpy(readAt(fd, size, 0), file);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// checkpoints and torchvision state dicts

/** Options of {@link loadWeightsInto}. */
export interface LoadWeightsOptions {
  /** Throw on missing, unexpected or mis-shaped keys, before anything is changed (default true). */
  strict?: boolean;
  /**
   * Weights holding NaN or ±Inf: `'warn'` (one line), `'error'` (a `NonFiniteWeightsError`,
   * before anything is changed) or `'ignore'`. Default: `nonFinitePolicy()` (`'warn'`).
   */
  nonFinite?: NonFinitePolicy;
  /** Where a non-finite warning goes (default `console.warn`). */
  warn?: (message: string) => void;
}

/**
 * Loads weights from a file into `model`: a torchvision state dict or a resnet-ts checkpoint
 * (safetensors, torch layouts), or a PyTorch checkpoint (`torch.save`, zip or legacy) whose names
 * are mapped by their convention (torchvision, timm, CIFAR, Hugging Face). One path for all:
 * `readWeightsFile`, then `loadRawStateDict`. `num_batches_tracked` may be present or absent; keys
 * under a resnet-ts checkpoint's `extra_prefixes` (optimizer state) are ignored. With `strict`
 * (default) a `StateDictError` lists the missing, unexpected and mis-shaped keys, and a
 * stored spec must describe the model's architecture, before anything is changed.
 */
export function loadWeightsInto(model: ResNet, file: string, options: LoadWeightsOptions = {}): LoadReport & { info: CheckpointInfo } {
  const format = weightsFileFormat(file);
  if (format === 'torch-zip' || format === 'torch-legacy') {
    // PyTorch checkpoints: names mapped by their convention first.
    const loaded = modelFromWeightsFile(file, { ...options, model });
    const info = { ...parseCheckpointMetadata({}, file), metadata: loaded.metadata };
    return { ...loaded.report, info };
  }
  const raw = readWeightsFile(file);
  const info = parseCheckpointMetadata(raw.metadata, file);
  const strict = options.strict ?? true;
  // The keys and shapes fit; the stored spec may still say they mean something else (plain vs residual).
  const beforeLoad = strict ? () => assertSameArchitecture(info.spec, (model as Partial<ResNet>).spec, file) : undefined;
  const report = loadRawStateDict(model, raw, { strict, source: file, nonFinite: options.nonFinite, warn: options.warn, beforeLoad });
  return { ...report, info };
}

/**
 * Saves a resnet-ts checkpoint: the model's state dict in torchvision names and layouts, then any
 * extra tensors (optimizer state), with metadata (format, spec, classes, preprocessing, training).
 * Atomic and streaming: one tensor is converted at a time.
 */
export async function saveCheckpoint(file: string, model: ResNet, options: CheckpointOptions = {}): Promise<void> {
  const meta = checkpointMetadata(model, options);
  const layouts = model.paramLayouts();
  const vars: [string, tf.Tensor][] = [...model.namedParameters(), ...model.namedBuffers()];
  // Keep state-dict order (parameters and buffers interleaved per module, as torchvision).
  const order = [...layouts.keys()];
  const byName = new Map(vars);
  const items = order.map((name) => {
    const v = byName.get(name) as tf.Tensor;
    const layout = layouts.get(name) ?? 'plain';
    return { name, t: v, layout, dtype: safetensorsDtypeFor(name, v, options), shape: torchShape(v.shape, layout) };
  });
  const extra = (options.extraTensors ? namedTensorEntries(options.extraTensors) : []).map(([name, t]) => ({
    name,
    t,
    layout: 'plain' as ParamLayout,
    dtype: safetensorsDtypeFor(name, t, options),
    shape: t.shape,
  }));
  const all = [...items, ...extra];
  const { header } = planSafetensors(all, meta);
  await writeFileAtomic(file, async (fd) => {
    writeAll(fd, header);
    for (const { name, t, layout, dtype } of all) {
      const torch = layout === 'plain' ? t : tf.tidy(() => (layout === 'conv2d' ? tf.transpose(t, [3, 2, 0, 1]) : tf.transpose(t, [1, 0])));
      try {
        writeAll(fd, await encodeSafetensorsTensor(torch, dtype, name));
      } finally {
        if (torch !== t) torch.dispose();
      }
    }
  });
}

/** What {@link loadCheckpoint} returns. The caller owns the model and the extra tensors. */
export interface LoadedCheckpoint extends CheckpointInfo {
  model: ResNet;
  /** Tensors under the file's extra prefixes (optimizer state), by full name. */
  extraTensors: Map<string, tf.Tensor>;
  report: LoadReport;
}

/**
 * Loads a resnet-ts checkpoint (or a PyTorch `.pth`, whose architecture is read from its weights and
 * naming convention): builds the model from the stored spec (the block and shortcut
 * plug-ins must be imported, e.g. through @resnet-ts/zoo) or uses `options.model`, loads the
 * weights strictly, and returns the metadata and the extra tensors. The model is in eval mode. For
 * inference with preprocessing and labels, `fromPretrained(file)` of `@resnet-ts/zoo/node` does it all.
 */
export function loadCheckpoint(
  file: string,
  options: { model?: ResNet; strict?: boolean; loadExtra?: boolean; nonFinite?: NonFinitePolicy; warn?: (message: string) => void } = {},
): LoadedCheckpoint {
  const format = weightsFileFormat(file);
  if (format === 'torch-zip' || format === 'torch-legacy') {
    // A PyTorch checkpoint: the architecture comes from its weights and naming convention.
    const { model, report, metadata } = modelFromWeightsFile(file, options);
    model.eval();
    return { ...parseCheckpointMetadata({}, file), spec: model.spec, metadata, model, extraTensors: new Map(), report };
  }
  const f = openSafetensors(file);
  let info: CheckpointInfo;
  try {
    info = parseCheckpointMetadata(f.metadata, file);
  } finally {
    f.close();
  }
  let model = options.model;
  if (!model) {
    if (!info.spec) {
      throw new FormatError(
        `${file}: no "spec" metadata, so this is not a resnet-ts checkpoint (perhaps a plain torchvision state dict). ` +
          'Build the model yourself and use loadWeightsInto(model, file), or convert it with `resnet convert --to resnet-ts --model <name>`.',
      );
    }
    model = new ResNet(info.spec, { initialize: options.strict === false }); // strict: every weight is loaded
  }
  let report: LoadReport;
  try {
    report = loadWeightsInto(model, file, { strict: options.strict ?? true, nonFinite: options.nonFinite, warn: options.warn });
  } catch (e) {
    if (!options.model) model.dispose();
    throw e;
  }
  const extraTensors =
    options.loadExtra === false || info.extraPrefixes.length === 0
      ? new Map<string, tf.Tensor>()
      : (() => {
          const g = openSafetensors(file);
          const out = new Map<string, tf.Tensor>();
          try {
            for (const e of g.entries) if (isExtraKey(e.name, info.extraPrefixes)) out.set(e.name, g.read(e));
          } finally {
            g.close();
          }
          return out;
        })();
  // Eval mode: a forward without a context uses the running BN statistics and never changes them
  // (call model.train() to train it further).
  model.eval();
  return { ...info, model, extraTensors, report };
}
