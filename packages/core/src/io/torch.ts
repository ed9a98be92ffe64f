/**
 * PyTorch `torch.save` files, read from bytes with no Python: the zip format (1.6+: `<name>/data.pkl`
 * plus one raw little-endian storage per `<name>/data/<key>` entry) and the legacy format (a
 * sequence of pickles: magic number, protocol, system info, the object, the storage keys, then each
 * storage as an 8-byte element count and its raw bytes). The object pickle goes through the
 * allow-list of {@link torchGlobals}; tensors are strided views of storages, gathered here.
 */
import { FormatError, fmtShape } from '../errors.js';
import { ELEMENT_BYTES, decodeElements } from './elements.js';
import { unpickle } from './pickle.js';
import { type ZipArchive, type ZipSource, openZip } from './zip.js';
import { StorageRef, StorageTypeGlobal, TensorRef, torchGlobals } from './torch-pickle.js';

/** The magic number that opens a legacy `torch.save` file (a pickled int). */
export const TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** What a torch file unpickles to, with its tensors still lazy. */
export interface TorchObject {
  /** The unpickled object: Maps, arrays, primitives and {@link TensorRef}s. */
  value: unknown;
  /** Gathers one tensor's elements (contiguous, row-major) from its storage. */
  materialize(t: TensorRef, name: string): Float32Array | Int32Array | Uint8Array;
}

function persistentStorage(pid: unknown, source: string, legacy: boolean): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage')
    throw new FormatError(`${source}: unknown persistent id ${Array.isArray(pid) ? String(pid[0]) : typeof pid}; the file is corrupt.`);
  const [, type, key, , numel, view] = pid as unknown[];
  if (!(type instanceof StorageTypeGlobal)) throw new FormatError(`${source}: a storage without a storage type; the file is corrupt.`);
  if (typeof key !== 'string' && typeof key !== 'number') throw new FormatError(`${source}: a storage with key ${String(key)}.`);
  const ref: StorageRef = { key: String(key), elementType: type.storageType.elementType, viewOffset: 0 };
  if (legacy && Number.isSafeInteger(numel)) ref.numel = numel as number;
  if (legacy && Array.isArray(view)) {
    // (view_key, offset, view_size): a view into the root storage `key`.
    ref.viewOffset = Number(view[1]);
    ref.viewNumel = Number(view[2]);
  }
  return ref;
}

/** Contiguous strides of `shape`. */
function contiguousStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The strided view `t` of `storage` as a contiguous array (a subarray when it already is one). */
function gather<T extends Float32Array | Int32Array | Uint8Array>(storage: T, base: number, t: TensorRef, name: string, source: string): T {
  const { shape, stride } = t;
  const n = shape.reduce((a, b) => a * b, 1);
  const ctor = storage.constructor as new (n: number) => T;
  if (n === 0) return new ctor(0);
  const last = base + shape.reduce((s, d, i) => s + (d - 1) * stride[i], 0);
  if (last >= storage.length) {
    throw new FormatError(
      `${source}: tensor '${name}' ${fmtShape(shape)} (offset ${t.offset}, strides ${fmtShape(stride)}) reaches past its storage of ${storage.length} elements; the file is corrupt.`,
    );
  }
  // Contiguous: a view, not a copy (the storage is this file's own decoded array, and tensor values are never written in place).
  if (contiguousStrides(shape).every((s, i) => s === stride[i] || shape[i] === 1)) return storage.subarray(base, base + n) as T;
  const out = new ctor(n);
  const idx = new Array<number>(shape.length).fill(0);
  let src = base;
  for (let i = 0; i < n; i++) {
    out[i] = storage[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        src += stride[d];
        break;
      }
      src -= (shape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Decodes storages on first use (several tensors may share one) and gathers tensors from them. */
function materializer(bytesOf: (ref: StorageRef) => Uint8Array, source: string): TorchObject['materialize'] {
  const decoded = new Map<string, Float32Array | Int32Array | Uint8Array>();
  return (t, name) => {
    const ref = t.storage;
    const cacheKey = `${ref.key}:${ref.elementType}`;
    let storage = decoded.get(cacheKey);
    if (!storage) {
      const raw = bytesOf(ref);
      const size = ELEMENT_BYTES[ref.elementType];
      if (raw.length % size)
        throw new FormatError(
          `${source}: storage '${ref.key}' has ${raw.length} bytes, not a whole number of ${ref.elementType} elements.`,
        );
      storage = decodeElements(ref.elementType, raw, raw.length / size, `${source}: tensor '${name}'`);
      decoded.set(cacheKey, storage);
    }
    return gather(storage, ref.viewOffset + t.offset, t, name, source);
  };
}

/**
 * Whether zip entries are a TorchScript archive (`torch.jit.save`): next to `data.pkl` it holds the
 * model's code (`<name>/code/__torch__/...`) and `constants.pkl`, which `torch.save` never writes.
 */
export function isTorchScript(names: string[]): boolean {
  return names.some((n) => /^([^/]+\/)?(code\/|constants\.pkl$)/.test(n));
}

/**
 * Reads a zip-format `torch.save` file: from its bytes, or from a {@link ZipSource} that reads the
 * file in parts (then each storage is read when a tensor needs it, into a buffer of its own).
 */
export function readTorchZip(src: Uint8Array | ZipSource, source: string): TorchObject {
  const corrupt = (e: unknown) =>
    new FormatError(`${source}: this PyTorch zip checkpoint is truncated or corrupt (${(e as Error).message}); download or copy it again.`);
  const read = (name: string) => {
    try {
      return archive.read(name);
    } catch (e) {
      throw corrupt(e);
    }
  };
  let archive: ZipArchive;
  try {
    archive = openZip(src);
  } catch (e) {
    throw corrupt(e);
  }
  if (isTorchScript(archive.names)) {
    throw new FormatError(
      `${source}: a TorchScript archive (torch.jit.save: the model's code with its weights), not a state dict; ` +
        "save model.state_dict() with torch.save instead (for a scripted model: torch.save(torch.jit.load(file).state_dict(), 'weights.pth')).",
    );
  }
  const pkl = archive.names.find((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (!pkl) {
    throw new FormatError(
      `${source}: a zip file without a data.pkl entry, so not a torch.save checkpoint (entries: ${archive.names.slice(0, 5).join(', ')}).`,
    );
  }
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = read(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order).trim() !== 'little') {
    throw new FormatError(`${source}: the checkpoint was saved with big-endian storages, which resnet-ts does not read.`);
  }
  const { value } = unpickle(read(pkl)!, {
    findGlobal: torchGlobals(source),
    persistentLoad: (pid) => persistentStorage(pid, source, false),
    source,
  });
  const bytesOf = (ref: StorageRef): Uint8Array => {
    const data = read(`${prefix}data/${ref.key}`);
    if (!data) throw new FormatError(`${source}: storage '${ref.key}' is missing from the zip; the file is truncated or corrupt.`);
    return data;
  };
  return { value, materialize: materializer(bytesOf, source) };
}

/** Reads a legacy (pre-1.6, `_use_new_zipfile_serialization=False`) `torch.save` file. */
export function readTorchLegacy(bytes: Uint8Array, source: string): TorchObject {
  const plain = { findGlobal: torchGlobals(source), source };
  const magic = unpickle(bytes, plain);
  if (magic.value !== TORCH_LEGACY_MAGIC) {
    throw new FormatError(`${source}: a pickle, but not a torch.save file (no magic number).`);
  }
  const protocol = unpickle(bytes, plain, magic.end);
  if (protocol.value !== 1001)
    throw new FormatError(`${source}: torch.save protocol ${String(protocol.value)} is not supported (1001 is).`);
  const sysInfo = unpickle(bytes, plain, protocol.end);
  const info = sysInfo.value instanceof Map ? sysInfo.value : new Map();
  if (info.get('little_endian') === false)
    throw new FormatError(`${source}: the checkpoint was saved on a big-endian machine, which resnet-ts does not read.`);
  return readLegacyStorages(bytes, source, sysInfo.end);
}

function readLegacyStorages(bytes: Uint8Array, source: string, objStart: number): TorchObject {
  const roots = new Map<string, StorageRef>();
  const plain = { findGlobal: torchGlobals(source), source };
  const persistentLoad = (pid: unknown) => {
    const ref = persistentStorage(pid, source, true);
    if (!roots.has(ref.key)) roots.set(ref.key, ref);
    return ref;
  };
  const obj = unpickle(bytes, { ...plain, persistentLoad }, objStart);
  const keysPickle = unpickle(bytes, plain, obj.end);
  if (!Array.isArray(keysPickle.value))
    throw new FormatError(`${source}: the storage key list is missing; the file is truncated or corrupt.`);
  const data = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keysPickle.end;
  for (const k of keysPickle.value as unknown[]) {
    const key = String(k);
    const ref = roots.get(key);
    if (!ref) throw new FormatError(`${source}: storage '${key}' is listed but no tensor uses it; the file is corrupt.`);
    if (pos + 8 > bytes.length)
      throw new FormatError(`${source}: the file ends before storage '${key}'; it is truncated. Copy or download it again.`);
    const numel = Number(view.getBigInt64(pos, true));
    const nbytes = numel * ELEMENT_BYTES[ref.elementType];
    if (numel < 0 || pos + 8 + nbytes > bytes.length) {
      throw new FormatError(
        `${source}: storage '${key}' (${numel} ${ref.elementType} elements) runs past the end of the file; it is truncated. Copy or download it again.`,
      );
    }
    data.set(key, bytes.subarray(pos + 8, pos + 8 + nbytes));
    pos += 8 + nbytes;
  }
  const bytesOf = (ref: StorageRef): Uint8Array => {
    const raw = data.get(ref.key);
    if (!raw) throw new FormatError(`${source}: storage '${ref.key}' is missing; the file is truncated or corrupt.`);
    return raw;
  };
  return { value: obj.value, materialize: materializer(bytesOf, source) };
}
