/**
 * The allow-list of Python globals a `torch.save` state dict needs, and what each builds: tensors
 * (as strided views of storages, resolved later), OrderedDicts (as Maps) and storage-type tokens.
 * Any other global is refused with a FormatError that names it; nothing is ever executed.
 */
import { FormatError } from '../errors.js';
import { ElementType, decodeElements } from './elements.js';
import { PickleGlobal, PickleStateful } from './pickle.js';

/** Storage classes of `torch.save` and the element type each holds. */
export const TORCH_STORAGE_TYPES: Record<string, ElementType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** A storage-type token (`torch.FloatStorage`), only meaningful inside a persistent id. */
export class StorageType {
  constructor(
    readonly name: string,
    readonly elementType: ElementType,
  ) {}
}

/** A storage a persistent id names: which key holds its bytes, its element type and size. */
export interface StorageRef {
  key: string;
  elementType: ElementType;
  /** Elements in the storage (legacy files: from the persistent id; zip files: from the entry size). */
  numel?: number;
  /** Legacy storage views: element offset into the root storage. */
  viewOffset: number;
  viewNumel?: number;
}

/** A tensor as pickled: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** An object the allow-list lets through that holds no tensor data (e.g. a parameter's state). */
class InertObject implements PickleStateful {
  setState(): void {}
}

function intList(x: unknown, what: string, source: string): number[] {
  if (!Array.isArray(x) || !x.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new FormatError(
      `${source}: ${what} ${JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? String(v) : v))} is not a list of sizes.`,
    );
  }
  return x as number[];
}

function rebuildTensor(args: unknown[], source: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (typeof storage !== 'object' || storage === null || !('key' in storage)) {
    throw new FormatError(`${source}: a tensor's storage is not a storage reference; the file is corrupt.`);
  }
  if (!Number.isSafeInteger(offset) || (offset as number) < 0)
    throw new FormatError(`${source}: a tensor has storage offset ${String(offset)}.`);
  const shape = intList(size, 'tensor size', source);
  const strides = intList(stride, 'tensor stride', source);
  if (shape.length !== strides.length)
    throw new FormatError(`${source}: a tensor has ${shape.length} sizes but ${strides.length} strides.`);
  return new TensorRef(storage as StorageRef, offset as number, shape, strides);
}

function orderedDict(args: unknown[], source: string): Map<unknown, unknown> {
  const d = new Map<unknown, unknown>();
  const items = args[0];
  if (items === undefined || items === null) return d;
  if (!Array.isArray(items)) throw new FormatError(`${source}: OrderedDict built from something that is not a list of pairs.`);
  for (const pair of items) {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new FormatError(`${source}: OrderedDict built from something that is not a list of pairs.`);
    d.set(pair[0], pair[1]);
  }
  return d;
}

function tensorArg(x: unknown, what: string, source: string): TensorRef {
  if (!(x instanceof TensorRef)) throw new FormatError(`${source}: ${what} of something that is not a tensor.`);
  return x;
}

/** A `numpy.dtype` as pickled: its type code (`f8`, `i8`...) and, after BUILD, its byte order. */
class NumpyDtype implements PickleStateful {
  byteOrder = '<';
  constructor(readonly code: string) {}
  setState(state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteOrder = state[1];
  }
}

const NUMPY_SCALAR_TYPES: Record<string, ElementType> = {
  f8: 'F64',
  f4: 'F32',
  f2: 'F16',
  i8: 'I64',
  i4: 'I32',
  i2: 'I16',
  i1: 'I8',
  u1: 'U8',
  b1: 'BOOL',
};

/** `numpy.core.multiarray.scalar(dtype, bytes)`: a numpy number in a wrapper dict (`best_acc`), as a JS number. */
function numpyScalar(args: unknown[], source: string): number {
  const [dtype, bytes] = args;
  const type = dtype instanceof NumpyDtype ? NUMPY_SCALAR_TYPES[dtype.code] : undefined;
  if (!type || !(bytes instanceof Uint8Array) || (dtype as NumpyDtype).byteOrder === '>') {
    throw new FormatError(`${source}: a numpy scalar of type ${dtype instanceof NumpyDtype ? dtype.code : '?'} is not supported.`);
  }
  return decodeElements(type, bytes, 1, `${source}: a numpy scalar`)[0];
}

/** `_codecs.encode(text, 'latin1')`: how protocol-2 pickles carry `bytes`. */
function latin1Bytes(args: unknown[], source: string): Uint8Array {
  const [text, encoding] = args;
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1') || [...text].some((c) => c.charCodeAt(0) > 255)) {
    throw new FormatError(`${source}: _codecs.encode is allowed only to turn latin1 text into bytes.`);
  }
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Types `_rebuild_from_type_v2` may rebuild into: they keep the tensor's data as it is. */
const PLAIN_TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter', 'torch._tensor.Tensor']);

/**
 * Returns `findGlobal` for {@link unpickle}: the allow-list. Refusals name the global and say why
 * (`source` names the file).
 */
export function torchGlobals(source: string): (module: string, name: string) => PickleGlobal {
  const table = new Map<string, (args: unknown[]) => unknown>([
    ['torch._utils._rebuild_tensor_v2', (a) => rebuildTensor(a, source)],
    ['torch._utils._rebuild_tensor', (a) => rebuildTensor(a, source)],
    ['torch._utils._rebuild_parameter', (a) => tensorArg(a[0], '_rebuild_parameter', source)],
    ['torch._utils._rebuild_parameter_with_state', (a) => tensorArg(a[0], '_rebuild_parameter_with_state', source)],
    [
      'torch._tensor._rebuild_from_type_v2',
      (a) => {
        const [fn, type, args] = a;
        const typeName = type instanceof PickleGlobal ? type.fullName : '?';
        if (!(fn instanceof PickleGlobal) || !PLAIN_TENSOR_TYPES.has(typeName)) {
          throw new FormatError(`${source}: a tensor subclass ('${typeName}') is not supported; save plain tensors (model.state_dict()).`);
        }
        return fn.construct(args as unknown[]);
      },
    ],
    ['collections.OrderedDict', (a) => orderedDict(a, source)],
    ['torch.nn.parameter.Parameter', () => new InertObject()],
    ['torch.Tensor', () => new InertObject()],
    ['torch._tensor.Tensor', () => new InertObject()],
    // Plain data that training scripts put next to the state dict (timm's train.py: `args`, numpy metrics).
    ['argparse.Namespace', () => new InertObject()],
    ['_codecs.encode', (a) => latin1Bytes(a, source)],
    ['numpy.dtype', (a) => new NumpyDtype(String(a[0]))],
    ['numpy.core.multiarray.scalar', (a) => numpyScalar(a, source)],
    ['numpy._core.multiarray.scalar', (a) => numpyScalar(a, source)],
  ]);
  return (module, name) => {
    const full = `${module}.${name}`;
    const fn = table.get(full);
    if (fn) return new PickleGlobal(module, name, fn);
    if (module === 'torch' && Object.hasOwn(TORCH_STORAGE_TYPES, name)) {
      return new StorageTypeGlobal(module, name, new StorageType(name, TORCH_STORAGE_TYPES[name]), source);
    }
    // NumPy arrays in place of tensors (a state dict of `.numpy()` values) is not a pickled model.
    const advice = /^numpy\.(_?core\.multiarray\._reconstruct|ndarray)$/.test(full)
      ? 'It holds NumPy arrays, not torch tensors: save {k: torch.from_numpy(v) for k, v in d.items()} with torch.save, or write the arrays as safetensors.'
      : full === 'torch._utils._rebuild_meta_tensor_no_storage'
        ? "It holds tensors on PyTorch's 'meta' device, which have shapes but no values (a model made with device='meta' or init_empty_weights): load or initialise real weights in PyTorch, then save model.state_dict()."
        : 'If this is a whole pickled model rather than a state dict, save model.state_dict() in PyTorch, or convert the file to safetensors.';
    throw new FormatError(
      `${source}: refused to load: the pickle names the Python global '${full}', which is not on resnet-ts's allow-list ` +
        '(tensor rebuild functions, storage types, OrderedDict, numpy scalars, argparse.Namespace); nothing from it was run. ' +
        advice,
    );
  };
}

/** A storage-type global: a token for persistent ids, never callable. */
export class StorageTypeGlobal extends PickleGlobal {
  constructor(
    module: string,
    name: string,
    readonly storageType: StorageType,
    source: string,
  ) {
    super(module, name, () => {
      throw new FormatError(`${source}: the pickle calls storage type '${module}.${name}' directly; the file is corrupt or hostile.`);
    });
  }
}
