/**
 * The entries of a zip archive held in memory, read through its central directory (the only place
 * `torch.save` records the sizes: it writes its entries with data descriptors). A stored
 * (uncompressed) entry — every entry `torch.save` writes — is a view of the archive's bytes, not a
 * copy (fflate's `unzipSync` copies each one: for a ResNet-50 checkpoint, 100 MB and ~50 ms more);
 * a deflated entry is inflated by fflate. Zip64 archives (over 4 GiB or 65,535 entries) are read too.
 * Where a CRC-32 function is set ({@link setZipCrc32}: core's Node entry sets zlib's, ~0.1-0.3 ms per
 * MB), each entry is checked against the CRC-32 the archive records for it — PyTorch 1.13's
 * `torch.load` does not check: it loads a file with a flipped bit in a weight without a word.
 */
import { inflateSync } from 'fflate';

let crc32: ((data: Uint8Array) => number) | null = null;

/**
 * Sets the CRC-32 (zip's polynomial) that {@link zipEntries} checks every entry with; null: no check.
 * `@resnet-ts/core/node` sets Node's `zlib.crc32`.
 */
export function setZipCrc32(fn: ((data: Uint8Array) => number) | null): void {
  crc32 = fn;
}

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

/** A little-endian reader over an archive's bytes that throws an Error on a read past the end. */
type Reader = ReturnType<typeof reader>;

function reader(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const check = (at: number, n: number) => {
    if (at < 0 || at + n > bytes.length) throw new Error(`a record runs past the end of the file (at byte ${at})`);
  };
  return {
    bytes,
    u16: (at: number) => (check(at, 2), view.getUint16(at, true)),
    u32: (at: number) => (check(at, 4), view.getUint32(at, true)),
    u64: (at: number) => {
      check(at, 8);
      const v = view.getBigUint64(at, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`a 64-bit field too large (${v})`);
      return Number(v);
    },
  };
}

/** The offset of the end-of-central-directory record (a file cut anywhere has lost it). */
function findEnd(r: Reader): number {
  // 22 bytes, then a comment of up to 64 KiB.
  const n = r.bytes.length;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 0xffff); i--) {
    if (r.u32(i) === SIG.end) return i;
  }
  throw new Error('no end-of-central-directory record: the file is cut short or not a zip');
}

/** Where the central directory starts and how many entries it has (zip64 when the record says so). */
function centralDirectory(r: Reader): { offset: number; count: number } {
  const end = findEnd(r);
  let count = r.u16(end + 10);
  let offset = r.u32(end + 16);
  if (count === 0xffff || offset === MAX32) {
    if (end < 20 || r.u32(end - 20) !== SIG.end64Locator) throw new Error('a zip64 archive without its locator');
    const end64 = r.u64(end - 20 + 8);
    if (r.u32(end64) !== SIG.end64) throw new Error('a zip64 archive without its end record');
    count = r.u64(end64 + 32);
    offset = r.u64(end64 + 48);
  }
  return { offset, count };
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

function centralEntries(r: Reader): CentralEntry[] {
  const bytes = r.bytes;
  const { offset, count } = centralDirectory(r);
  const names = new TextDecoder();
  const entries: CentralEntry[] = [];
  for (let i = 0, at = offset; i < count; i++) {
    if (r.u32(at) !== SIG.central) throw new Error(`central directory entry ${i} is corrupt`);
    const [nameLength, extraLength, commentLength] = [r.u16(at + 28), r.u16(at + 30), r.u16(at + 32)];
    if (at + 46 + nameLength > bytes.length) throw new Error(`central directory entry ${i} runs past the end of the file`);
    const e: CentralEntry = {
      name: names.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
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
function entryBytes(r: Reader, e: CentralEntry): Uint8Array {
  const data = entryData(r, e);
  if (crc32 && crc32(data) >>> 0 !== e.crc) throw new Error(`'${e.name}' fails its CRC-32 check: its bytes are not the ones written`);
  return data;
}

/** One entry's bytes: a view when stored, inflated when deflated. */
function entryData(r: Reader, e: CentralEntry): Uint8Array {
  const bytes = r.bytes;
  if (r.u32(e.localOffset) !== SIG.local) throw new Error(`the local header of '${e.name}' is corrupt`);
  if (e.flags & 1) throw new Error(`'${e.name}' is encrypted`);
  const start = e.localOffset + 30 + r.u16(e.localOffset + 26) + r.u16(e.localOffset + 28);
  if (start + e.compressedSize > bytes.length) throw new Error(`'${e.name}' runs past the end of the file`);
  const data = bytes.subarray(start, start + e.compressedSize);
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

/**
 * The entries of the zip archive `bytes` by name (folders left out). Throws an `Error` saying what is
 * wrong for a truncated or corrupt archive; the caller names the file.
 */
export function zipEntries(bytes: Uint8Array): Record<string, Uint8Array> {
  const r = reader(bytes);
  const files: Record<string, Uint8Array> = {};
  for (const e of centralEntries(r)) {
    if (!e.name.endsWith('/')) files[e.name] = entryBytes(r, e);
  }
  return files;
}
