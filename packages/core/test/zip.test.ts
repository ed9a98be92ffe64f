/**
 * The zip reader behind the PyTorch loader (src/io/zip.ts): archives written by fflate and by
 * Python's zipfile (a zip64 end record past 65,535 entries), stored entries as views of the archive,
 * deflated ones inflated, and an error for an archive cut short or corrupted. Files torch.save wrote
 * (data descriptors, sizes only in the central directory) are read in torch-io.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import zlib from 'node:zlib';
import { type ZipSource, openZip, setZipCrc32, zipEntries } from '../src/io/zip.js';
import { PYTHON, pythonSkipReason } from '../../../test-support/python';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('stored entries are views of the archive, deflated ones are inflated; folders are left out', () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const bytes = zipSync({
    'a/data/0': [big, { level: 0 }],
    'a/data.pkl': [strToU8('x'.repeat(5000)), { level: 9 }],
    'a/empty/': new Uint8Array(0),
  });
  const files = zipEntries(bytes);
  expect(Object.keys(files).sort()).toEqual(['a/data.pkl', 'a/data/0']);
  expect(files['a/data/0'].buffer).toBe(bytes.buffer);
  expect(files['a/data/0']).toEqual(big);
  expect(files['a/data.pkl'].buffer).not.toBe(bytes.buffer);
  expect(text(files['a/data.pkl'])).toBe('x'.repeat(5000));
});

test('through a source that reads parts (a file): only what is asked for is read, each entry into a buffer of its own', () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const bytes = zipSync({ 'a/data/0': [big, { level: 0 }], 'a/data/1': [big.slice(0, 70_000), { level: 0 }], 'a/data.pkl': strToU8('x') });
  let bytesRead = 0;
  const file: ZipSource = {
    size: bytes.length,
    read: (offset, length) => {
      const part = bytes.slice(offset, offset + length); // a copy, as a positioned file read gives
      bytesRead += part.length;
      return part;
    },
  };
  const archive = openZip(file);
  expect(archive.names.sort()).toEqual(['a/data.pkl', 'a/data/0', 'a/data/1']);
  expect(bytesRead).toBeLessThan(1000); // the end record and the central directory
  const entry = archive.read('a/data/0')!;
  expect(entry).toEqual(big);
  expect(entry.byteLength).toBe(entry.buffer.byteLength);
  expect(bytesRead).toBeLessThan(big.length + 1100); // and that entry, not the other one
  expect(archive.read('a/none')).toBeUndefined();
  // Cut short, through a source too.
  expect(() => openZip({ size: bytes.length - 40, read: (o, n) => bytes.slice(o, Math.min(o + n, bytes.length - 40)) })).toThrow(
    /end-of-central-directory|past the end|corrupt/,
  );
});

test('an archive cut anywhere, or with a corrupt record, is an error that says so', () => {
  const bytes = zipSync({ 'a/data/0': [new Uint8Array(4000).fill(7), { level: 0 }], 'a/b': strToU8('bb') });
  for (const cut of [bytes.length - 1, bytes.length - 30, Math.floor(bytes.length / 2), 10, 0]) {
    expect(() => zipEntries(bytes.subarray(0, cut))).toThrow(/end-of-central-directory|past the end|corrupt/);
  }
  const corrupt = bytes.slice();
  corrupt[0] = 0; // the first local header's signature
  expect(() => zipEntries(corrupt)).toThrow(/local header of 'a\/data\/0' is corrupt/);
});

test('with a CRC-32 set, an entry whose bytes changed is an error; without one it is not checked', () => {
  const bytes = zipSync({
    'a/data/0': [new Uint8Array(4000).fill(7), { level: 0 }],
    'a/data/1': [strToU8('y'.repeat(3000)), { level: 6 }],
  });
  const stored = bytes.slice();
  stored[200] ^= 1; // inside the stored entry's data
  const crc = (zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32;
  setZipCrc32((d) => crc(d));
  try {
    expect(Object.keys(zipEntries(bytes))).toHaveLength(2);
    expect(() => zipEntries(stored)).toThrow(/^'a\/data\/0' fails its CRC-32 check/);
  } finally {
    setZipCrc32(null);
  }
  expect(zipEntries(stored)['a/data/0'][200 - 30 - 'a/data/0'.length]).toBe(7 ^ 1);
});

(pythonSkipReason([]) ? test.skip : test)(
  "Python's zipfile: a zip64 end record for 65,536 entries",
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zip-test-'));
    try {
      const file = path.join(dir, 'many.zip');
      const script = [
        'import sys, zipfile',
        'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:',
        '    for i in range(65536):',
        '        z.writestr(f"d/{i}", str(i))',
      ].join('\n');
      const r = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const bytes = new Uint8Array(fs.readFileSync(file));
      const files = zipEntries(bytes);
      expect(Object.keys(files)).toHaveLength(65536);
      for (const i of [0, 1, 9999, 65535]) expect(text(files[`d/${i}`])).toBe(String(i));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  60_000,
);
