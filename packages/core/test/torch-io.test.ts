/**
 * The PyTorch checkpoint readers on files written by the real PyTorch (test/fixtures/torch, made by
 * scripts/parity/make_torch_fixtures.py): both torch.save formats, every dtype, strided/offset views,
 * wrappers and the DataParallel prefix, hostile pickles (refused, nothing run) and truncated files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError, RawStateDict, detectWeightsFormat, readWeights, rereaderOf } from '@resnet-ts/core';
import { readWeightsFile } from '@resnet-ts/core/node';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const read = (name: string): RawStateDict => readWeights(new Uint8Array(fs.readFileSync(path.join(FIX, name))), { source: name });
const HOSTILE_MARKER = '/tmp/resnet-ts-hostile-pickle-ran';

describe('torch.save tensors (zip and legacy) match what PyTorch wrote', () => {
  const expected = read('tensors.expected.safetensors');

  test.each([
    ['tensors.zip.pt', 'torch-zip'],
    ['tensors.legacy.pt', 'torch-legacy'],
  ])('%s', (file, format) => {
    const sd = read(file);
    expect(sd.format).toBe(format);
    expect([...sd.tensors.keys()].sort()).toEqual([...expected.tensors.keys()].sort());
    for (const [name, want] of expected.tensors) {
      const got = sd.tensors.get(name)!;
      expect({ name, shape: got.shape, dtype: got.dtype }).toEqual({ name, shape: want.shape, dtype: want.dtype });
      // Bit-exact: F16/BF16/F64 widened or narrowed as PyTorch's .float() does; views gathered by stride and offset.
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    }
  });

  test('the views really are non-contiguous in the file (so the test covers strides and offsets)', () => {
    const t = read('tensors.zip.pt').tensors.get('transposed')!;
    const rows = read('tensors.zip.pt').tensors.get('offset_rows')!;
    expect(t.shape).toEqual([8, 10]);
    // transposed[j][i] == big[i][j] and offset_rows[r] == big[3 + r]
    for (let r = 0; r < 4; r++) for (let j = 0; j < 8; j++) expect(rows.data[r * 8 + j]).toBe(t.data[j * 10 + (3 + r)]);
  });
});

describe('wrappers and prefixes', () => {
  test("{'model': {'module.…'}} with scalar metadata", () => {
    const sd = read('wrapped-model.pt');
    expect([...sd.tensors.keys()]).toEqual(['f32', 'f16']);
    expect(sd.metadata).toEqual({ epoch: '7', best_acc1: '0.5', arch: 'tiny' });
  });

  test("akamaster's DataParallel {'state_dict', 'best_prec1'} in the legacy format", () => {
    const sd = read('cifar-resnet8-optionA.legacy.th');
    expect(sd.format).toBe('torch-legacy');
    expect(sd.metadata.best_prec1).toBe('91.25');
    expect(sd.tensors.has('conv1.weight')).toBe(true);
    expect([...sd.tensors.keys()].some((k) => k.startsWith('module.'))).toBe(false);
    expect(sd.tensors.get('layer1.0.bn1.num_batches_tracked')!.dtype).toBe('int32');
  });
});

describe('hostile and broken files', () => {
  beforeAll(() => fs.rmSync(HOSTILE_MARKER, { force: true }));

  test.each([
    ['hostile-os-system.pt', /'posix\.system'|'os\.system'/],
    ['hostile-eval.legacy.pt', /'(__builtin__|builtins)\.eval'/],
  ])('%s is refused, naming the global, and nothing runs', (file, global) => {
    let err: unknown;
    try {
      read(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    const msg = (err as Error).message;
    expect(msg).toMatch(global);
    expect(msg).toMatch(/not on resnet-ts's allow-list/);
    expect(msg).not.toMatch(/\n/);
    expect(fs.existsSync(HOSTILE_MARKER)).toBe(false);
  });

  test('a whole pickled module (torch.save(model)) is refused, naming its class and saying to save the state dict', () => {
    expect(() => read('whole-module.pt')).toThrow(/'torch\.nn\.modules\.container\.Sequential'.*save model\.state_dict\(\)/);
  });

  test('large float32 tensors of a zip checkpoint are views of the file’s bytes, not copies', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, 'cifar-resnet8-optionB.pth')));
    const big = [...readWeights(bytes, { source: 'r8.pth' }).tensors.values()].filter((t) => t.data.length >= 16384);
    expect(big.length).toBeGreaterThan(0);
    for (const t of big) expect(t.data.buffer).toBe(bytes.buffer);
  });

  test('a zip checkpoint file is read storage by storage, each large one readable again from the file', () => {
    const file = path.join(FIX, 'cifar-resnet8-optionB.pth');
    const fromFile = readWeightsFile(file);
    const fromBytes = readWeights(new Uint8Array(fs.readFileSync(file)), { source: file });
    expect([...fromFile.tensors.keys()]).toEqual([...fromBytes.tensors.keys()]);
    let released = 0;
    for (const [name, t] of fromFile.tensors) {
      expect(Array.from(t.data)).toEqual(Array.from(fromBytes.tensors.get(name)!.data));
      if (t.data.length < 16384) continue;
      // Its own buffer (the file is never held whole), and the same values when read again.
      const values = t.data as Float32Array;
      expect(values.byteLength).toBe(values.buffer.byteLength);
      expect(Array.from(rereaderOf(values)!())).toEqual(Array.from(values));
      released++;
    }
    expect(released).toBeGreaterThan(0);
  });

  test('a truncated zip checkpoint is a one-line FormatError', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, 'torchvision-basic.pt')));
    for (const cut of [bytes.length - 30, Math.floor(bytes.length / 2), 100]) {
      expect(() => readWeights(bytes.subarray(0, cut), { source: 'cut.pt' })).toThrow(FormatError);
      try {
        readWeights(bytes.subarray(0, cut), { source: 'cut.pt' });
      } catch (e) {
        expect((e as Error).message).toMatch(/^cut\.pt: .*(truncated|corrupt)/);
        expect((e as Error).message).not.toMatch(/\n/);
      }
    }
  });

  test('a truncated legacy checkpoint is a one-line FormatError', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, 'cifar-resnet8-optionA.legacy.th')));
    for (const cut of [bytes.length - 1, Math.floor(bytes.length / 2), 40]) {
      expect(() => readWeights(bytes.subarray(0, cut), { source: 'cut.th' })).toThrow(/cut\.th: .*truncated/);
    }
  });

  test('something else entirely says what was expected', () => {
    expect(() => readWeights(new TextEncoder().encode('hello world, not weights'), { source: 'x.bin' })).toThrow(
      /x\.bin: not a weights file .*safetensors or a PyTorch/,
    );
  });
});

describe('format detection', () => {
  test.each([
    ['tensors.zip.pt', 'torch-zip'],
    ['tensors.legacy.pt', 'torch-legacy'],
    ['tensors.expected.safetensors', 'safetensors'],
  ])('%s -> %s', (file, format) => {
    expect(detectWeightsFormat(new Uint8Array(fs.readFileSync(path.join(FIX, file))))).toBe(format);
  });

  test('tmp dir exists for other tests', () => {
    expect(fs.existsSync(os.tmpdir())).toBe(true);
  });
});
