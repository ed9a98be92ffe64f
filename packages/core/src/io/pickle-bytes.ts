/**
 * Byte-level reading for the pickle interpreter (`pickle.ts`): a bounds-checked cursor whose
 * truncation errors name the source, and the decoders of pickle's number and string encodings.
 */
import { FormatError } from '../errors.js';

/** Little-endian two's-complement integer of any length (LONG1 / LONG4). */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Bytes -> string, one code point per byte (ISO-8859-1). Not `TextDecoder('latin1')`: WHATWG maps
 * that label to windows-1252, which changes bytes 0x80-0x9f.
 */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** Byte cursor with bounds checks that report truncation as a FormatError. */
export class Cursor {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly source: string,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.bytes.length) {
      throw new FormatError(
        `${this.source}: the pickle data ends early (needs ${n} bytes at offset ${this.pos} of ${this.bytes.length}); the file is truncated or corrupt.`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.bytes[this.need(1)];
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const at = this.need(8);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new FormatError(`${this.source}: a pickle length of ${v} bytes is impossible; the file is corrupt.`);
    return Number(v);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  text(n: number, encoding: 'utf-8' | 'latin1'): string {
    const bytes = this.take(n);
    return encoding === 'utf-8' ? new TextDecoder('utf-8').decode(bytes) : latin1(bytes);
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new FormatError(`${this.source}: the pickle data ends inside a text field; the file is truncated or corrupt.`);
    const s = latin1(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}

/** Protocol-0 quoted string (`'abc'` / `"abc"`) with Python's simple escapes. */
export function unquote(s: string, source: string): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q)
    throw new FormatError(`${source}: malformed STRING opcode in the pickle.`);
  return s
    .slice(1, -1)
    .replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
      e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : (({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e),
    );
}

/** A protocol-0 LONG line (`123L`) as a number, or a bigint beyond 2^53. */
export function bigLine(line: string): number | bigint {
  const v = BigInt(line.replace(/L$/, ''));
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A protocol-0 INT line; `01`/`00` are True/False. */
export function intLine(line: string): number | boolean {
  return line === '01' ? true : line === '00' ? false : Number(line);
}

/** A protocol-0 FLOAT line: Python's `repr` of a float, whose infinities are `inf` / `-inf` (not JS's `Infinity`). */
export function floatLine(line: string): number {
  const t = line.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  return parseFloat(t);
}

/** A protocol-0 UNICODE line (`raw-unicode-escape`): `\uXXXX` and `\UXXXXXXXX` escapes, other characters as bytes. */
export function rawUnicodeEscape(line: string): string {
  return line.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u: string | undefined, big: string | undefined) =>
    String.fromCodePoint(parseInt(u ?? big ?? '0', 16)),
  );
}
