/**
 * Naming conventions, each verified against logits from its own PyTorch implementation
 * (test/fixtures/torch, made by scripts/parity/make_torch_fixtures.py): readWeights ->
 * adaptStateDict -> inferSpec -> new ResNet -> loadRawStateDict -> eval-mode logits.
 */
import './setup';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RawStateDict,
  ResNet,
  ResNetSpec,
  StateDictError,
  adaptStateDict,
  inferSpec,
  loadRawStateDict,
  readWeights,
} from '@resnet-ts/core';
import { loadNpy } from '@resnet-ts/core/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const ROOT = path.resolve(__dirname, '..', '..', '..');

function readFile(file: string): RawStateDict {
  return readWeights(new Uint8Array(fs.readFileSync(file)), { source: path.basename(file) });
}

/** max |ours - PyTorch's| and the scale it is judged against (max(1, max |ref|)). */
function logitsDiff(model: ResNet, input: string, logits: string): { maxAbs: number; scale: number } {
  const x = loadNpy(input);
  const ref = loadNpy(logits);
  const out = tf.tidy(() => {
    const y = model.forward(tf.transpose(x, [0, 2, 3, 1]), { training: false });
    return { maxAbs: tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0], scale: Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]) };
  });
  tf.dispose([x, ref]);
  return out;
}

function build(file: string, override: Partial<ResNetSpec> = {}): { model: ResNet; convention: string; spec: ResNetSpec } {
  const { convention, stateDict, hints } = adaptStateDict(readFile(file));
  const spec = inferSpec(stateDict, { ...hints, ...override });
  const model = new ResNet(spec);
  loadRawStateDict(model, stateDict, { source: path.basename(file) });
  return { model: model.eval(), convention, spec };
}

const CASES: [string, string, Partial<ResNetSpec>][] = [
  ['cifar-resnet8-optionA.legacy.th', 'cifar', { stem: 'cifar', shortcut: 'A', shortcutParams: { padding: 'split' }, numClasses: 10 }],
  ['cifar-resnet8-optionB.pth', 'cifar', { stem: 'cifar', shortcut: 'B', numClasses: 10 }],
  ['torchvision-basic.pt', 'torchvision', { stem: 'imagenet', shortcut: 'B', numClasses: 6 }],
  ['timm-bottleneck.pth.tar', 'torchvision', { stem: 'imagenet', shortcut: 'B', numClasses: 7, strideMode: 'v1.5' }],
  ['hf-bottleneck.pytorch_model.bin', 'hf-transformers', { stem: 'imagenet', shortcut: 'B', numClasses: 5 }],
  ['hf-basic.pytorch_model.bin', 'hf-transformers', { stem: 'imagenet', shortcut: 'B', numClasses: 4 }],
];

describe('each convention gives the logits of its own PyTorch implementation', () => {
  test.each(CASES)('%s (%s)', (file, convention, specPart) => {
    const before = tf.memory().numTensors;
    const built = build(path.join(FIX, file));
    expect(built.convention).toBe(convention);
    expect(built.spec).toMatchObject(specPart);
    const { maxAbs, scale } = logitsDiff(built.model, path.join(FIX, 'input.npy'), path.join(FIX, `${file}.logits.npy`));
    console.log(`convention ${convention} ${file}: max abs diff ${maxAbs.toExponential(2)} (scale ${scale.toFixed(2)})`);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    built.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test("option A's placement matters: the CIFAR weights with padding 'after' give other logits", () => {
    const { model } = build(path.join(FIX, 'cifar-resnet8-optionA.legacy.th'), { shortcutParams: { padding: 'after' } });
    const { maxAbs, scale } = logitsDiff(model, path.join(FIX, 'input.npy'), path.join(FIX, 'cifar-resnet8-optionA.legacy.th.logits.npy'));
    expect(maxAbs).toBeGreaterThan(1e-2 * scale);
    model.dispose();
  });
});

describe('timm', () => {
  test("a plain timm ResNet has torchvision's names; forcing 'timm' or a head.fc export gives the same logits", () => {
    const raw = readFile(path.join(FIX, 'timm-bottleneck.pth.tar'));
    // timm's train.py wrapper: its argparse.Namespace `args` is inert data; the numpy metric becomes a number.
    expect(raw.metadata).toEqual({ epoch: '3', arch: 'resnet-tiny', version: '2', metric: '71.25' });
    const headFc: RawStateDict = { ...raw, tensors: new Map([...raw.tensors].map(([k, t]) => [k.replace(/^fc\./, 'head.fc.'), t])) };
    for (const [sd, options] of [
      [raw, { convention: 'timm' }],
      [headFc, {}],
    ] as const) {
      const { convention, stateDict, hints } = adaptStateDict(sd, options);
      expect(convention).toBe('timm');
      const model = new ResNet(inferSpec(stateDict, hints)).eval();
      loadRawStateDict(model, stateDict);
      const { maxAbs, scale } = logitsDiff(model, path.join(FIX, 'input.npy'), path.join(FIX, 'timm-bottleneck.pth.tar.logits.npy'));
      expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
      model.dispose();
    }
  });
});

describe('mismatches and unknown names', () => {
  test('a state dict of another architecture is one line naming missing, unexpected and mis-shaped keys', () => {
    const { stateDict } = adaptStateDict(readFile(path.join(FIX, 'hf-bottleneck.pytorch_model.bin')));
    const model = new ResNet(inferSpec(adaptStateDict(readFile(path.join(FIX, 'torchvision-basic.pt'))).stateDict));
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      loadRawStateDict(model, stateDict, { source: 'hf.bin' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^The state dict in 'hf\.bin' does not match the model: missing keys: .*unexpected keys: .*conv3.*mis-shaped keys: /);
    expect(msg).not.toMatch(/\n/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('a head-less feature extractor (HF ResNetModel keys) needs numClasses, then loads non-strictly', () => {
    const raw = readFile(path.join(FIX, 'hf-basic.pytorch_model.bin'));
    const headless: RawStateDict = { ...raw, tensors: new Map([...raw.tensors].filter(([k]) => !k.startsWith('classifier.'))) };
    const { convention, stateDict } = adaptStateDict(headless);
    expect(convention).toBe('hf-transformers');
    expect(() => inferSpec(stateDict)).toThrow(/no classifier 'fc\.weight'.*give numClasses/);
    const model = new ResNet(inferSpec(stateDict, { numClasses: 3 }));
    expect(() => loadRawStateDict(model, stateDict)).toThrow(/missing keys: fc\.weight, fc\.bias/);
    expect(loadRawStateDict(model, stateDict, { strict: false }).missing).toEqual(['fc.weight', 'fc.bias']);
    model.dispose();
  });

  test('names no convention knows are a FormatError listing a few', () => {
    const sd: RawStateDict = {
      format: 'safetensors',
      metadata: {},
      tensors: new Map([['encoder.blocks.0.attn.qkv.weight', { shape: [1], dtype: 'float32', data: new Float32Array(1) }]]),
    };
    expect(() => adaptStateDict(sd)).toThrow(/fit none of the known ResNet conventions .*encoder\.blocks\.0\.attn/);
  });

  test("timm's ResNet-D deep stem is refused with what to use instead", () => {
    const t = { shape: [8, 3, 3, 3], dtype: 'float32' as const, data: new Float32Array(216) };
    const sd: RawStateDict = {
      format: 'torch-zip',
      metadata: {},
      tensors: new Map([
        ['conv1.0.weight', t],
        ['fc.weight', t],
      ]),
    };
    expect(() => adaptStateDict(sd)).toThrow(/deep stem .*ResNet-D/);
  });
});

describe('the real torchvision resnet18, fine-tuned shape (10 classes), generated with PyTorch at test time', () => {
  const skip = pythonSkipReason(['torch', 'torchvision']);
  let dir = '';
  beforeAll(() => {
    if (skip) return void console.log(`SKIP torchvision resnet18 .pth: ${skip}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-tv18-'));
    runPython([path.join(ROOT, 'scripts/parity/make_torch_fixtures.py'), '--out', dir, '--only', 'torchvision-resnet18'], {
      env: { OMP_WAIT_POLICY: 'PASSIVE' },
    });
  }, 300000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test('.pth (zip) -> torchvision convention -> resnet18 spec with a 10-class head -> PyTorch logits', () => {
    if (skip) return;
    const built = build(path.join(dir, 'torchvision-resnet18.pth'));
    expect(built.convention).toBe('torchvision');
    expect(built.spec).toMatchObject({ stem: 'imagenet', stemWidth: 64, shortcut: 'B', numClasses: 10 });
    expect(built.spec.stages.map((s) => [s.block, s.width, s.depth, s.stride])).toEqual([
      ['basic', 64, 2, 1],
      ['basic', 128, 2, 2],
      ['basic', 256, 2, 2],
      ['basic', 512, 2, 2],
    ]);
    const { maxAbs, scale } = logitsDiff(
      built.model,
      path.join(dir, 'torchvision-resnet18.input.npy'),
      path.join(dir, 'torchvision-resnet18.pth.logits.npy'),
    );
    console.log(`convention torchvision resnet18.pth: max abs diff ${maxAbs.toExponential(2)} (scale ${scale.toFixed(2)})`);
    expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
    built.model.dispose();
  });
});
