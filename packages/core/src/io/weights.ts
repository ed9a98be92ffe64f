/**
 * One reader for every weights file resnet-ts accepts, on bytes (browser-safe): safetensors and
 * PyTorch's `torch.save` (zip and legacy). The result is a {@link RawStateDict}: tensors by name as
 * plain typed arrays in PyTorch's layouts, plus string metadata, ready for a naming convention
 * (`adaptStateDict`) and the loader (`loadRawStateDict`).
 */
import { FormatError } from '../errors.js';
import { decodeElements, isFloatElement } from './elements.js';
import { SafetensorsEntry, SafetensorsHeader, readSafetensorsHeader } from './safetensors.js';
import { TorchObject, readTorchLegacy, readTorchZip } from './torch.js';
import { openZip, type ZipSource } from './zip.js';
import { bestConventionFit } from './conventions.js';
// The shipped conventions decide whether a prefix every key carries is a wrapper's (stripWrapperPrefixes).
import './conventions/index.js';
import { TensorRef } from './torch-pickle.js';

/** The container formats {@link readWeights} reads. */
export type WeightsFormat = 'safetensors' | 'torch-zip' | 'torch-legacy';

/** One tensor as read from a file: PyTorch layout (OIHW convs, [out, in] linear), row-major. */
export interface RawTensor {
  shape: number[];
  /** F16/BF16/F64/F32 become float32; I64/I32/I16/I8/U8/BOOL become int32. */
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/** A state dict read from a file, before it is put into a model. */
export interface RawStateDict {
  format: WeightsFormat;
  tensors: Map<string, RawTensor>;
  /** safetensors metadata; for torch files, the scalar entries of a wrapper dict (`epoch`, `best_prec1`...) as strings. */
  metadata: Record<string, string>;
}

/** Options of {@link readWeights}. */
export interface ReadWeightsOptions {
  /** Names the data in error messages (a file name or URL). */
  source?: string;
  /**
   * Where a one-line note goes (default `console.warn`): which state dict was used when a checkpoint
   * holds several (`{'model': …, 'model_ema': …}`).
   */
  warn?: (message: string) => void;
}

/** Keys under which training scripts store the model's state dict, in the order they are tried. */
export const STATE_DICT_WRAPPER_KEYS = [
  'state_dict',
  'model_state_dict',
  'model_state',
  'model',
  'net',
  'network',
  'state_dict_ema',
  'model_ema',
];

/** Prefixes that PyTorch's own wrappers add to every key: DataParallel/DistributedDataParallel, torch.compile. */
const TORCH_WRAPPERS = ['module.', '_orig_mod.'];

/**
 * How many leading name segments another wrapper prefix may have: wrappers nest (a Lightning
 * module's `model.` around a compiled model's `_orig_mod.`).
 */
const MAX_WRAPPER_SEGMENTS = 3;

const ZIP_MAGIC = [0x50, 0x4b];
/** LONG1 of `TORCH_LEGACY_MAGIC` (torch.ts): the first value of a legacy `torch.save` file. */
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PICKLE_PROTO = 0x80;
const PICKLE_FRAME = 0x95;

/**
 * How many leading bytes {@link detectWeightsFormat} needs: a legacy file pickled with protocol 4
 * or 5 opens with PROTO (2 bytes) and FRAME (9 bytes) before its 12-byte magic number.
 */
export const WEIGHTS_FORMAT_HEAD_BYTES = 32;

/**
 * Whether `bytes` open with the pickled magic number of a legacy `torch.save` file: PROTO 2-5, then
 * (protocols 4-5, `pickle_protocol=4` in torch.save) a FRAME opcode and its 8-byte length, then LONG1.
 */
function isTorchLegacy(bytes: Uint8Array): boolean {
  if (bytes[0] !== PICKLE_PROTO || !(bytes[1] >= 2 && bytes[1] <= 5)) return false;
  const at = bytes[1] >= 4 && bytes[2] === PICKLE_FRAME ? 11 : 2;
  return bytes.length >= at + LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => bytes[at + i] === b);
}

/** Which format `bytes` (a whole file, or at least its first {@link WEIGHTS_FORMAT_HEAD_BYTES}) is in, or undefined. */
export function detectWeightsFormat(bytes: Uint8Array): WeightsFormat | undefined {
  if (bytes.length >= 4 && bytes[0] === ZIP_MAGIC[0] && bytes[1] === ZIP_MAGIC[1] && (bytes[2] === 3 || bytes[2] === 5)) return 'torch-zip';
  if (isTorchLegacy(bytes)) return 'torch-legacy';
  if (bytes.length >= 10) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n < 100_000_000n && bytes[8] === 0x7b) return 'safetensors';
  }
  return undefined;
}

/**
 * Throws a {@link FormatError} when `bytes`, a weights file by {@link detectWeightsFormat}, are cut
 * short or broken in their structure: the safetensors header, the zip directory of a `torch.save`
 * file, or the storages of a legacy (pre-1.6) one, each of which must lie inside the file. Cheap: no
 * tensor is decoded. A whole file that the reader refuses for another reason (a pickled model rather
 * than a state dict) passes; loading it says why. What a download is checked with before it is cached.
 */
export function checkWeightsComplete(bytes: Uint8Array, source: string): void {
  const format = detectWeightsFormat(bytes);
  if (format === 'safetensors') readSafetensorsHeader(bytes, source);
  else if (format === 'torch-zip') openZip(bytes);
  else if (format === 'torch-legacy') {
    try {
      readTorchLegacy(bytes, source); // walks the storages, each of which must lie inside the file
    } catch (e) {
      if (e instanceof FormatError && /truncated/.test(e.message)) throw e;
    }
  }
}

/**
 * An ONNX model by its name, or by its start: a ModelProto opens with field 1 (ir_version, a varint:
 * byte 0x08) and names its producer (`pytorch`, `tf2onnx`, ...) within the first bytes.
 */
function looksLikeOnnx(bytes: Uint8Array, source: string): boolean {
  if (/\.onnx$/i.test(source)) return true;
  if (bytes[0] !== 0x08) return false;
  const head = String.fromCharCode(...bytes.subarray(0, 128));
  return /resnet-ts|pytorch|onnx|keras|tensorflow|paddle/i.test(head);
}

function describeStart(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 8);
  return [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Reads a weights file held in memory: safetensors, or a PyTorch `torch.save` file (zip or legacy)
 * through an unpickler that runs nothing and refuses every global outside its allow-list. Unwraps
 * `{'state_dict': …}`-style wrapper dicts (a note names the one used when there are several) and
 * strips a wrapper's key prefix (`module.`, `model.`...: see {@link stripWrapperPrefixes}). Errors
 * are one-line {@link FormatError}s that name `options.source`.
 */
export function readWeights(bytes: Uint8Array, options: ReadWeightsOptions = {}): RawStateDict {
  const source = options.source ?? 'weights data';
  const format = detectWeightsFormat(bytes);
  if (format === 'safetensors') return readSafetensorsRaw(bytes, source);
  if (format === 'torch-zip' || format === 'torch-legacy') {
    const obj = format === 'torch-zip' ? readTorchZip(bytes, source) : readTorchLegacy(bytes, source);
    return torchStateDict(obj, format, source, options.warn);
  }
  if (looksLikeOnnx(bytes, source))
    throw new FormatError(
      `${source}: an ONNX model; resnet-ts writes ONNX (resnet export-onnx) but does not read weights from it. ` +
        'Give the safetensors or PyTorch file it was exported from.',
    );
  throw new FormatError(
    `${source}: not a weights file resnet-ts reads (${bytes.length} bytes starting ${describeStart(bytes)}); ` +
      'expected safetensors or a PyTorch .pth/.pt/.bin saved by torch.save. If it is truncated, copy or download it again.',
  );
}

/**
 * {@link readWeights} of a zip-format `torch.save` file read in parts through `src` (how core's Node
 * entry reads a `.pth` file: each storage into a buffer of its own, the file never whole).
 */
export function readTorchZipWeights(src: ZipSource, source: string, warn?: (message: string) => void): RawStateDict {
  return torchStateDict(readTorchZip(src, source), 'torch-zip', source, warn);
}

function toRaw(data: Float32Array | Int32Array | Uint8Array, shape: number[], float: boolean): RawTensor {
  if (data instanceof Uint8Array) return { shape, dtype: 'int32', data: Int32Array.from(data) };
  return { shape, dtype: float ? 'float32' : 'int32', data };
}

function readSafetensorsRaw(bytes: Uint8Array, source: string): RawStateDict {
  const header = readSafetensorsHeader(bytes, source);
  return safetensorsStateDict(header, (e) => bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end), source);
}

/**
 * The state dict of a safetensors file from its validated header and each tensor's raw bytes
 * (`bytesOf`: a slice of the whole file in memory, or one positioned read per tensor from disk).
 */
export function safetensorsStateDict(
  header: SafetensorsHeader,
  bytesOf: (entry: SafetensorsEntry) => Uint8Array,
  source: string,
): RawStateDict {
  const tensors = new Map<string, RawTensor>();
  for (const e of header.entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, toRaw(decodeElements(e.dtype, bytesOf(e), n, `${source}: tensor '${e.name}'`), e.shape, isFloatElement(e.dtype)));
  }
  return { format: 'safetensors', tensors: stripWrapperPrefixes(tensors), metadata: header.metadata };
}

function tensorEntries(value: unknown): [string, TensorRef][] {
  if (!(value instanceof Map)) return [];
  return [...value.entries()].filter((e): e is [string, TensorRef] => typeof e[0] === 'string' && e[1] instanceof TensorRef);
}

function kindOf(value: unknown): string {
  if (value instanceof Map) return 'dict';
  if (Array.isArray(value)) return 'list or tuple';
  if (value instanceof TensorRef) return 'single tensor';
  return value === null ? 'None' : typeof value;
}

/** The state dict inside a torch object, and the wrapper dict around it (if any). */
function findStateDict(
  value: unknown,
  source: string,
  warn: (message: string) => void,
): { entries: [string, TensorRef][]; wrapper?: Map<unknown, unknown> } {
  if (!(value instanceof Map)) {
    throw new FormatError(`${source}: the checkpoint holds a ${kindOf(value)}, not a dict of tensors; save model.state_dict() in PyTorch.`);
  }
  for (const key of STATE_DICT_WRAPPER_KEYS) {
    const entries = tensorEntries(value.get(key));
    if (entries.length > 0) {
      noteOtherStateDicts(value, key, source, warn);
      return { entries, wrapper: value };
    }
  }
  const own = tensorEntries(value);
  if (own.length > 0) return { entries: own };
  const keys = [...value.keys()].map(String);
  throw new FormatError(
    `${source}: no state dict found: the checkpoint is a dict with keys [${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''}] ` +
      `and none holds tensors by name (tried ${STATE_DICT_WRAPPER_KEYS.join(', ')}).`,
  );
}

/**
 * A wrapper dict may hold several state dicts (`model` and `model_ema`, timm's `state_dict` and
 * `state_dict_ema`): the first in {@link STATE_DICT_WRAPPER_KEYS} order is used, and a one-line note
 * says which and names the others, with the way to pick another that works whatever tool reads it.
 */
function noteOtherStateDicts(wrapper: Map<unknown, unknown>, used: string, source: string, warn: (message: string) => void): void {
  const others = [...wrapper.keys()].filter(
    (k): k is string => typeof k === 'string' && k !== used && tensorEntries(wrapper.get(k)).length > 0,
  );
  if (others.length === 0) return;
  const all = [used, ...others].map((k) => `'${k}'`).join(', ');
  warn(
    `note: ${source} holds ${others.length + 1} state dicts (${all}); using '${used}'. ` +
      `To use another, save it alone in PyTorch: torch.save(checkpoint['${others[0]}'], '${others[0]}.pth').`,
  );
}

/** Scalar entries of a wrapper dict (`epoch`, `best_prec1`, `arch`...) as strings. */
function wrapperMetadata(wrapper: Map<unknown, unknown> | undefined, obj: TorchObject): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of wrapper ?? []) {
    if (typeof k !== 'string') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') meta[k] = String(v);
    else if (v instanceof TensorRef && v.shape.reduce((a, b) => a * b, 1) === 1) meta[k] = String(obj.materialize(v, k)[0]);
  }
  return meta;
}

function torchStateDict(obj: TorchObject, format: WeightsFormat, source: string, warn = (m: string) => console.warn(m)): RawStateDict {
  const { entries, wrapper } = findStateDict(obj.value, source, warn);
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    tensors.set(name, toRaw(obj.materialize(t, name), [...t.shape], isFloatElement(t.storage.elementType)));
  }
  return { format, tensors: stripWrapperPrefixes(tensors), metadata: wrapperMetadata(wrapper, obj) };
}

/**
 * Removes a wrapper's prefix from every key. PyTorch's own wrappers (`module.` of DataParallel and
 * DistributedDataParallel, `_orig_mod.` of torch.compile) go whenever every key has them.
 * Any other prefix of one to three name segments that every key carries
 * (`model.`/`net.`/`backbone.` of a Lightning module or a training script's wrapper, and nestings)
 * goes when the keys without it fit a known naming convention better than with it. A prefix that not
 * every key has, or whose removal fits no convention, is kept: the convention check then names the keys.
 */
export function stripWrapperPrefixes<T>(tensors: Map<string, T>): Map<string, T> {
  const prefix = wrapperPrefix([...tensors.keys()]);
  return prefix ? new Map([...tensors].map(([k, v]) => [k.slice(prefix.length), v])) : tensors;
}

/** The wrapper prefix of `keys` that {@link stripWrapperPrefixes} removes ('' for none). */
export function wrapperPrefix(keys: string[]): string {
  const all = (prefix: string) => keys.length > 0 && keys.every((k) => k.startsWith(prefix) && k.length > prefix.length);
  let chosen = '';
  const torchWrapper = () => TORCH_WRAPPERS.find((p) => all(chosen + p));
  for (let w = torchWrapper(); w; w = torchWrapper()) chosen += w;
  let best = bestConventionFit(keys.map((k) => k.slice(chosen.length)));
  let prefix = chosen;
  for (let depth = 0; depth < MAX_WRAPPER_SEGMENTS && keys.length > 0; depth++) {
    const next = `${prefix}${keys[0].slice(prefix.length).split('.')[0]}.`;
    if (next === `${prefix}.` || !all(next)) break;
    prefix = next;
    const fit = bestConventionFit(keys.map((k) => k.slice(prefix.length)));
    if (fit > best) [best, chosen] = [fit, prefix];
  }
  return chosen;
}
