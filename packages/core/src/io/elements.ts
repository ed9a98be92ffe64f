/**
 * Raw little-endian element bytes -> the typed arrays tfjs holds: floats (F64/F32/F16/BF16) become
 * Float32Array, integers Int32Array (I64 outside the int32 range is an error), BOOL Uint8Array.
 * Shared by the safetensors and the PyTorch readers.
 */
import { FormatError } from '../errors.js';
import { bf16ToFloat, halfToFloat } from './half.js';

/** Element types of the weight files resnet-ts reads (safetensors' names). */
export type ElementType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'BOOL';

/** Bytes per element of each type. */
export const ELEMENT_BYTES: Record<ElementType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  U16: 2,
  BOOL: 1,
};

/** Whether elements of this type become float32. */
export function isFloatElement(t: ElementType): boolean {
  return t === 'F64' || t === 'F32' || t === 'F16' || t === 'BF16';
}

/** Throws unless the host is little-endian (every format here is). */
export function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new FormatError('Reading weight files needs a little-endian host.');
  }
}

/**
 * From this many elements on, an aligned float32 tensor is a view of the file's bytes instead of a
 * copy (a ResNet-50's 100 MB of weights: 60 ms and a second 100 MB less). Smaller tensors (biases,
 * batch-norm statistics) are copied, so that a few kilobytes of the model never keep the whole
 * file's buffer alive: the big ones are either reordered into new storage when loaded (PyTorch's
 * layout) or are the model's storage themselves. The caller must not reuse `bytes` afterwards.
 */
const F32_VIEW_MIN = 16384;

/** Copies `bytes` into a fresh, aligned buffer. */
function aligned(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}

function int64ToInt32(buf: ArrayBuffer, n: number, what: string): Int32Array {
  const b = new BigInt64Array(buf);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = b[i];
    if (v > 2147483647n || v < -2147483648n) throw new FormatError(`${what} (I64) holds ${v}, outside the int32 range tfjs supports.`);
    out[i] = Number(v);
  }
  return out;
}

function halfs(buf: ArrayBuffer, n: number, conv: (h: number) => number): Float32Array {
  const h = new Uint16Array(buf);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = conv(h[i]);
  return out;
}

/**
 * Decodes `bytes` (exactly `count` elements of `type`). `what` names the tensor in errors, e.g.
 * `model.pth: tensor 'fc.weight'`. A large aligned float32 tensor comes back as a view of `bytes`
 * (from `F32_VIEW_MIN` elements on, see above); everything else is a fresh array.
 */
export function decodeElements(type: ElementType, bytes: Uint8Array, count: number, what: string): Float32Array | Int32Array | Uint8Array {
  assertLittleEndian();
  if (bytes.length !== count * ELEMENT_BYTES[type]) {
    throw new FormatError(`${what} needs ${count * ELEMENT_BYTES[type]} bytes; got ${bytes.length}.`);
  }
  if (type === 'F32' && count >= F32_VIEW_MIN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const buf = aligned(bytes);
  switch (type) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'F16':
      return halfs(buf, count, halfToFloat);
    case 'BF16':
      return halfs(buf, count, bf16ToFloat);
    case 'I64':
      return int64ToInt32(buf, count, what);
    case 'I32':
      return new Int32Array(buf);
    case 'I16':
      return Int32Array.from(new Int16Array(buf));
    case 'I8':
      return Int32Array.from(new Int8Array(buf));
    case 'U8':
      return Int32Array.from(new Uint8Array(buf));
    case 'U16':
      return Int32Array.from(new Uint16Array(buf));
    case 'BOOL':
      return new Uint8Array(buf);
  }
}
