import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FormatError,
  StateDictError,
  decodeNpy,
  decodeSafetensors,
  encodeNpy,
  encodeSafetensors,
  floatToHalf,
  halfToFloat,
  useBackend,
} from '@resnet-ts/core';
import { loadCheckpoint, loadNpy, loadSafetensors, loadWeightsInto, saveCheckpoint, saveNpy, saveSafetensors } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-io-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function header(json: object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + body.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  out.set(data, 8 + body.length);
  return out;
}

describe('safetensors', () => {
  test('round trip F32, I32, I64 num_batches_tracked, F16, metadata', async () => {
    const a = tf.tensor([
      [1.5, -2],
      [3, 4e-3],
    ]);
    const b = tf.tensor([1, 2, 3], [3], 'int32');
    const nbt = tf.scalar(7, 'int32');
    const bytes = await encodeSafetensors({ a, b, 'bn.num_batches_tracked': nbt }, { hello: 'world' });
    const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(hlen % 8).toBe(0);
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
    expect(head['bn.num_batches_tracked'].dtype).toBe('I64');
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ hello: 'world' });
    expect(tensors.get('a')!.arraySync()).toEqual(a.arraySync());
    expect(tensors.get('b')!.dtype).toBe('int32');
    expect(tensors.get('bn.num_batches_tracked')!.dataSync()[0]).toBe(7);
    const half = decodeSafetensors(await encodeSafetensors({ a }, {}, { dtype: 'F16' })).tensors.get('a')!;
    expect(Math.max(...(tf.sub(half, a).abs().dataSync() as Float32Array))).toBeLessThan(2e-3);
    const bf = decodeSafetensors(await encodeSafetensors({ a }, {}, { dtype: 'BF16' })).tensors.get('a')!;
    expect(bf.dataSync()[0]).toBe(1.5);
    tf.dispose([a, b, nbt, half, bf, ...tensors.values()]);
  });

  test('half conversions', () => {
    for (const v of [0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 0.1])
      expect(Math.abs(halfToFloat(floatToHalf(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 1e-3 + 1e-8);
    expect(halfToFloat(floatToHalf(1e6))).toBe(Infinity);
  });

  test('bad files are FormatErrors naming the problem', () => {
    const bad = (bytes: Uint8Array, re: RegExp) => {
      expect(() => decodeSafetensors(bytes)).toThrow(FormatError);
      expect(() => decodeSafetensors(bytes)).toThrow(re);
    };
    bad(new Uint8Array(5), /8-byte header/);
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigUint64(0, 1000n, true);
    bad(big, /runs past the end/);
    const notJson = header({});
    notJson[8] = 0x7b + 1;
    bad(notJson, /not valid JSON/);
    bad(header({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /dtype "C64".*'x'|'x'.*C64/);
    bad(header({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)), /outside the data section/);
    bad(header({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes/);
    bad(
      header(
        { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
        new Uint8Array(8),
      ),
      /overlaps/,
    );
    bad(header({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /cover 4 bytes/);
    bad(header({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /belong to no tensor/);
  });

  test('a name given twice in the header is said to be, in memory and from a file (JSON.parse keeps only the last)', async () => {
    // Written by hand: no safetensors writer makes a repeated key. y's bytes, then x's twice over;
    // the kept (last) x overlaps y, and the first x would vanish.
    const f32 = (offsets: [number, number]) => `{"dtype":"F32","shape":[2],"data_offsets":[${offsets.join(',')}]}`;
    const file = (text: string) => {
      const body = Buffer.from(text);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(body.length));
      return Buffer.concat([length, body, Buffer.alloc(16)]);
    };
    const cases: [string, string, string][] = [
      ['dup-tensor', `{"y":${f32([0, 8])},"x":${f32([8, 16])}, "x" :${f32([4, 12])}}`, `duplicate tensor name 'x' in the header`],
      [
        'dup-meta',
        `{"__metadata__":{"spec":"a","spec":"b"},"x":${f32([0, 8])},"y":${f32([8, 16])}}`,
        `duplicate metadata key "spec" in the header`,
      ],
      [
        'dup-field',
        `{"x":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]},"y":${f32([8, 16])}}`,
        `tensor 'x' gives "shape" twice in the header`,
      ],
    ];
    for (const [name, text, said] of cases) {
      const bytes = file(text);
      const f = path.join(dir, `${name}.safetensors`);
      fs.writeFileSync(f, bytes);
      const message = `${f}: ${said}; the file is corrupt (each name may appear once).`;
      expect(() => decodeSafetensors(new Uint8Array(bytes))).toThrow(new FormatError(message.replace(f, 'safetensors data')));
      await expect(loadSafetensors(f)).rejects.toThrow(new FormatError(message));
    }
    // Keys are compared as JSON strings decode: "\u0078" is x; a name in a value or a nested list is no key.
    const escaped = file(`{"x":${f32([0, 8])},"\\u0078":${f32([8, 16])}}`);
    expect(() => decodeSafetensors(new Uint8Array(escaped))).toThrow(/duplicate tensor name 'x'/);
    const fine = file(`{"__metadata__":{"x":"x","q":"[\\"x\\",\\"x\\"]"},"x":${f32([0, 8])},"y":${f32([8, 16])}}`);
    const ok = decodeSafetensors(new Uint8Array(fine));
    expect([[...ok.tensors.keys()], ok.metadata]).toEqual([['x', 'y'], { x: 'x', q: '["x","x"]' }]);
    tf.dispose([...ok.tensors.values()]);
  });

  test('files: atomic save, streamed load, errors name the file', async () => {
    const f = path.join(dir, 'a.safetensors');
    const t = tf.randomNormal([4, 5]);
    await saveSafetensors(f, { t }, { k: 'v' });
    const { tensors, metadata } = await loadSafetensors(f);
    expect(metadata.k).toBe('v');
    expect(tensors.get('t')!.arraySync()).toEqual(t.arraySync());
    const bytes = fs.readFileSync(f);
    const trunc = path.join(dir, 'trunc.safetensors');
    fs.writeFileSync(trunc, bytes.subarray(0, bytes.length - 3));
    await expect(loadSafetensors(trunc)).rejects.toThrow(/trunc\.safetensors.*(cover|outside)/);
    await expect(loadSafetensors(path.join(dir, 'nope.safetensors'))).rejects.toThrow(/No such file/);
    // a failing write leaves nothing behind
    const bad = tf.complex([1], [2]);
    await expect(saveSafetensors(path.join(dir, 'bad.safetensors'), { bad })).rejects.toThrow(FormatError);
    expect(fs.readdirSync(dir).filter((n) => n.includes('bad'))).toEqual([]);
    tf.dispose([t, bad, ...tensors.values()]);
  });
});

describe('files written by PyTorch (scripts/parity/make_fixtures.py)', () => {
  test('F32, F16, BF16, F64, I64, I32, U8 decode to what PyTorch holds', async () => {
    const fix = path.join(__dirname, 'fixtures', 'parity');
    const { tensors, metadata } = await loadSafetensors(path.join(fix, 'dtypes.safetensors'));
    expect(metadata.note).toBe('same values, each dtype');
    const f16 = loadNpy(path.join(fix, 'dtypes.f16.npy'));
    const bf16 = loadNpy(path.join(fix, 'dtypes.bf16.npy'));
    const f16native = loadNpy(path.join(fix, 'dtypes.f16native.npy'));
    expect(tensors.get('f16')!.dataSync()).toEqual(f16.dataSync());
    expect(tensors.get('bf16')!.dataSync()).toEqual(bf16.dataSync());
    expect(f16native.dataSync()).toEqual(f16.dataSync());
    expect(tensors.get('f64')!.dataSync()).toEqual(tensors.get('f32')!.dataSync());
    expect(tensors.get('i64')!.dtype).toBe('int32');
    expect(Array.from(tensors.get('i64')!.dataSync())).toEqual(Array.from({ length: 15 }, (_, i) => (i - 7) * 1000));
    expect(Array.from(tensors.get('u8')!.dataSync())).toEqual(Array.from({ length: 15 }, (_, i) => i * 17));
    // and our encoders produce PyTorch's rounding
    const again = decodeSafetensors(await encodeSafetensors({ h: tensors.get('f32')! }, {}, { dtype: 'F16' })).tensors.get('h')!;
    expect(again.dataSync()).toEqual(f16.dataSync());
    const againBf = decodeSafetensors(await encodeSafetensors({ h: tensors.get('f32')! }, {}, { dtype: 'BF16' })).tensors.get('h')!;
    expect(againBf.dataSync()).toEqual(bf16.dataSync());
    tf.dispose([f16, bf16, f16native, again, againBf, ...tensors.values()]);
  });
});

describe('npy', () => {
  test('round trip and numpy-written headers', async () => {
    const t = tf.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const bytes = await encodeNpy(t);
    expect((bytes.length - 128) % 1).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([2, 3]);
    expect(back.arraySync()).toEqual(t.arraySync());
    const i = decodeNpy(await encodeNpy(tf.tensor([1, -2], [2], 'int32')));
    expect(i.dtype).toBe('int32');
    const f = path.join(dir, 'x.npy');
    await saveNpy(f, t);
    expect(loadNpy(f).arraySync()).toEqual(t.arraySync());
    tf.dispose([t, back, i]);
  });

  test('bad .npy', () => {
    expect(() => decodeNpy(new Uint8Array(20))).toThrow(/magic/);
    const h = new TextEncoder().encode("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n");
    const b = new Uint8Array(10 + h.length + 8);
    b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(b.buffer).setUint16(8, h.length, true);
    b.set(h, 10);
    expect(() => decodeNpy(b)).toThrow(/Fortran/);
    const h2 = new TextEncoder().encode("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n");
    const b2 = new Uint8Array(10 + h2.length + 8);
    b2.set(b.subarray(0, 8));
    new DataView(b2.buffer).setUint16(8, h2.length, true);
    b2.set(h2, 10);
    expect(() => decodeNpy(b2)).toThrow(/needs 12 data bytes.*truncated/);
    const h3 = new TextEncoder().encode("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n");
    const b3 = new Uint8Array(10 + h3.length + 8);
    b3.set(b.subarray(0, 8));
    new DataView(b3.buffer).setUint16(8, h3.length, true);
    b3.set(h3, 10);
    expect(() => decodeNpy(b3)).toThrow(/'>f4' is not supported/);
  });
});

describe('checkpoints', () => {
  test('save/load with metadata and optimizer tensors; strict errors', async () => {
    const m = createModel('resnet20', { seed: 3 });
    const f = path.join(dir, 'ck.safetensors');
    const mom = tf.ones([2, 2]);
    await saveCheckpoint(f, m, {
      classes: [...'abcdefghij'],
      preprocessing: { mean: [0.5], std: [0.25] },
      training: { epoch: 3 },
      extraTensors: { 'optimizer.momentum.fc.weight': mom },
    });
    const raw = await loadSafetensors(f);
    expect(raw.tensors.get('conv1.weight')!.shape).toEqual([16, 3, 3, 3]);
    expect(raw.tensors.get('fc.weight')!.shape).toEqual([10, 64]);
    expect(raw.metadata.format).toBe('resnet-ts/1');
    const ck = loadCheckpoint(f);
    expect(ck.classes).toEqual([...'abcdefghij']);
    expect(ck.training).toEqual({ epoch: 3 });
    expect(ck.extraTensors.get('optimizer.momentum.fc.weight')!.shape).toEqual([2, 2]);
    const x = tf.randomNormal([2, 8, 8, 3]);
    m.eval();
    ck.model.eval();
    expect(tf.sub(m.forward(x), ck.model.forward(x)).abs().max().dataSync()[0]).toBe(0);
    m.clearAllCaches(); // loading weights frees the folded inference weights; count without them
    const n0 = tf.memory().numTensors;
    await saveCheckpoint(path.join(dir, 'ck2.safetensors'), m, { extraTensors: { 'optimizer.momentum.fc.weight': mom } });
    loadWeightsInto(m, path.join(dir, 'ck2.safetensors'));
    expect(tf.memory().numTensors).toBe(n0); // no leaks
    const other = createModel('resnet32');
    expect(() => loadWeightsInto(other, f)).toThrow(StateDictError);
    expect(() => loadWeightsInto(other, f)).toThrow(/missing keys: layer1\.3\./);
    const wide = createModel('resnet20', { numClasses: 5 });
    expect(() => loadWeightsInto(wide, f)).toThrow(/fc\.weight \(model \[5, 64\], file \[10, 64\]\)/);
    tf.dispose([mom, x, ...raw.tensors.values(), ...ck.extraTensors.values()]);
    [m, ck.model, other, wide].forEach((mm) => mm.dispose());
  });
});
