/**
 * The entries of a zip archive, read through its central directory (the only place `torch.save`
 * records the sizes: it writes its entries with data descriptors), from bytes in memory or from a
 * {@link ZipSource} that reads parts of a file on demand. From bytes in memory a stored
 * (uncompressed) entry — every entry `torch.save` writes — is a view of the archive's bytes, not a
 * copy (fflate's `unzipSync` copies each one: for a ResNet-50 checkpoint, 100 MB and ~50 ms more);
 * from a file source it is one positioned read into a buffer of its own, so the file is never held
 * whole. A deflated entry is inflated by fflate. Zip64 archives (over 4 GiB or 65,535 entries) are
 * read too. Where a CRC-32 function is set ({@link setZipCrc32}: core's Node entry sets zlib's,
 * ~0.1-0.3 ms per MB), each entry is checked against the CRC-32 the archive records for it — PyTorch
 * 1.13's `torch.load` does not check: it loads a file with a flipped bit in a weight without a word.
 */
import { inflateSync } from 'fflate';

let crc32: ((data: Uint8Array) => number) | null = null;

/**
 * Sets the CRC-32 (zip's polynomial) that every entry read is checked with; null: no check.
 * `@resnet-ts/core/node` sets Node's `zlib.crc32`.
 */
export function setZipCrc32(fn: ((data: Uint8Array) => number) | null): void {
  crc32 = fn;
}

/** Where an archive's bytes come from: a buffer, or a file read in parts. */
export interface ZipSource {
  /** The archive's length in bytes. */
  readonly size: number;
  /** `length` bytes from `offset` (fewer only where the archive ends): a view or a buffer of their own. */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes in memory: every read is a view. */
export function bytesZipSource(bytes: Uint8Array): ZipSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)) };
}

const utf8 = new TextDecoder();
const SIG = { end: 0x06054b50, end64Locator: 0x07064b50, end64: 0x06064b50, central: 0x02014b50, local: 0x04034b50 };
const MAX32 = 0xffffffff;

/** What a zip entry's central-directory record says. */
interface CentralEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** A little-endian reader over `bytes`, which sit at offset `base` of the archive; it throws an Error on a read outside them. */
type Reader = ReturnType<typeof reader>;

function reader(bytes: Uint8Array, base = 0) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (offset: number, n: number) => {
    if (offset < base || offset + n > base + bytes.length) throw new Error(`a record runs past the end of the file (at byte ${offset})`);
    return offset - base;
  };
  return {
    bytes,
    base,
    u16: (offset: number) => view.getUint16(at(offset, 2), true),
    u32: (offset: number) => view.getUint32(at(offset, 4), true),
    u64: (offset: number) => {
      const v = view.getBigUint64(at(offset, 8), true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`a 64-bit field too large (${v})`);
      return Number(v);
    },
    text: (offset: number, n: number) => utf8.decode(bytes.subarray(at(offset, n), at(offset, n) + n)),
  };
}

/** `length` bytes from `offset` of the source, all of them or an Error. */
function readExactly(src: ZipSource, offset: number, length: number, what: string): Uint8Array {
  if (offset < 0 || offset + length > src.size) throw new Error(`${what} runs past the end of the file`);
  const bytes = src.read(offset, length);
  if (bytes.length !== length) throw new Error(`${what} runs past the end of the file`);
  return bytes;
}

/** The end-of-central-directory record's reader and offset (a file cut anywhere has lost it). */
function findEnd(src: ZipSource): { r: Reader; end: number } {
  // 22 bytes, then a comment of up to 64 KiB: the last 22 bytes first (no comment, as torch.save writes).
  for (const window of [22, 22 + 0xffff]) {
    const from = Math.max(0, src.size - window);
    const r = reader(readExactly(src, from, src.size - from, 'the end of the archive'), from);
    for (let i = src.size - 22; i >= from; i--) {
      if (r.u32(i) === SIG.end) return { r, end: i };
    }
  }
  throw new Error('no end-of-central-directory record: the file is cut short or not a zip');
}

/** Where the central directory starts, its length and its number of entries (zip64 when the record says so). */
function centralDirectory(src: ZipSource): { offset: number; length: number; count: number } {
  const { r, end } = findEnd(src);
  let count = r.u16(end + 10);
  let length = r.u32(end + 12);
  let offset = r.u32(end + 16);
  if (count === 0xffff || offset === MAX32 || length === MAX32) {
    const locator = end >= 20 ? reader(readExactly(src, end - 20, 20, 'the zip64 locator'), end - 20) : undefined;
    if (!locator || locator.u32(end - 20) !== SIG.end64Locator) throw new Error('a zip64 archive without its locator');
    const at = locator.u64(end - 20 + 8);
    const e64 = reader(readExactly(src, at, 56, 'the zip64 end record'), at);
    if (e64.u32(at) !== SIG.end64) throw new Error('a zip64 archive without its end record');
    count = e64.u64(at + 32);
    length = e64.u64(at + 40);
    offset = e64.u64(at + 48);
  }
  return { offset, length, count };
}

/** The 64-bit sizes and offset a zip64 extra field (id 1) holds for the 32-bit fields set to 0xffffffff. */
function zip64Fields(r: Reader, at: number, length: number, e: CentralEntry): void {
  for (let i = at; i + 4 <= at + length;) {
    const id = r.u16(i);
    const size = r.u16(i + 2);
    if (id === 1) {
      let p = i + 4;
      const next = () => ((p += 8), r.u64(p - 8));
      if (e.size === MAX32) e.size = next();
      if (e.compressedSize === MAX32) e.compressedSize = next();
      if (e.localOffset === MAX32) e.localOffset = next();
      return;
    }
    i += 4 + size;
  }
}

function centralEntries(src: ZipSource): CentralEntry[] {
  const { offset, length, count } = centralDirectory(src);
  const r = reader(readExactly(src, offset, length, 'the central directory'), offset);
  const entries: CentralEntry[] = [];
  for (let i = 0, at = offset; i < count; i++) {
    if (r.u32(at) !== SIG.central) throw new Error(`central directory entry ${i} is corrupt`);
    const [nameLength, extraLength, commentLength] = [r.u16(at + 28), r.u16(at + 30), r.u16(at + 32)];
    const e: CentralEntry = {
      name: r.text(at + 46, nameLength),
      flags: r.u16(at + 8),
      method: r.u16(at + 10),
      crc: r.u32(at + 16),
      compressedSize: r.u32(at + 20),
      size: r.u32(at + 24),
      localOffset: r.u32(at + 42),
    };
    zip64Fields(r, at + 46 + nameLength, extraLength, e);
    entries.push(e);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** One entry's bytes, checked against its CRC-32 where a CRC-32 function is set. */
function entryBytes(src: ZipSource, e: CentralEntry): Uint8Array {
  const data = entryData(src, e);
  if (crc32 && crc32(data) >>> 0 !== e.crc) throw new Error(`'${e.name}' fails its CRC-32 check: its bytes are not the ones written`);
  return data;
}

/** One entry's bytes: read as they are when stored, inflated when deflated. */
function entryData(src: ZipSource, e: CentralEntry): Uint8Array {
  if (e.flags & 1) throw new Error(`'${e.name}' is encrypted`);
  const local = reader(readExactly(src, e.localOffset, 30, `the local header of '${e.name}'`), e.localOffset);
  if (local.u32(e.localOffset) !== SIG.local) throw new Error(`the local header of '${e.name}' is corrupt`);
  const start = e.localOffset + 30 + local.u16(e.localOffset + 26) + local.u16(e.localOffset + 28);
  const data = readExactly(src, start, e.compressedSize, `'${e.name}'`);
  if (e.method === 0) {
    if (e.size !== e.compressedSize) throw new Error(`'${e.name}' is stored with two different sizes`);
    return data;
  }
  if (e.method === 8) {
    const out = inflateSync(data, { out: new Uint8Array(e.size) });
    if (out.length !== e.size) throw new Error(`'${e.name}' inflates to ${out.length} bytes, not ${e.size}`);
    return out;
  }
  throw new Error(`'${e.name}' uses compression method ${e.method}, which is not supported (stored and deflate are)`);
}

/** An archive whose central directory has been read; entries are read when asked for. */
export interface ZipArchive {
  /** The entries' names (folders left out), in the archive's order. */
  readonly names: string[];
  /** One entry's bytes (checked against its CRC-32), or undefined if there is no such entry. */
  read(name: string): Uint8Array | undefined;
}

/**
 * Reads the central directory of the archive in `src`. Throws an `Error` saying what is wrong for a
 * truncated or corrupt archive, here or when an entry is read; the caller names the file.
 */
export function openZip(src: ZipSource | Uint8Array): ZipArchive {
  const source = src instanceof Uint8Array ? bytesZipSource(src) : src;
  const byName = new Map(
    centralEntries(source)
      .filter((e) => !e.name.endsWith('/'))
      .map((e) => [e.name, e]),
  );
  return {
    names: [...byName.keys()],
    read: (name) => {
      const e = byName.get(name);
      return e && entryBytes(source, e);
    },
  };
}

/**
 * The entries of the zip archive `bytes` by name (folders left out), all read and checked. Throws an
 * `Error` saying what is wrong for a truncated or corrupt archive; the caller names the file.
 */
export function zipEntries(bytes: Uint8Array): Record<string, Uint8Array> {
  const archive = openZip(bytes);
  return Object.fromEntries(archive.names.map((name) => [name, archive.read(name)!]));
}
