/**
 * The scale-out path, end to end as a user runs it: `resnet train` writes a checkpoint, PyTorch
 * continues it in DistributedDataParallel (2 processes, gloo, `python3 -m torch.distributed.run`)
 * with @resnet-ts/train's scale-out/ddp_train.py, and `resnet eval` of the file it writes reports
 * the accuracy PyTorch printed, to the image. A CIFAR ResNet-20 (option A) and a torchvision-style
 * ResNet-18 (option B, ImageNet stem). Skipped, with the reason printed, without PyTorch or
 * Fashion-MNIST. Runs the built CLI (`npx tsc -b packages/cli` first).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { ResNet, ResNetSpec, useBackend } from '@resnet-ts/core';
import { loadNpy, saveCheckpoint, saveNpy } from '@resnet-ts/core/node';
import '@resnet-ts/zoo'; // registers the blocks and shortcuts
import { PYTHON } from '../../../test-support/python';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(__dirname, '..', 'dist', 'bin.js');
const SCRIPT = path.join(ROOT, 'packages', 'train', 'scale-out', 'ddp_train.py');
const FASHION = '/usr/share/datasets/fashion-mnist';

/** Why these tests skip, or null. Not pythonSkipReason: gloo is asserted, which is more than an import. */
function missing(): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found (apt-get install python3-torch python3-torchvision)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return `${PYTHON} has no torch with gloo (apt-get install python3-torch)`;
  if (!fs.existsSync(FASHION)) return `${FASHION} not found (apt-get install dataset-fashion-mnist)`;
  return null;
}
const reason = missing();
if (reason) console.log(`ddp hand-off tests skipped: ${reason}`);
const maybe = reason ? describe.skip : describe;

const resnet = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 300_000 });

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ddp-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * The JSON events rank 0 printed, from its own stdout.log: torchrun's tee of both ranks into one
 * stream (each line prefixed `[default0]:`) can run a line of one rank into the other's.
 */
function events(rank0: string): Record<string, unknown>[] {
  return rank0
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Rank 0's stdout.log under a run's log folder (`<run id>/attempt_0/0/stdout.log`), or '' when absent. */
function rank0Log(logDir: string): string {
  const files = fs.existsSync(logDir) ? (fs.readdirSync(logDir, { recursive: true }) as string[]) : [];
  const file = files.find((f) => f.split(path.sep).slice(-2).join('/') === '0/stdout.log');
  return file ? fs.readFileSync(path.join(logDir, file), 'utf8') : '';
}

/** torchrun with 2 processes on this machine. `--redirects 1 --tee 1`: Debian's torch 1.13 on Python 3.11 fails with the default (see the train README). */
function ddp(args: string[]) {
  const launcher = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '--redirects', '1', '--tee', '1'];
  fs.mkdirSync(path.join(dir, 'torchrun-logs'), { recursive: true });
  const logDir = fs.mkdtempSync(path.join(dir, 'torchrun-logs', 'run-'));
  const r = spawnSync(PYTHON, [...launcher, '--log_dir', logDir, SCRIPT, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  return { ...r, rank0: rank0Log(logDir) };
}

/** The workers' own log files (stdout.log/stderr.log per rank), to tell which process stalled when a run fails. */
function workerLogs(): string {
  const root = path.join(dir, 'torchrun-logs');
  if (!fs.existsSync(root)) return '(no worker logs)';
  return (fs.readdirSync(root, { recursive: true }) as string[])
    .map((f) => path.join(root, f))
    .filter((f) => fs.statSync(f).isFile())
    .map((f) => `--- ${path.relative(root, f)}\n${fs.readFileSync(f, 'utf8').slice(-2000)}`)
    .join('\n');
}

/** The raw bytes of tensor `name` in a safetensors file. */
function tensorBytes(file: string, name: string): Buffer {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const [start, end] = (JSON.parse(b.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: number[] }>)[name].data_offsets;
  return b.subarray(8 + n + start, 8 + n + end);
}

maybe('resnet-ts checkpoint -> PyTorch DDP (2 processes, gloo) -> resnet eval', () => {
  test.each([
    ['resnet20', 64, 0.05],
    ['resnet18', 32, 0.01],
  ])('%s: the accuracy resnet eval computes is the one PyTorch printed', (model, batch, lr) => {
    const run = path.join(dir, model);
    const t = resnet('train', '--model', model, '--data', 'fashion-mnist', '--limit', '128', '--test-limit', '64', '--epochs', '1', '--batch', String(batch), '--out', run);
    expect(t.stderr + t.stdout).toMatch(/done/);
    expect(t.status).toBe(0);
    // checkpoint.safetensors: weights, BN statistics, SGD momenta (restored by the script) and metadata.
    const out = path.join(dir, `${model}-ddp.safetensors`);
    const args = ['--checkpoint', path.join(run, 'checkpoint.safetensors'), '--data', 'fashion-mnist', '--limit', '256', '--test-limit', '300'];
    const d = ddp([...args, '--epochs', '1', '--batch', String(batch), '--lr', String(lr), '--out', out, '--json']);
    if (d.status !== 0) console.log(`torchrun: status ${d.status}${d.error ? ` (${d.error.message}: killed)` : ''}\n${d.stdout}\n${d.stderr}\n${workerLogs()}`);
    expect(d.status).toBe(0);
    const ev = events(d.rank0);
    // Fashion-MNIST was trained with flips (recorded in the checkpoint): the script continues with them.
    expect(ev.find((e) => e.event === 'start')).toMatchObject({ world: 2, train: 256, test: 300, flip: true });
    expect(ev.find((e) => e.event === 'momentum')?.restored).toBeGreaterThan(0);
    const done = ev.find((e) => e.event === 'done') as { correct: number; total: number; nonFinite: number };
    expect(done).toMatchObject({ total: 300, nonFinite: 0 });
    // It trained: the weights differ from the ones it started from.
    for (const name of ['conv1.weight', 'fc.weight', 'layer1.0.bn1.running_mean'])
      expect(tensorBytes(out, name).equals(tensorBytes(path.join(run, 'model.safetensors'), name))).toBe(false);

    const e = resnet('eval', '--weights', out, '--data', 'fashion-mnist', '--limit', '300', '--json');
    expect(e.status).toBe(0);
    const r = JSON.parse(e.stdout) as { n: number; top1: number; nonFinite: number };
    console.log(`${model}: PyTorch DDP ${done.correct}/${done.total}, resnet eval ${Math.round(r.top1 * r.n)}/${r.n}`);
    expect(r.n).toBe(300);
    expect(Math.round(r.top1 * r.n)).toBe(done.correct);
    expect(r.nonFinite).toBe(0);
  });
});

maybe('ddp_train.py refuses what it would get wrong, in one line', () => {
  const direct = (args: string[]) => spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 60_000 });
  const expectOneLine = (r: ReturnType<typeof direct>, message: RegExp) => {
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  };
  /** A safetensors file with no tensors and the given metadata. */
  const header = (file: string, metadata: Record<string, string>) => {
    const json = Buffer.from(JSON.stringify({ __metadata__: metadata }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(file, Buffer.concat([len, json]));
    return file;
  };

  test('a file that is not a resnet-ts checkpoint; a block it does not build; a bad --out; nothing written', () => {
    const out = path.join(dir, 'refused.safetensors');
    const notCkpt = header(path.join(dir, 'plain.safetensors'), { note: 'no spec' });
    expectOneLine(direct(['--checkpoint', notCkpt, '--out', out]), /not a resnet-ts checkpoint.*resnet convert/);
    const spec = { stem: 'cifar', stages: [{ block: 'preact', width: 16, depth: 1, stride: 1 }], shortcut: 'A', numClasses: 10 };
    const preact = header(path.join(dir, 'preact.safetensors'), { format: 'resnet-ts/1', spec: JSON.stringify(spec) });
    expectOneLine(direct(['--checkpoint', preact, '--out', out]), /'preact'.*'basic' and 'bottleneck' blocks only/);
    const basic = { ...spec, stages: [{ ...spec.stages[0], block: 'basic' }] };
    const future = header(path.join(dir, 'future.safetensors'), { format: 'resnet-ts/1', spec: JSON.stringify({ ...basic, squeezeExcite: 0.25 }) });
    expectOneLine(direct(['--checkpoint', future, '--out', out]), /squeezeExcite.*different network/);
    expectOneLine(direct(['--checkpoint', notCkpt, '--out', path.join(dir, 'x.pth')]), /--out .*\.safetensors/);
    expectOneLine(direct(['--checkpoint', notCkpt, '--out', out, '--epochs', '0']), /--epochs must be a positive integer/);
    expectOneLine(direct(['--checkpoint', notCkpt, '--out', notCkpt + '.x.safetensors', '--force', '--data', path.join(dir, 'nowhere')]), /not a resnet-ts checkpoint/);
    const taken = header(path.join(dir, 'taken.safetensors'), { note: 'a finished model' });
    expectOneLine(direct(['--checkpoint', preact, '--out', taken]), /--out .*taken.safetensors exists: pass --force/);
    expect(fs.readFileSync(taken, 'utf8')).toMatch(/a finished model/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

maybe('resnet_ts_torch.py builds the network of every spec variant it accepts', () => {
  const stage = (block: string, width: number, depth: number, stride: number) => ({ block, width, depth, stride });
  const cifar = (over: Partial<ResNetSpec>): ResNetSpec => ({
    stem: 'cifar',
    stemWidth: 4,
    stages: [stage('basic', 4, 1, 1), stage('basic', 8, 2, 2)],
    shortcut: 'A',
    numClasses: 5,
    inChannels: 1,
    ...over,
  });
  const imagenet = (over: Partial<ResNetSpec>): ResNetSpec => ({
    stem: 'imagenet',
    stemWidth: 8,
    stages: [stage('bottleneck', 4, 1, 1), stage('bottleneck', 8, 1, 2)],
    shortcut: 'B',
    numClasses: 7,
    inChannels: 3,
    ...over,
  });
  const variants: [string, ResNetSpec][] = [
    ['option A, zero channels after', cifar({})],
    ['option A, split', cifar({ shortcutParams: { padding: 'split' } })],
    ['option B', cifar({ shortcut: 'B' })],
    ['option C', cifar({ shortcut: 'C' })],
    ['plain net', cifar({ residual: false })],
    ['no batch norm', cifar({ batchNorm: false, shortcut: 'B' })],
    ['bare stem, final norm', cifar({ stemNorm: 'none', finalNorm: 'bn-relu' })],
    ['bottleneck v1.5, ImageNet stem', imagenet({})],
    ['bottleneck v1', imagenet({ strideMode: 'v1' })],
  ];
  const cases = new Map<string, { model: ResNet; x: tf.Tensor4D; out: string }>();
  beforeAll(async () => {
    // Every variant's checkpoint and input first, then one PyTorch process computes all their logits.
    const triples: string[] = [];
    for (const [name, spec] of variants) {
      const model = new ResNet({ ...spec, seed: 3 });
      const [h, c] = [spec.stem === 'cifar' ? 12 : 32, spec.inChannels ?? 3];
      // A few training-mode forwards move the batch-norm running statistics away from 0 and 1.
      for (let i = 0; i < 3; i++) tf.tidy(() => model.forward(tf.randomNormal([4, h, h, c], 0.5, 2, 'float32', i), { training: true }));
      const stem = path.join(dir, name.replace(/\W+/g, '-'));
      await saveCheckpoint(`${stem}.safetensors`, model);
      const x = tf.randomNormal([3, h, h, c], 0, 1, 'float32', 9) as tf.Tensor4D;
      const nchw = tf.transpose(x, [0, 3, 1, 2]);
      await saveNpy(`${stem}.input.npy`, nchw);
      nchw.dispose();
      cases.set(name, { model, x, out: `${stem}.torch.npy` });
      triples.push(`${stem}.safetensors`, `${stem}.input.npy`, `${stem}.torch.npy`);
    }
    const p = spawnSync(PYTHON, [path.join(path.dirname(SCRIPT), 'resnet_ts_torch.py'), 'forward', ...triples], { encoding: 'utf8', timeout: 120_000 });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
  }, 180_000);
  afterAll(() => {
    for (const { model, x } of cases.values()) {
      model.dispose();
      x.dispose();
    }
  });
  test.each(variants.map(([name]) => name))('%s: PyTorch logits = resnet-ts logits', (name) => {
    const { model, x, out } = cases.get(name)!;
    const ours = model.eval().forward(x);
    const theirs = loadNpy(out);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]);
    const scale = tf.tidy(() => Math.max(1, tf.max(tf.abs(ours)).dataSync()[0]));
    expect(theirs.shape).toEqual(ours.shape);
    expect(diff).toBeLessThanOrEqual(1e-4 * scale);
    tf.dispose([ours, theirs]);
  });
});
