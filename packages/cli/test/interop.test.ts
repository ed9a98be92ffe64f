/**
 * `resnet forward`, `resnet export-onnx` and `resnet convert`, run as a user runs them (the built
 * dist/bin.js; `npm test` builds first), checked against PyTorch's logits (committed fixtures from
 * scripts/parity/make_fixtures.py; torchvision resnet18 generated at test time where
 * /usr/bin/python3 has torch) and against onnxruntime-node.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadNpy, loadSafetensors, saveCheckpoint, saveNpy } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { PYTHON, pythonSkipReason } from '../../../test-support/python';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(__dirname, '..', 'dist', 'bin.js');
const FIX = path.join(ROOT, 'packages', 'core', 'test', 'fixtures', 'parity');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 180_000 });

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-interop-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function maxDiff(a: string, b: string): { maxAbs: number; scale: number; shape: number[] } {
  const x = loadNpy(a);
  const y = loadNpy(b);
  const r = tf.tidy(() => ({
    maxAbs: tf.max(tf.abs(tf.sub(x, y))).dataSync()[0],
    scale: Math.max(1, tf.max(tf.abs(y)).dataSync()[0]),
    shape: x.shape,
  }));
  tf.dispose([x, y]);
  return r;
}

function expectParity(label: string, out: string, ref: string): void {
  const { maxAbs, scale, shape } = maxDiff(out, ref);
  console.log(`${label}: max abs diff ${maxAbs.toExponential(2)} (scale ${scale.toFixed(2)})`);
  const refT = loadNpy(ref);
  expect(shape).toEqual(refT.shape);
  refT.dispose();
  expect(maxAbs).toBeLessThanOrEqual(1e-4 * scale);
}

/** One line on stderr (engine warnings aside), exit 1, no stack trace. */
function expectCleanFailure(r: ReturnType<typeof run>, message: RegExp): void {
  expect(r.status).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('resnet forward reproduces PyTorch', () => {
  test.each([
    ['resnet20', 'cpu'],
    ['bottleneck', 'wasm'],
  ])('%s fixture on %s (spec from the checkpoint)', (name, backend) => {
    const out = path.join(dir, `${name}.out.npy`);
    const r = run(
      'forward',
      '--weights',
      path.join(FIX, `${name}.safetensors`),
      '--input',
      path.join(FIX, `${name}.input.npy`),
      '--out',
      out,
      '--backend',
      backend,
    );
    expect(r.stderr).not.toMatch(/^resnet:/m);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote logits \[\d+, 10\]/);
    expectParity(`resnet forward ${name} (${backend})`, out, path.join(FIX, `${name}.logits.npy`));
  });

  test('NHWC input with --layout nhwc and --model given', async () => {
    const x = loadNpy(path.join(FIX, 'resnet20.input.npy'));
    const nhwc = tf.transpose(x, [0, 2, 3, 1]);
    const input = path.join(dir, 'nhwc.npy');
    await saveNpy(input, nhwc);
    tf.dispose([x, nhwc]);
    const out = path.join(dir, 'nhwc.out.npy');
    const r = run(
      'forward',
      '--model',
      'resnet20',
      '--weights',
      path.join(FIX, 'resnet20.safetensors'),
      '--input',
      input,
      '--out',
      out,
      '--layout',
      'nhwc',
      '--backend',
      'wasm',
    );
    expect(r.status).toBe(0);
    expectParity('resnet forward resnet20 nhwc', out, path.join(FIX, 'resnet20.logits.npy'));
  });

  test('--model accepts a spec file (custom depth)', async () => {
    const { metadata } = await loadSafetensors(path.join(FIX, 'bottleneck.safetensors'), { filter: () => false });
    const spec = path.join(dir, 'bottleneck.spec.json');
    fs.writeFileSync(spec, metadata.spec);
    const out = path.join(dir, 'spec.out.npy');
    const r = run(
      'forward',
      '--model',
      spec,
      '--weights',
      path.join(FIX, 'bottleneck.safetensors'),
      '--input',
      path.join(FIX, 'bottleneck.input.npy'),
      '--out',
      out,
      '--backend',
      'wasm',
    );
    expect(r.status).toBe(0);
    expectParity('resnet forward bottleneck --model spec.json', out, path.join(FIX, 'bottleneck.logits.npy'));
  });

  describe('torchvision resnet18 checkpoint (generated with PyTorch)', () => {
    const skip = pythonSkipReason(['torch', 'torchvision']);
    test('logits match', () => {
      if (skip) {
        console.log(`SKIP torchvision resnet18 forward: ${skip}`);
        return;
      }
      const g = spawnSync(PYTHON, [path.join(ROOT, 'scripts/parity/make_fixtures.py'), '--out', dir, '--only', 'resnet18'], {
        encoding: 'utf8',
      });
      expect(g.status).toBe(0);
      const out = path.join(dir, 'r18.out.npy');
      const args = [
        '--weights',
        path.join(dir, 'resnet18.safetensors'),
        '--input',
        path.join(dir, 'resnet18.input.npy'),
        '--out',
        out,
        '--backend',
        'wasm',
      ];
      const r = run('forward', '--model', 'resnet18', ...args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/wrote logits \[2, 1000\]/);
      expectParity('resnet forward torchvision resnet18 (wasm)', out, path.join(dir, 'resnet18.logits.npy'));
      // A plain state dict does not store its architecture: the weights' shapes imply it.
      const inferred = run('forward', ...args);
      expect(inferred.status).toBe(0);
      expectParity('resnet forward torchvision resnet18, architecture inferred (wasm)', out, path.join(dir, 'resnet18.logits.npy'));
    });
  });
});

describe('bad input: one clear line, exit 1, nothing written', () => {
  const weights = path.join(FIX, 'resnet20.safetensors');
  const input = path.join(FIX, 'resnet20.input.npy');
  const out = () => path.join(dir, `never-${Math.random().toString(36).slice(2)}.npy`);

  function header(json: object, dataBytes: number): Buffer {
    const body = Buffer.from(JSON.stringify(json));
    const b = Buffer.alloc(8 + body.length + dataBytes);
    b.writeBigUInt64LE(BigInt(body.length), 0);
    body.copy(b, 8);
    return b;
  }

  test.each([
    ['truncated safetensors', () => fs.readFileSync(weights).subarray(0, 5000), /runs past the end|outside the data section|cover/],
    [
      'header that lies about sizes',
      () => header({ 'conv1.weight': { dtype: 'F32', shape: [16, 3, 3, 3], data_offsets: [0, 100] } }, 100),
      /conv1\.weight.*needs 1728 bytes/,
    ],
    [
      'unsupported dtype',
      () => header({ 'conv1.weight': { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8),
      /'conv1\.weight' has dtype "C64"/,
    ],
    ['not safetensors at all', () => Buffer.from('hello world, not a weights file'), /not a weights file resnet-ts reads .*expected safetensors or a PyTorch \.pth/],
  ])('%s', (_name, make, message) => {
    const bad = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
    fs.writeFileSync(bad, make());
    const o = out();
    expectCleanFailure(run('forward', '--model', 'resnet20', '--weights', bad, '--input', input, '--out', o, '--backend', 'cpu'), message);
    expect(fs.existsSync(o)).toBe(false);
  });

  test('wrong-shape .npy, missing files, wrong model, missing output folder', async () => {
    const x = loadNpy(input);
    const nhwc = tf.transpose(x, [0, 2, 3, 1]);
    const wrong = path.join(dir, 'wrong.npy');
    await saveNpy(wrong, nhwc);
    const r3 = path.join(dir, 'rank3.npy');
    const single = tf.squeeze(tf.slice(x, [0], [1]), [0]);
    await saveNpy(r3, single);
    tf.dispose([x, nhwc, single]);
    let o = out();
    expectCleanFailure(
      run('forward', '--weights', weights, '--input', wrong, '--out', o, '--backend', 'cpu'),
      /has shape \[4, 32, 32, 3\]; expected \[N, 3, H, W\].*--layout nhwc/,
    );
    expectCleanFailure(
      run('forward', '--weights', weights, '--input', r3, '--out', o, '--backend', 'cpu'),
      /has shape \[3, 32, 32\].*batch dimension/,
    );
    expectCleanFailure(
      run('forward', '--weights', path.join(dir, 'nope.safetensors'), '--input', input, '--out', o, '--backend', 'cpu'),
      /No such file: .*nope\.safetensors/,
    );
    expectCleanFailure(
      run('forward', '--weights', weights, '--input', path.join(dir, 'nope.npy'), '--out', o, '--backend', 'cpu'),
      /No such file: .*nope\.npy/,
    );
    expectCleanFailure(
      run('forward', '--model', 'resnet32', '--weights', weights, '--input', input, '--out', o, '--backend', 'cpu'),
      /does not match the model: missing keys: layer1\.3\./,
    );
    expect(fs.existsSync(o)).toBe(false);
    o = path.join(dir, 'no-such-folder', 'y.npy');
    expectCleanFailure(run('forward', '--weights', weights, '--input', input, '--out', o, '--backend', 'cpu'), /folder .* does not exist/);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('resnet export-onnx', () => {
  test('the exported model gives PyTorch logits in onnxruntime-node (folded and not)', () => {
    for (const fold of [true, false]) {
      const onnx = path.join(dir, `m${fold}.onnx`);
      const r = run('export-onnx', '--weights', path.join(FIX, 'bottleneck.safetensors'), '--out', onnx, ...(fold ? [] : ['--no-fold-bn']));
      expect(r.status).toBe(0);
      const script = `
        const fs = require('fs'); const ort = require('onnxruntime-node');
        const b = fs.readFileSync(process.argv[2]); const n = b.readUInt16LE(8); const off = 10 + n;
        const hdr = b.subarray(10, off).toString('latin1'); const shape = /\\((\\d+), (\\d+), (\\d+), (\\d+)\\)/.exec(hdr).slice(1).map(Number);
        const data = new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length));
        ort.InferenceSession.create(fs.readFileSync(process.argv[1])).then((s) => s.run({ input: new ort.Tensor('float32', data, shape) }))
          .then((o) => process.stdout.write(JSON.stringify({ dims: o.logits.dims, data: Array.from(o.logits.data) })));`;
      const o = spawnSync(process.execPath, ['-e', script, onnx, path.join(FIX, 'bottleneck.input.npy')], { encoding: 'utf8', cwd: ROOT });
      expect(o.status).toBe(0);
      const { dims, data } = JSON.parse(o.stdout) as { dims: number[]; data: number[] };
      const y = tf.tensor(data, dims);
      const ref = loadNpy(path.join(FIX, 'bottleneck.logits.npy'));
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]);
      console.log(`resnet export-onnx bottleneck (fold ${fold}) in onnxruntime vs PyTorch: max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(
        1e-4 *
          Math.max(
            1,
            tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]),
          ),
      );
      tf.dispose([y, ref]);
    }
  });

  test('bad weights: clean error, no file', () => {
    const onnx = path.join(dir, 'never.onnx');
    expectCleanFailure(
      run('export-onnx', '--model', 'resnet18', '--weights', path.join(FIX, 'resnet20.safetensors'), '--out', onnx),
      /does not match the model/,
    );
    expect(fs.existsSync(onnx)).toBe(false);
  });
});

describe('resnet convert', () => {
  test('resnet-ts checkpoint (with optimizer tensors) -> torchvision -> resnet-ts, logits unchanged', async () => {
    const model = createModel('resnet20', { seed: 5 });
    const ours = path.join(dir, 'ours.safetensors');
    const mom = tf.ones([10, 64]);
    await saveCheckpoint(ours, model, {
      classes: Array.from({ length: 10 }, (_, i) => `c${i}`),
      extraTensors: { 'optimizer.momentum.fc.weight': mom },
      training: { epoch: 1 },
    });
    mom.dispose();
    model.dispose();
    const tv = path.join(dir, 'tv.safetensors');
    const a = run('convert', ours, tv);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/dropped 1 non-model tensors \(optimizer\.momentum\.fc\.weight\)/);
    const plain = await loadSafetensors(tv);
    // Only the model's tensors; the metadata keeps what they cannot say (the spec) and the class names.
    expect(Object.keys(plain.metadata).sort()).toEqual(['classes', 'format', 'spec']);
    expect(plain.metadata.format).toBe('pt');
    expect(plain.tensors.has('optimizer.momentum.fc.weight')).toBe(false);
    expect(plain.tensors.get('layer1.0.bn1.num_batches_tracked')).toBeDefined();
    tf.dispose([...plain.tensors.values()]);
    // Without --model the architecture is the spec stored in the metadata (a ResNet-20, option A).
    const inferred = path.join(dir, 'x.safetensors');
    expect(run('convert', tv, inferred).status).toBe(0);
    const x = await loadSafetensors(inferred);
    expect(JSON.parse(x.metadata.spec)).toMatchObject({ stem: 'cifar', shortcut: 'A', numClasses: 10 });
    expect(JSON.parse(x.metadata.spec).stages.map((st: { depth: number }) => st.depth)).toEqual([3, 3, 3]);
    tf.dispose([...x.tensors.values()]);
    const back = path.join(dir, 'back.safetensors');
    const b = run('convert', tv, back, '--model', 'resnet20');
    expect(b.status).toBe(0);
    const again = await loadSafetensors(back);
    expect(again.metadata.format).toBe('resnet-ts/1');
    expect(JSON.parse(again.metadata.spec).stages).toHaveLength(3);
    tf.dispose([...again.tensors.values()]);
    const input = path.join(FIX, 'resnet20.input.npy');
    const o1 = path.join(dir, 'o1.npy');
    const o2 = path.join(dir, 'o2.npy');
    expect(run('forward', '--weights', ours, '--input', input, '--out', o1, '--backend', 'wasm').status).toBe(0);
    expect(run('forward', '--model', 'resnet20', '--weights', tv, '--input', input, '--out', o2, '--backend', 'wasm').status).toBe(0);
    expect(maxDiff(o1, o2).maxAbs).toBe(0);
    expectCleanFailure(run('convert', tv, path.join(dir, 'y.safetensors'), '--model', 'resnet32'), /missing keys/);
    expect(fs.existsSync(path.join(dir, 'y.safetensors'))).toBe(false);
  });

  test('a resnet-ts checkpoint loads in PyTorch (load_state_dict strict) and gives the same logits', () => {
    const skip = pythonSkipReason(['torch', 'torchvision']);
    if (skip) {
      console.log(`SKIP PyTorch load check: ${skip}`);
      return;
    }
    // back.safetensors: the checkpoint `resnet convert --to resnet-ts` wrote (metadata, I64 num_batches_tracked).
    const ours = path.join(dir, 'back.safetensors');
    const input = path.join(FIX, 'resnet20.input.npy');
    const torchOut = path.join(dir, 'torch.npy');
    const p = spawnSync(PYTHON, [path.join(ROOT, 'scripts/parity/make_fixtures.py'), 'check', ours, 'resnet20', input, torchOut], {
      encoding: 'utf8',
    });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    const o1 = path.join(dir, 'o1.npy');
    expectParity('resnet-ts checkpoint in PyTorch vs resnet forward', o1, torchOut);
  });
});
