/**
 * safetensors (https://github.com/huggingface/safetensors), the weight format of PyTorch users and
 * the Hugging Face hub: an 8-byte little-endian header length N, N bytes of JSON
 * `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the raw
 * little-endian tensor bytes. Pure and browser-safe; Node file helpers that stream tensor by tensor
 * are in `@resnet-ts/core/node`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FormatError, fmtShape } from '../errors.js';
import { floatToBf16, floatToHalf } from './half.js';
import { ELEMENT_BYTES, ElementType, assertLittleEndian, decodeElements, isFloatElement } from './elements.js';

/** Element types of safetensors files that resnet-ts reads. */
export type SafetensorsDtype = ElementType;

/** Bytes per element of each supported dtype. */
export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDtype, number> = ELEMENT_BYTES;

/** One tensor's entry in a safetensors header; offsets are relative to the start of the data. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  /** Entries in data order (by offset). */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section from the start of the file (8 + header length). */
  dataStart: number;
}

/** Options of the writers. */
export interface SafetensorsWriteOptions {
  /** Element type for float tensors: F32 (default), F16 or BF16. Int tensors are always written exactly. */
  dtype?: 'F32' | 'F16' | 'BF16';
}

/** Largest JSON header accepted (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';

/**
 * Reads the header length from the first 8 bytes. `fileSize` is the whole file's size, so a length
 * that runs past the end is caught before anything else is read.
 */
export function readSafetensorsHeaderLength(first8: Uint8Array, fileSize: number, source = 'safetensors data'): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new FormatError(
      `${source}: only ${fileSize} bytes; a safetensors file starts with an 8-byte header length. The file is truncated or not safetensors.`,
    );
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = Number(dv.getBigUint64(0, true));
  if (n > MAX_HEADER) {
    throw new FormatError(
      `${source}: header length ${n} is implausibly large (limit ${MAX_HEADER}); the file is corrupt or not safetensors.`,
    );
  }
  if (8 + n > fileSize) {
    throw new FormatError(
      `${source}: header length ${n} runs past the end of the file (${fileSize} bytes); the file is truncated or not safetensors.`,
    );
  }
  return n;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** JSON's whitespace characters (space, tab, newline, carriage return). */
const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * The first key that an object of `text` (valid JSON) gives twice, with the keys of the objects it
 * lies in (`[]` for the top level), or undefined when none repeats. JSON.parse cannot tell: it keeps
 * the last value of a repeated key.
 */
function repeatedKey(text: string): { key: string; path: string[] } | undefined {
  // One frame per open object or array: its keys so far (null for an array) and the key it is under.
  const frames: { keys: Set<string> | null; under?: string }[] = [];
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      let k = j + 1;
      while (isJsonSpace(text.charCodeAt(k))) k++;
      const keys = frames[frames.length - 1]?.keys;
      if (keys && text.charCodeAt(k) === 0x3a /* : */) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return { key, path: frames.slice(1).map((f) => f.under ?? '') };
        keys.add(key);
        lastKey = key;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      frames.push({ keys: c === 0x7b ? new Set() : null, under: lastKey });
      lastKey = undefined;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) frames.pop();
  }
  return undefined;
}

/**
 * Refuses a header (valid JSON) that gives a name twice: JSON.parse keeps the last of a repeated key,
 * and the earlier entry would vanish without a word.
 */
function checkNoRepeatedKey(text: string, source: string): void {
  const repeat = repeatedKey(text);
  if (!repeat) return;
  const { key, path } = repeat;
  const what =
    path.length === 0
      ? key === METADATA_KEY
        ? `duplicate "${METADATA_KEY}"`
        : `duplicate tensor name '${key}'`
      : path.length === 1 && path[0] === METADATA_KEY
        ? `duplicate metadata key "${key}"`
        : `tensor '${path[0]}' gives "${key}" twice`;
  throw new FormatError(`${source}: ${what} in the header; the file is corrupt (each name may appear once).`);
}

/**
 * Parses and validates the JSON header. `dataLength` is the size of the data section
 * (file size - 8 - header length): every tensor must lie inside it, tensors must not overlap, and
 * together they must cover it exactly.
 */
export function parseSafetensorsHeader(json: Uint8Array, dataLength: number, source = 'safetensors data'): SafetensorsHeader {
  let raw: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    raw = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${source}: the header is not valid JSON (${(e as Error).message}); the file is corrupt or not safetensors.`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FormatError(`${source}: the header must be a JSON object of tensor entries.`);
  }
  checkNoRepeatedKey(text, source);
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new FormatError(`${source}: "__metadata__" must be an object of strings.`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new FormatError(`${source}: metadata "${k}" must be a string; got ${typeof v}.`);
        metadata[k] = v;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== 'object') throw new FormatError(`${source}: entry for tensor '${name}' is not an object.`);
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw new FormatError(
        `${source}: tensor '${name}' has dtype ${JSON.stringify(dtype)}, which resnet-ts does not read ` +
          `(supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}).`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FormatError(`${source}: tensor '${name}' has an invalid shape ${JSON.stringify(shape)}.`);
    }
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FormatError(`${source}: tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}.`);
    }
    const [begin, end] = off as number[];
    if (begin > end || end > dataLength) {
      throw new FormatError(
        `${source}: tensor '${name}' has data_offsets [${begin}, ${end}] outside the data section (${dataLength} bytes); the file is truncated or its header lies.`,
      );
    }
    const bytes = numel(shape) * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== bytes) {
      throw new FormatError(
        `${source}: tensor '${name}' (${dtype} ${fmtShape(shape)}) needs ${bytes} bytes but its data_offsets [${begin}, ${end}] span ${end - begin}.`,
      );
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin < pos)
      throw new FormatError(`${source}: tensor '${e.name}' overlaps the tensor before it (data_offsets [${e.begin}, ${e.end}]).`);
    if (e.begin > pos)
      throw new FormatError(`${source}: bytes ${pos}..${e.begin} of the data section belong to no tensor (before '${e.name}').`);
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw new FormatError(
      `${source}: the tensors cover ${pos} bytes but the data section has ${dataLength}; the file has trailing garbage or its header lies.`,
    );
  }
  return { entries, metadata, dataStart: 0 };
}

/** Parses the header of a complete file in memory. */
export function readSafetensorsHeader(bytes: Uint8Array, source = 'safetensors data'): SafetensorsHeader {
  const n = readSafetensorsHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, source);
  return { ...header, dataStart: 8 + n };
}

/**
 * Turns one tensor's raw bytes into a tfjs tensor. Floats become float32 (F16/BF16/F64 widened or
 * narrowed), integers int32 (I64 values outside the int32 range are an error), BOOL bool.
 */
export function decodeSafetensorsTensor(entry: SafetensorsEntry, bytes: Uint8Array, source = 'safetensors data'): tf.Tensor {
  const { name, dtype, shape } = entry;
  const data = decodeElements(dtype, bytes, numel(shape), `${source}: tensor '${name}'`);
  return tf.tensor(data, shape, dtype === 'BOOL' ? 'bool' : isFloatElement(dtype) ? 'float32' : 'int32');
}

/** The dtype a tensor is written as. Int32 buffers named `*num_batches_tracked` become I64, as PyTorch stores them. */
export function safetensorsDtypeFor(name: string, t: tf.Tensor, options: SafetensorsWriteOptions = {}): SafetensorsDtype {
  if (t.dtype === 'float32') return options.dtype ?? 'F32';
  if (t.dtype === 'int32') return name.endsWith('num_batches_tracked') ? 'I64' : 'I32';
  if (t.dtype === 'bool') return 'BOOL';
  throw new FormatError(`Cannot write tensor '${name}' of dtype ${t.dtype} to safetensors (float32, int32 and bool are supported).`);
}

/** Raw little-endian bytes of `t` as `dtype`. */
export async function encodeSafetensorsTensor(t: tf.Tensor, dtype: SafetensorsDtype, name = 'tensor'): Promise<Uint8Array> {
  assertLittleEndian();
  const data = await t.data();
  const n = data.length;
  switch (dtype) {
    case 'F32':
      return new Uint8Array(new Float32Array(data as ArrayLike<number>).buffer);
    case 'F16': {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = floatToHalf(data[i] as number);
      return new Uint8Array(h.buffer);
    }
    case 'BF16': {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = floatToBf16(data[i] as number);
      return new Uint8Array(h.buffer);
    }
    case 'I64': {
      const b = new BigInt64Array(n);
      for (let i = 0; i < n; i++) b[i] = BigInt(Math.trunc(data[i] as number));
      return new Uint8Array(b.buffer);
    }
    case 'I32':
      return new Uint8Array(new Int32Array(data as ArrayLike<number>).buffer);
    case 'BOOL':
    case 'U8':
      return new Uint8Array(Uint8Array.from(data as ArrayLike<number>).buffer);
    default:
      throw new FormatError(`Writing tensor '${name}' as ${dtype} is not supported (use F32, F16, BF16, I64, I32, U8 or BOOL).`);
  }
}

/** What a header will describe, before any tensor data is read. */
export interface SafetensorsPlanItem {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/**
 * Lays out a file: returns the header bytes (length prefix + JSON padded with spaces to 8 bytes) and
 * each tensor's entry, in the given order. Used by both the in-memory and the streaming writer.
 */
export function planSafetensors(
  items: SafetensorsPlanItem[],
  metadata: Record<string, string> = {},
): { header: Uint8Array; entries: SafetensorsEntry[] } {
  const json: Record<string, unknown> = {};
  const meta = Object.entries(metadata);
  for (const [k, v] of meta) {
    if (typeof v !== 'string') throw new FormatError(`safetensors metadata values must be strings; "${k}" is ${typeof v}.`);
  }
  if (meta.length) json[METADATA_KEY] = metadata;
  const entries: SafetensorsEntry[] = [];
  const seen = new Set<string>();
  let pos = 0;
  for (const { name, dtype, shape } of items) {
    if (name === METADATA_KEY) throw new FormatError(`A tensor cannot be called "${METADATA_KEY}".`);
    if (seen.has(name)) throw new FormatError(`Duplicate tensor name '${name}'.`);
    seen.add(name);
    const end = pos + numel(shape) * SAFETENSORS_DTYPE_BYTES[dtype];
    entries.push({ name, dtype, shape: [...shape], begin: pos, end });
    json[name] = { dtype, shape, data_offsets: [pos, end] };
    pos = end;
  }
  let text = JSON.stringify(json);
  const enc = new TextEncoder();
  let body = enc.encode(text);
  const pad = (8 - (body.length % 8)) % 8;
  if (pad) {
    text += ' '.repeat(pad);
    body = enc.encode(text);
  }
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, entries };
}

/** Tensors by name, as a Map or a plain object. */
export type NamedTensors = Map<string, tf.Tensor> | Record<string, tf.Tensor>;

/** The entries of {@link NamedTensors} in order. */
export function namedTensorEntries(tensors: NamedTensors): [string, tf.Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Serialises tensors (and string metadata) into a safetensors file in memory. */
export async function encodeSafetensors(
  tensors: NamedTensors,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): Promise<Uint8Array> {
  const items = namedTensorEntries(tensors).map(([name, t]) => ({ name, t, dtype: safetensorsDtypeFor(name, t, options), shape: t.shape }));
  const { header, entries } = planSafetensors(items, metadata);
  const total = header.length + (entries.length ? entries[entries.length - 1].end : 0);
  const out = new Uint8Array(total);
  out.set(header, 0);
  for (let i = 0; i < items.length; i++) {
    out.set(await encodeSafetensorsTensor(items[i].t, items[i].dtype, items[i].name), header.length + entries[i].begin);
  }
  return out;
}

/** Parses a safetensors file in memory. The caller owns (and disposes) the returned tensors. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = 'safetensors data',
): { tensors: Map<string, tf.Tensor>; metadata: Record<string, string> } {
  const header = readSafetensorsHeader(bytes, source);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const e of header.entries) {
      tensors.set(e.name, decodeSafetensorsTensor(e, bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end), source));
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata: header.metadata };
}
