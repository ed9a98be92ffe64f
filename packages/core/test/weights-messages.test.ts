/**
 * What the weights readers say and do with files as people hold them: refusals whose remedy is given
 * for the command line and for the JS API (or said to be the JS API's only), wrapper prefixes of
 * Lightning-style state dicts, a note naming the state dict used when a checkpoint holds several,
 * TorchScript archives recognised, wide and grouped bottlenecks refused without suggesting a model.
 * The torch files are made at test time by the real PyTorch (skipped, saying why, without it).
 */
import './setup';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RawStateDict,
  RawTensor,
  ResNet,
  SpecError,
  UnsupportedArchitectureError,
  adaptStateDict,
  inferSpec,
  loadRawStateDict,
  readWeights,
  stripWrapperPrefixes,
} from '@resnet-ts/core';
import { readWeightsFile } from '@resnet-ts/core/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const FIX = path.join(__dirname, 'fixtures', 'torch');

function readFixture(name: string): RawStateDict {
  return readWeights(new Uint8Array(fs.readFileSync(path.join(FIX, name))), { source: name });
}

/** The message `fn` throws (fails the test when it throws nothing). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

function tensor(shape: number[]): RawTensor {
  return { shape, dtype: 'float32', data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/** A torchvision-named state dict whose first stage is one bottleneck of the given conv2 shape and output width. */
function bottleneckStateDict(conv2: number[], out: number): RawStateDict {
  const width = conv2[0];
  const bn = (name: string, c: number): [string, RawTensor][] =>
    ['weight', 'bias', 'running_mean', 'running_var'].map((p) => [`${name}.${p}`, tensor([c])]);
  const tensors = new Map<string, RawTensor>([
    ['conv1.weight', tensor([8, 3, 7, 7])],
    ...bn('bn1', 8),
    ['layer1.0.conv1.weight', tensor([width, 8, 1, 1])],
    ...bn('layer1.0.bn1', width),
    ['layer1.0.conv2.weight', tensor(conv2)],
    ...bn('layer1.0.bn2', width),
    ['layer1.0.conv3.weight', tensor([out, width, 1, 1])],
    ...bn('layer1.0.bn3', out),
    ['layer1.0.downsample.0.weight', tensor([out, 8, 1, 1])],
    ...bn('layer1.0.downsample.1', out),
    ['fc.weight', tensor([5, out])],
    ['fc.bias', tensor([5])],
  ]);
  return { format: 'safetensors', metadata: {}, tensors };
}

describe('refusals give the remedy on the command line and in the JS API', () => {
  test('a key mismatch: --model/--classes or the model/classes options; { strict: false } only in the JS API', () => {
    const { stateDict } = adaptStateDict(readFixture('torchvision-basic.pt'));
    const model = new ResNet(inferSpec(stateDict));
    const extra: RawStateDict = { ...stateDict, tensors: new Map([...stateDict.tensors, ['extra.weight', tensor([3])]]) };
    const msg = messageOf(() => loadRawStateDict(model, extra, { source: 'x.pth' }));
    model.dispose();
    expect(msg).toMatch(/unexpected keys: extra\.weight/);
    expect(msg).toMatch(/--model and --classes on the command line, the model and classes options in the JS API/);
    expect(msg).toMatch(/\{ strict: false \} in loadWeightsInto or loadRawStateDict \(JS API only\)/);
    expect(msg).not.toMatch(/or load with strict: false/);
    expect(msg).not.toMatch(/\n/);
  });

  test('names no convention knows: re-save under torchvision names; { convention } is the JS API’s only', () => {
    const sd: RawStateDict = { format: 'safetensors', metadata: {}, tensors: new Map([['encoder.blocks.0.attn.qkv.weight', tensor([1])]]) };
    const msg = messageOf(() => adaptStateDict(sd));
    expect(msg).toMatch(/under torchvision's names/);
    expect(msg).toMatch(/in the JS API, \{ convention \} forces one .*\(the command line has no such option\)/);
    expect(msg).not.toMatch(/Pass \{ convention \}/);
  });

  test('an architecture the weights do not show: --model on the command line, the model option in the JS API, said once', () => {
    const sd = adaptStateDict(readFixture('torchvision-basic.pt')).stateDict;
    const odd: RawStateDict = { ...sd, tensors: new Map([...sd.tensors, ['conv1.weight', tensor([8, 3, 5, 5])]]) };
    const msg = messageOf(() => inferSpec(odd));
    expect(msg).toMatch(/conv1 is 5x5.*--model <name> on the command line \(e\.g\. --model resnet50\), the model option in the JS API\.$/);
    expect(msg.match(/--model/g)).toHaveLength(2);
  });

  test('no classifier: the backbone alone only through the JS API; re-saving from PyTorch works for both', () => {
    const raw = readFixture('hf-basic.pytorch_model.bin');
    const headless: RawStateDict = { ...raw, tensors: new Map([...raw.tensors].filter(([k]) => !k.startsWith('classifier.'))) };
    const msg = messageOf(() => inferSpec(adaptStateDict(headless).stateDict));
    expect(msg).toMatch(/no classifier 'fc\.weight'/);
    expect(msg).toMatch(/\(JS API only\): give numClasses .*and load with \{ strict: false \} \(loadWeightsInto, loadRawStateDict\)/);
    expect(msg).toMatch(/save it from PyTorch with the head as one nn\.Linear named fc/);
    expect(msg).not.toMatch(/Give the model/);
  });

  test('a custom head (an nn.Sequential fc.0 ... fc.3) is named as such', () => {
    const sd = adaptStateDict(readFixture('torchvision-basic.pt')).stateDict;
    const renamed = [...sd.tensors].map(([k, t]): [string, RawTensor] => [k.replace(/^fc\./, 'fc.3.'), t]);
    const msg = messageOf(() => inferSpec({ ...sd, tensors: new Map(renamed) }));
    expect(msg).toMatch(/its head \(fc\.3\.weight, fc\.3\.bias\) is not the single linear layer 'fc'/);
  });
});

describe('wide and grouped bottlenecks are refused as unsupported, with no model to try', () => {
  test.each([
    ['wide (Wide ResNet)', [32, 32, 3, 3], 64, /a wide middle \(32 channels for 64 outputs, not 16, as Wide ResNet's/],
    ['grouped (ResNeXt)', [32, 4, 3, 3], 64, /grouped 3x3 convolutions \(8 groups, as ResNeXt's/],
    ['grouped at 4x', [16, 2, 3, 3], 64, /grouped 3x3 convolutions \(8 groups/],
  ])('%s', (_, conv2, out, kind) => {
    const msg = messageOf(() => inferSpec(bottleneckStateDict(conv2 as number[], out as number)));
    expect(msg).toMatch(/^These weights are of an architecture resnet-ts does not build: layer1's bottleneck/);
    expect(msg).toMatch(kind as RegExp);
    expect(msg).toMatch(/builds ResNets of basic blocks and plain bottlenecks .*resnet18\.\.152/);
    expect(msg).not.toMatch(/--model|\bresnet50\b|model option/);
    expect(() => inferSpec(bottleneckStateDict(conv2 as number[], out as number))).toThrow(UnsupportedArchitectureError);
  });

  test('a plain 4x bottleneck still builds', () => {
    expect(inferSpec(bottleneckStateDict([16, 16, 3, 3], 64)).stages[0]).toMatchObject({ block: 'bottleneck', width: 16 });
    expect(new UnsupportedArchitectureError('x')).toBeInstanceOf(SpecError);
  });
});

describe('wrapper prefixes: one that every key carries goes when the rest fits a known convention', () => {
  const keys = (names: string[]) => [...stripWrapperPrefixes(new Map(names.map((n) => [n, 0]))).keys()];
  const tv = ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'fc.weight', 'fc.bias'];

  test.each(['model.', 'net.', 'backbone.', 'module.', '_orig_mod.', '_orig_mod.module.', 'model._orig_mod.', 'model.module.'])(
    '%s',
    (prefix) => {
      expect(keys(tv.map((k) => prefix + k))).toEqual(tv);
    },
  );

  test('PyTorch’s own wrappers (module., _orig_mod.) go whatever the names under them', () => {
    expect(keys(['module.f32', 'module.f16'])).toEqual(['f32', 'f16']);
  });

  test('kept: a prefix not every key has, one whose removal fits nothing, one that is part of a convention’s names', () => {
    expect(keys(['model.conv1.weight', 'model.fc.weight', 'criterion.weight'])).toEqual([
      'model.conv1.weight',
      'model.fc.weight',
      'criterion.weight',
    ]);
    expect(keys(['model.a.weight', 'model.b.weight'])).toEqual(['model.a.weight', 'model.b.weight']);
    const hf = ['resnet.embedder.embedder.convolution.weight', 'resnet.encoder.stages.0.layers.0.layer.0.convolution.weight'];
    expect(keys(hf)).toEqual(hf);
    expect(keys(tv)).toEqual(tv);
  });
});

const MAKE = `
import sys, torch
out = sys.argv[1]
torch.manual_seed(0)
a = {'conv1.weight': torch.randn(2, 3, 3, 3), 'fc.bias': torch.zeros(2)}
b = {k: v + 1 for k, v in a.items()}
torch.save({'model': a, 'model_ema': b, 'epoch': 3}, out + '/two.pth')
torch.save({'state_dict': a, 'state_dict_ema': {'module.' + k: v for k, v in b.items()}, 'epoch': 3}, out + '/timm-ema.pth')
torch.save({'model': a, 'optimizer': {'state': {0: {'momentum_buffer': torch.ones(2)}}, 'param_groups': []}, 'epoch': 3}, out + '/one.pth')
torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 2, 1)), out + '/scripted.pt')
torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 2, 1), torch.randn(1, 3, 4, 4)), out + '/traced.pt')
torch.save({k: v.numpy() for k, v in a.items()}, out + '/numpy.pth')
torch.save({k: v.to('meta') for k, v in a.items()}, out + '/meta.pth')
`;

describe('torch files made by PyTorch at test time', () => {
  const skip = pythonSkipReason(['torch']);
  let dir = '';
  beforeAll(() => {
    if (skip) return void console.log(`SKIP torch-made weights files: ${skip}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-wmsg-'));
    runPython(['-c', MAKE, dir], { env: { OMP_NUM_THREADS: '1' } });
  }, 120_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  const read = (name: string, notes: string[]) =>
    readWeights(new Uint8Array(fs.readFileSync(path.join(dir, name))), { source: name, warn: (m) => notes.push(m) });

  test("{'model': A, 'model_ema': B}: A is used and a one-line note names it and the alternative", () => {
    if (skip) return;
    const notes: string[] = [];
    const sd = read('two.pth', notes);
    expect(Array.from(sd.tensors.get('fc.bias')!.data)).toEqual([0, 0]);
    expect(notes).toEqual([
      "note: two.pth holds 2 state dicts ('model', 'model_ema'); using 'model'. " +
        "To use another, save it alone in PyTorch: torch.save(checkpoint['model_ema'], 'model_ema.pth').",
    ]);
    // The Node reader (the command line's) says the same, read in parts or whole.
    const fileNotes: string[] = [];
    readWeightsFile(path.join(dir, 'two.pth'), { source: 'two.pth', warn: (m) => fileNotes.push(m) });
    expect(fileNotes).toEqual(notes);
  });

  test('a state dict of NumPy arrays is refused saying so and how to save tensors, nothing run', () => {
    if (skip) return;
    expect(() => read('numpy.pth', [])).toThrow(
      /^numpy\.pth: refused to load: the pickle names the Python global 'numpy\.(_?core)\.multiarray\._reconstruct'.* It holds NumPy arrays, not torch tensors: save \{k: torch\.from_numpy\(v\)/,
    );
  });

  test("a state dict of tensors on the 'meta' device (shapes, no values) is refused saying so, not called a pickled model", () => {
    if (skip) return;
    expect(() => read('meta.pth', [])).toThrow(
      /^meta\.pth: refused to load: .*'torch\._utils\._rebuild_meta_tensor_no_storage'.* It holds tensors on PyTorch's 'meta' device, which have shapes but no values .*: load or initialise real weights in PyTorch, then save model\.state_dict\(\)\.$/,
    );
  });

  test("timm's {'state_dict', 'state_dict_ema'}: the first in the usual order, noted; a lone state dict next to an optimizer: no note", () => {
    if (skip) return;
    const notes: string[] = [];
    expect([...read('timm-ema.pth', notes).tensors.keys()]).toEqual(['conv1.weight', 'fc.bias']);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/\('state_dict', 'state_dict_ema'\); using 'state_dict'/);
    const none: string[] = [];
    read('one.pth', none);
    expect(none).toEqual([]);
  });

  test.each(['scripted.pt', 'traced.pt'])(
    'a TorchScript archive (%s) is named as one, with torch.save of the state dict as the way',
    (name) => {
      if (skip) return;
      const expected = /: a TorchScript archive \(torch\.jit\.save.*not a state dict; save model\.state_dict\(\) with torch\.save instead/;
      const msg = messageOf(() => read(name, []));
      expect(msg).toMatch(expected);
      expect(msg).not.toMatch(/whole pickled model|allow-list/);
      expect(() => readWeightsFile(path.join(dir, name))).toThrow(expected);
    },
  );
});
