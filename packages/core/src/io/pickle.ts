/**
 * A Python pickle reader that executes nothing. It interprets the opcodes of protocols 0-5 that
 * `torch.save` and `pickle.dump` emit for data (numbers, strings, bytes, tuples, lists, dicts, sets)
 * and hands every reference to a Python global (GLOBAL / STACK_GLOBAL / INST) to the caller's
 * `findGlobal`, which returns an allow-listed {@link PickleGlobal} or throws. REDUCE, NEWOBJ and
 * BUILD only ever call functions that `findGlobal` handed out (or the `setState` of objects those
 * functions made); anything else on the stack is data and cannot be called. The opcodes that need
 * something outside the file (EXT1/2/4: copyreg's extension registry; NEXT_BUFFER: protocol 5's
 * out-of-band buffers) are refused by name.
 *
 * Why not the `pickleparser` npm package: 0.2.1 reads LONG1 as unsigned, rejects LONG1 values
 * longer than 8 bytes (the legacy `torch.save` magic number is a 10-byte LONG1), and by default
 * constructs a placeholder object for any unknown global instead of refusing it.
 */
import { FormatError } from '../errors.js';
import { Cursor, bigLine, decodeLong, floatLine, intLine, rawUnicodeEscape, unquote } from './pickle-bytes.js';

/** A Python global the caller allows: what REDUCE / NEWOBJ do with it. */
export class PickleGlobal {
  constructor(
    /** Python module, e.g. `torch._utils`. */
    readonly module: string,
    /** Qualified name inside the module, e.g. `_rebuild_tensor_v2`. */
    readonly name: string,
    /** `f(*args)` (REDUCE) or `cls.__new__(cls, *args)` (NEWOBJ): builds the value from plain data. */
    readonly construct: (args: unknown[]) => unknown,
  ) {}

  /** `module.name`. */
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object built by an allowed global that accepts BUILD (`__setstate__`). */
export interface PickleStateful {
  /** Applies the pickled state (BUILD). */
  setState(state: unknown): void;
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Returns the allowed global `module.name`, or throws (a FormatError naming it) to refuse it. */
  findGlobal(module: string, name: string): PickleGlobal;
  /** Resolves a persistent id (PERSID / BINPERSID); without it, a persistent id is an error. */
  persistentLoad?(pid: unknown): unknown;
  /** Names the data in error messages. */
  source?: string;
}

/** What {@link unpickle} read: the value and the offset just past the STOP opcode. */
export interface UnpickleResult {
  value: unknown;
  end: number;
}

const MARK = Symbol('mark');

/** Python tuples arrive as frozen arrays. */
function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

function isStateful(x: unknown): x is PickleStateful {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { setState?: unknown }).setState === 'function' &&
    !(x instanceof Map) &&
    !Array.isArray(x)
  );
}

/** The interpreter state of one pickle. */
class Machine {
  stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();

  constructor(
    readonly c: Cursor,
    readonly options: UnpickleOptions,
  ) {}

  get source(): string {
    return this.c.source;
  }

  pop(): unknown {
    if (this.stack.length === 0) throw new FormatError(`${this.source}: the pickle pops an empty stack; the file is corrupt.`);
    const v = this.stack.pop();
    if (v === MARK) throw new FormatError(`${this.source}: the pickle uses a MARK as a value; the file is corrupt.`);
    return v;
  }

  top(): unknown {
    const v = this.stack[this.stack.length - 1];
    if (this.stack.length === 0 || v === MARK)
      throw new FormatError(`${this.source}: the pickle reads an empty stack; the file is corrupt.`);
    return v;
  }

  /** Pops everything down to the last MARK (and the MARK). */
  popMark(): unknown[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) throw new FormatError(`${this.source}: the pickle has no MARK where one is needed; the file is corrupt.`);
    const items = this.stack.slice(i + 1);
    this.stack.length = i;
    return items;
  }

  global(module: string, name: string): PickleGlobal {
    const g = this.options.findGlobal(module, name);
    if (!(g instanceof PickleGlobal)) throw new FormatError(`${this.source}: global '${module}.${name}' is not allowed.`);
    return g;
  }

  call(fn: unknown, args: unknown, how: string): unknown {
    if (!(fn instanceof PickleGlobal))
      throw new FormatError(`${this.source}: the pickle applies ${how} to data, not to an allowed global; the file is corrupt or hostile.`);
    if (!Array.isArray(args)) throw new FormatError(`${this.source}: ${how} of '${fn.fullName}' without an argument tuple.`);
    return fn.construct(args as unknown[]);
  }

  setItems(dict: unknown, items: unknown[]): void {
    if (!(dict instanceof Map)) throw new FormatError(`${this.source}: SETITEM(S) on something that is not a dict.`);
    if (items.length % 2) throw new FormatError(`${this.source}: SETITEMS with an odd number of items.`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  build(obj: unknown, state: unknown): void {
    if (isStateful(obj)) obj.setState(state);
    // An OrderedDict's instance __dict__ (torch state dicts carry `_metadata` there): not needed.
    else if (!(obj instanceof Map))
      throw new FormatError(`${this.source}: BUILD on an object no allowed global made; the file is corrupt or hostile.`);
  }

  persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad)
      throw new FormatError(`${this.source}: the pickle refers to external data (persistent id) that this reader does not provide.`);
    return this.options.persistentLoad(pid);
  }
}

type Handler = (m: Machine) => void;
const STOP = 0x2e;

function push(f: (m: Machine) => unknown): Handler {
  return (m) => void m.stack.push(f(m));
}

function tuple2(m: Machine): readonly unknown[] {
  const b = m.pop();
  return tuple([m.pop(), b]);
}

function tuple3(m: Machine): readonly unknown[] {
  const c = m.pop();
  const b = m.pop();
  return tuple([m.pop(), b, c]);
}

function stackGlobal(m: Machine): PickleGlobal {
  const name = m.pop();
  const module = m.pop();
  if (typeof module !== 'string' || typeof name !== 'string') throw new FormatError(`${m.source}: STACK_GLOBAL without a module and name.`);
  return m.global(module, name);
}

/** Opcode -> handler, by the names of CPython's pickletools. */
const OPS = new Map<number, Handler>([
  [
    0x80,
    (m) => {
      // PROTO
      const v = m.c.u8();
      if (v > 5) throw new FormatError(`${m.source}: pickle protocol ${v} is newer than this reader knows (0-5).`);
    },
  ],
  [0x95, (m) => void m.c.take(8)], // FRAME (frames are read inline)
  [0x28, (m) => void m.stack.push(MARK)], // MARK
  [0x30, (m) => void m.pop()], // POP
  [0x31, (m) => void m.popMark()], // POP_MARK
  [0x32, push((m) => m.top())], // DUP
  [0x70, (m) => void m.memo.set(parseInt(m.c.line(), 10), m.top())], // PUT
  [0x71, (m) => void m.memo.set(m.c.u8(), m.top())], // BINPUT
  [0x72, (m) => void m.memo.set(m.c.u32(), m.top())], // LONG_BINPUT
  [0x94, (m) => void m.memo.set(m.memo.size, m.top())], // MEMOIZE
  [0x67, push((m) => memoGet(m, parseInt(m.c.line(), 10)))], // GET
  [0x68, push((m) => memoGet(m, m.c.u8()))], // BINGET
  [0x6a, push((m) => memoGet(m, m.c.u32()))], // LONG_BINGET
  [0x4e, push(() => null)], // NONE
  [0x88, push(() => true)], // NEWTRUE
  [0x89, push(() => false)], // NEWFALSE
  [0x49, push((m) => intLine(m.c.line()))], // INT
  [0x4a, push((m) => m.c.i32())], // BININT
  [0x4b, push((m) => m.c.u8())], // BININT1
  [0x4d, push((m) => m.c.u16())], // BININT2
  [0x4c, push((m) => bigLine(m.c.line()))], // LONG
  [0x8a, push((m) => decodeLong(m.c.take(m.c.u8())))], // LONG1
  [0x8b, push((m) => decodeLong(m.c.take(m.c.u32())))], // LONG4
  [0x46, push((m) => floatLine(m.c.line()))], // FLOAT
  [0x47, push((m) => m.c.f64be())], // BINFLOAT
  [0x53, push((m) => unquote(m.c.line(), m.source))], // STRING
  [0x54, push((m) => m.c.text(m.c.u32(), 'latin1'))], // BINSTRING
  [0x55, push((m) => m.c.text(m.c.u8(), 'latin1'))], // SHORT_BINSTRING
  [0x56, push((m) => rawUnicodeEscape(m.c.line()))], // UNICODE
  [0x58, push((m) => m.c.text(m.c.u32(), 'utf-8'))], // BINUNICODE
  [0x8c, push((m) => m.c.text(m.c.u8(), 'utf-8'))], // SHORT_BINUNICODE
  [0x8d, push((m) => m.c.text(m.c.u64(), 'utf-8'))], // BINUNICODE8
  [0x42, push((m) => m.c.take(m.c.u32()))], // BINBYTES
  [0x43, push((m) => m.c.take(m.c.u8()))], // SHORT_BINBYTES
  [0x8e, push((m) => m.c.take(m.c.u64()))], // BINBYTES8
  [0x96, push((m) => m.c.take(m.c.u64()))], // BYTEARRAY8
  [0x29, push(() => tuple([]))], // EMPTY_TUPLE
  [0x74, push((m) => tuple(m.popMark()))], // TUPLE
  [0x85, push((m) => tuple([m.pop()]))], // TUPLE1
  [0x86, push(tuple2)], // TUPLE2
  [0x87, push(tuple3)], // TUPLE3
  [0x5d, push(() => [])], // EMPTY_LIST
  [0x6c, push((m) => m.popMark())], // LIST
  [
    0x61,
    (m) => {
      // APPEND
      const v = m.pop();
      listOf(m, m.top()).push(v);
    },
  ],
  [
    0x65,
    (m) => {
      // APPENDS
      const items = m.popMark();
      listOf(m, m.top()).push(...items);
    },
  ],
  [0x7d, push(() => new Map())], // EMPTY_DICT
  [
    0x64,
    push((m) => {
      // DICT
      const d = new Map();
      m.setItems(d, m.popMark());
      return d;
    }),
  ],
  [
    0x73,
    (m) => {
      // SETITEM
      const v = m.pop();
      const k = m.pop();
      m.setItems(m.top(), [k, v]);
    },
  ],
  [
    0x75,
    (m) => {
      // SETITEMS
      const items = m.popMark();
      m.setItems(m.top(), items);
    },
  ],
  [0x8f, push(() => new Set())], // EMPTY_SET
  [0x91, push((m) => new Set(m.popMark()))], // FROZENSET
  [
    0x90,
    (m) => {
      // ADDITEMS
      const items = m.popMark();
      const s = m.top();
      if (!(s instanceof Set)) throw new FormatError(`${m.source}: ADDITEMS on something that is not a set.`);
      for (const x of items) s.add(x);
    },
  ],
  [
    0x63,
    push((m) => {
      // GLOBAL
      const module = m.c.line();
      return m.global(module, m.c.line());
    }),
  ],
  [0x93, push(stackGlobal)], // STACK_GLOBAL
  [
    0x69,
    push((m) => {
      // INST: module and name lines, arguments since MARK
      const module = m.c.line();
      const g = m.global(module, m.c.line());
      return m.call(g, m.popMark(), 'INST');
    }),
  ],
  [
    0x6f,
    push((m) => {
      // OBJ: MARK cls args...
      const [cls, ...args] = m.popMark();
      return m.call(cls, args, 'OBJ');
    }),
  ],
  [
    0x52,
    push((m) => {
      // REDUCE
      const args = m.pop();
      return m.call(m.pop(), args, 'REDUCE');
    }),
  ],
  [
    0x81,
    push((m) => {
      // NEWOBJ
      const args = m.pop();
      return m.call(m.pop(), args, 'NEWOBJ');
    }),
  ],
  [
    0x92,
    push((m) => {
      // NEWOBJ_EX (keyword arguments ignored: allowed globals take positional data only)
      m.pop();
      const args = m.pop();
      return m.call(m.pop(), args, 'NEWOBJ_EX');
    }),
  ],
  [
    0x62,
    (m) => {
      // BUILD
      const state = m.pop();
      m.build(m.top(), state);
    },
  ],
  [0x50, push((m) => m.persistent(m.c.line()))], // PERSID
  [0x51, push((m) => m.persistent(m.pop()))], // BINPERSID
  [0x98, () => undefined], // READONLY_BUFFER (a no-op on our values)
]);

function memoGet(m: Machine, index: number): unknown {
  if (!m.memo.has(index))
    throw new FormatError(`${m.source}: the pickle reads memo entry ${index}, which was never stored; the file is corrupt.`);
  return m.memo.get(index);
}

function listOf(m: Machine, x: unknown): unknown[] {
  if (!Array.isArray(x) || Object.isFrozen(x)) throw new FormatError(`${m.source}: APPEND(S) on something that is not a list.`);
  return x;
}

/** Opcodes CPython writes that this reader refuses, by pickletools' names, and why. */
const REFUSED = new Map<number, string>([
  [0x82, "EXT1 (a value from copyreg's extension registry, which only the saving Python knew)"],
  [0x83, "EXT2 (a value from copyreg's extension registry, which only the saving Python knew)"],
  [0x84, "EXT4 (a value from copyreg's extension registry, which only the saving Python knew)"],
  [0x97, 'NEXT_BUFFER (an out-of-band buffer of protocol 5, whose bytes are not in the file)'],
]);

/** The one-line error of an opcode the reader does not run: its name when CPython has one, else its byte. */
function unsupportedOpcode(op: number, c: Cursor): FormatError {
  const at = `at offset ${c.pos - 1}`;
  const known = REFUSED.get(op);
  if (known) {
    return new FormatError(
      `${c.source}: the pickle uses opcode ${known} ${at}, which resnet-ts does not read; save the weights with torch.save(model.state_dict(), file) or as safetensors.`,
    );
  }
  return new FormatError(
    `${c.source}: byte 0x${op.toString(16).padStart(2, '0')} ${at} is no pickle opcode of protocols 0-5; the file is corrupt or not a pickle. Copy or download it again.`,
  );
}

/**
 * Reads one pickle from `bytes` starting at `start`. Globals go through `options.findGlobal`;
 * nothing else is callable. Truncated or malformed data is a {@link FormatError}.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): UnpickleResult {
  const c = new Cursor(bytes, start, options.source ?? 'pickle data');
  const m = new Machine(c, options);
  for (;;) {
    if (c.pos >= bytes.length) throw new FormatError(`${c.source}: the pickle data ends before its STOP opcode; the file is truncated.`);
    const op = c.u8();
    if (op === STOP) {
      if (m.stack.length !== 1)
        throw new FormatError(`${c.source}: the pickle stops with ${m.stack.length} values on its stack; the file is corrupt.`);
      return { value: m.stack[0], end: c.pos };
    }
    const handler = OPS.get(op);
    if (!handler) throw unsupportedOpcode(op, c);
    handler(m);
  }
}
