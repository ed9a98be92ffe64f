/**
 * `torch.save(..., pickle_protocol=p)` for p = 2..5, in the zip and the legacy format, on files the
 * real PyTorch writes at test time (skipped, saying why, without it): every dtype and strided view
 * equal to PyTorch's tensors, a pickle of many frames, a torchvision-named net giving PyTorch's
 * logits through the one loader, and every opcode CPython knows either read or refused by name.
 */
import './setup';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FormatError,
  RawStateDict,
  ResNet,
  adaptStateDict,
  detectWeightsFormat,
  inferSpec,
  loadRawStateDict,
  readWeights,
} from '@resnet-ts/core';
import { loadNpy, readWeightsFile, weightsFileFormat } from '@resnet-ts/core/node';
import { PickleGlobal, unpickle } from '../src/io/pickle';
import { PYTHON, pythonSkipReason, runPython } from '../../../test-support/python';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PROTOCOLS = [2, 3, 4, 5];
const FORMATS = ['zip', 'legacy'] as const;

/** The tensors of scripts/parity/make_torch_fixtures.py's `tensors.*.pt`, a narrow torchvision net, and 3000 keys (many FRAMEs). */
const MAKE = `
import collections, os, sys, torch
out, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, 'scripts', 'parity'))
from make_torch_fixtures import BasicBlock, TorchResNet, logits, randomize, save_npy, save_safetensors
g = torch.Generator().manual_seed(3)
base = torch.randn(4, 6, generator=g) * 3
big = torch.randn(10, 8, generator=g)
sd = collections.OrderedDict()
sd['f32'] = base
sd['f16'] = base.half()
sd['bf16'] = base.bfloat16()
sd['f64'] = base.double()
sd['i64'] = torch.arange(-12, 12, dtype=torch.int64).reshape(4, 6) * 1000
sd['transposed'] = big.t()
sd['offset_rows'] = big[3:7]
sd['every_other'] = big[:, ::2]
sd['scalar'] = torch.tensor(2.5)
sd['layer.num_batches_tracked'] = torch.tensor(17)
save_safetensors(out + '/tensors.expected.safetensors', {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in sd.items()})
many = collections.OrderedDict(('key%04d.weight' % i, torch.full((2,), float(i))) for i in range(3000))
m = randomize(TorchResNet(BasicBlock, [1, 1, 1, 1], [8, 16, 24, 32], stem='imagenet', stem_width=8, num_classes=6), 12)
x = torch.randn(2, 3, 32, 32, generator=g)
save_npy(out + '/input.npy', x.numpy())
save_npy(out + '/net.logits.npy', logits(m, x).numpy())
for p in (2, 3, 4, 5):
    for fmt in ('zip', 'legacy'):
        kw = dict(pickle_protocol=p, _use_new_zipfile_serialization=fmt == 'zip')
        torch.save(sd, '%s/tensors.p%d.%s.pt' % (out, p, fmt), **kw)
        torch.save(many, '%s/many.p%d.%s.pt' % (out, p, fmt), **kw)
        torch.save({'state_dict': m.state_dict(), 'epoch': 3, 'best_acc1': 71.5}, '%s/net.p%d.%s.pth' % (out, p, fmt), **kw)
`;

const CASES = PROTOCOLS.flatMap((p) => FORMATS.map((f) => [p, f] as const));

describe('torch.save with pickle_protocol 2-5 (zip and legacy) reads as PyTorch wrote it', () => {
  const skip = pythonSkipReason(['torch', 'torchvision']);
  let dir = '';
  beforeAll(() => {
    if (skip) return void console.log(`SKIP torch.save pickle protocols: ${skip}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-protocols-'));
    runPython(['-c', MAKE, dir, ROOT], { env: { OMP_NUM_THREADS: '1' } });
  }, 180_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string) => path.join(dir, name);
  const readBytes = (name: string): RawStateDict => readWeights(new Uint8Array(fs.readFileSync(file(name))), { source: name });

  test.each(CASES)('protocol %i, %s: format detected from the file head, every dtype and view bit-exact', (p, fmt) => {
    if (skip) return;
    const name = `tensors.p${p}.${fmt}.pt`;
    const want = `torch-${fmt}`;
    const head = new Uint8Array(fs.readFileSync(file(name))).subarray(0, 32);
    expect({ head: detectWeightsFormat(head), file: weightsFileFormat(file(name)) }).toEqual({ head: want, file: want });
    const expected = readBytes('tensors.expected.safetensors');
    // In memory, and from disk (zip: storage by storage through positioned reads).
    for (const sd of [readBytes(name), readWeightsFile(file(name))]) {
      expect(sd.format).toBe(want);
      expect([...sd.tensors.keys()]).toEqual([...expected.tensors.keys()]);
      for (const [key, w] of expected.tensors) {
        const got = sd.tensors.get(key)!;
        expect({ key, shape: got.shape, dtype: got.dtype }).toEqual({ key, shape: w.shape, dtype: w.dtype });
        expect(Array.from(got.data)).toEqual(Array.from(w.data));
      }
    }
  });

  test.each(CASES.filter(([p]) => p >= 4))('protocol %i, %s: a pickle of many frames keeps every key and value in order', (p, fmt) => {
    if (skip) return;
    const sd = readBytes(`many.p${p}.${fmt}.pt`);
    const keys = [...sd.tensors.keys()];
    expect(keys.length).toBe(3000);
    keys.forEach((k, i) => {
      expect(k).toBe(`key${String(i).padStart(4, '0')}.weight`);
      expect(Array.from(sd.tensors.get(k)!.data)).toEqual([i, i]);
    });
  });

  test.each(CASES)('protocol %i, %s: the one loader gives PyTorch’s logits', (p, fmt) => {
    if (skip) return;
    const { stateDict, hints } = adaptStateDict(readWeightsFile(file(`net.p${p}.${fmt}.pth`)));
    const model = new ResNet(inferSpec(stateDict, hints));
    loadRawStateDict(model, stateDict, { source: 'net.pth' });
    model.eval();
    const x = loadNpy(file('input.npy'));
    const ref = loadNpy(file('net.logits.npy'));
    const maxAbs = tf.tidy(
      () => tf.max(tf.abs(tf.sub(model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false }), ref))).dataSync()[0],
    );
    tf.dispose([x, ref]);
    model.dispose();
    expect(maxAbs).toBeLessThan(1e-4);
  });
});

/** The opcodes of CPython's pickletools: [name, code byte]. */
function cpythonOpcodes(): [string, number][] | null {
  if (!fs.existsSync(PYTHON)) return null;
  const r = spawnSync(PYTHON, ['-c', 'import json, pickletools; print(json.dumps([[o.name, ord(o.code)] for o in pickletools.opcodes]))'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? (JSON.parse(r.stdout) as [string, number][]) : null;
}

/** Pickles CPython writes for `expr` (a Python expression) with protocol `p`, plus extra `pickle.dumps` keywords. */
function cpythonPickle(expr: string, p: number, extra = ''): Uint8Array {
  const code = `import pickle, sys; sys.stdout.buffer.write(pickle.dumps(${expr}, protocol=${p}${extra}))`;
  const r = spawnSync(PYTHON, ['-c', code]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return new Uint8Array(r.stdout);
}

describe('opcodes: read, or refused by name', () => {
  const ops = cpythonOpcodes();
  const findGlobal = (module: string, name: string): PickleGlobal => {
    throw new FormatError(`refused ${module}.${name}`);
  };
  const messageOf = (bytes: Uint8Array): string => {
    try {
      unpickle(bytes, { findGlobal, source: 'x.pkl' });
    } catch (e) {
      return (e as Error).message;
    }
    return '(no error)';
  };

  test('every opcode CPython knows is either interpreted or refused by its name, never called unknown', () => {
    if (!ops) return void console.log(`SKIP opcode list: ${PYTHON} not found`);
    expect(ops.length).toBeGreaterThanOrEqual(68);
    for (const [name, code] of ops) {
      const msg = messageOf(Uint8Array.of(code, 0x2e));
      expect({ name, unknown: /is no pickle opcode/.test(msg) }).toEqual({ name, unknown: false });
      if (/^(EXT[124]|NEXT_BUFFER)$/.test(name))
        expect(msg).toMatch(new RegExp(`^x\\.pkl: the pickle uses opcode ${name} .*; save the weights`));
    }
    expect(messageOf(Uint8Array.of(0xff, 0x2e))).toMatch(/^x\.pkl: byte 0xff at offset 0 is no pickle opcode of protocols 0-5; .*corrupt/);
  });

  test('protocol 5 out-of-band buffers (NEXT_BUFFER) are refused by name, not read as something else', () => {
    if (!ops) return;
    const bytes = cpythonPickle('pickle.PickleBuffer(bytearray(b"abc"))', 5, ', buffer_callback=lambda b: False');
    expect(messageOf(bytes)).toMatch(/opcode NEXT_BUFFER \(an out-of-band buffer/);
  });

  test.each([4, 5])('protocol %i sets, frozensets, long strings (and in 5, bytearrays) decode as CPython wrote them', (p) => {
    if (!ops) return;
    // Protocol 4 pickles a bytearray through the global builtins.bytearray; 5 has BYTEARRAY8.
    const ba = p >= 5 ? ", 'ba': bytearray(b'xy\\x00')" : '';
    const expr = `{'s': {1, 2, 3}, 'f': frozenset([4]), 'e': set(), 'u': 'é' * 300, 'b': b'z' * 300${ba}}`;
    const d = unpickle(cpythonPickle(expr, p), { findGlobal }).value as Map<string, unknown>;
    expect([...(d.get('s') as Set<number>)].sort()).toEqual([1, 2, 3]);
    expect([...(d.get('f') as Set<number>)]).toEqual([4]);
    expect((d.get('e') as Set<number>).size).toBe(0);
    if (p >= 5) expect(Array.from(d.get('ba') as Uint8Array)).toEqual([0x78, 0x79, 0]);
    expect(d.get('u')).toBe('é'.repeat(300));
    expect(Array.from(d.get('b') as Uint8Array)).toEqual(new Array(300).fill(0x7a));
  });

  test('protocol 0 text: infinities and characters beyond the BMP decode as written', () => {
    if (!ops) return;
    const d = unpickle(cpythonPickle("[float('inf'), float('-inf'), 1.5, '\\U0001f600\\\\u', 'é\\n']", 0), { findGlobal }).value;
    expect(d).toEqual([Infinity, -Infinity, 1.5, '\u{1f600}\\u', 'é\n']);
  });
});
