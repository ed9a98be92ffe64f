/**
 * Bad input, end to end: a representative sample of wrong options, malformed checkpoints and file
 * system traps run through the built CLI (`node packages/cli/bin/resnet.js`; build first with
 * `npx tsc -b packages/cli`), in parallel. For every case: a non-zero exit, exactly one `resnet:`
 * line, no stack trace, nothing on stdout (no claim of success), and no partial or temporary file
 * left in the output folder. Uses the shipped resnet20-fashion-mnist weights and Fashion-MNIST.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import '@resnet-ts/backend-node';
import { npyHeader, useBackend } from '@resnet-ts/core';
import { loadSafetensors, saveNpy, saveSafetensors } from '@resnet-ts/core/node';
import { BIN, ROOT, runCli as runCliIn } from './cli-run';

const WEIGHTS = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');
const IMAGE = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist', '0-T_shirt_top.png');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist');
/** Flags that keep a training run that gets through tiny (about 2 s). */
const QUICK = ['--limit', '64', '--test-limit', '64', '--iterations', '2', '--batch', '32'];

/** `resnet ...args` in the test's folder, as user `uid` when given (the shared runner of cli-run.ts). */
const runCli = (args: string[], uid?: number) => runCliIn(args, dir, 60_000, {}, uid);

/** Runs `jobs` with at most `limit` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}

let dir: string;
const p = (...parts: string[]) => path.join(dir, ...parts);

/** A copy of the shipped weights with some metadata fields replaced (JSON values). */
async function withMetadata(name: string, fields: Record<string, unknown>, tensorEdit?: (t: Map<string, tf.Tensor>) => void) {
  const { tensors, metadata } = await loadSafetensors(WEIGHTS);
  tensorEdit?.(tensors);
  const meta = { ...metadata };
  for (const [k, v] of Object.entries(fields)) meta[k] = JSON.stringify(v);
  await saveSafetensors(p(name), tensors, meta);
  tf.dispose([...tensors.values()]);
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bad-input-'));
  fs.chmodSync(dir, 0o755); // the EACCES case runs as another user
  const spec = JSON.parse((await loadSafetensors(WEIGHTS, { filter: () => false })).metadata.spec);
  await withMetadata('null-stage.safetensors', { spec: { ...spec, stages: [spec.stages[0], null, spec.stages[2]] } });
  await withMetadata('bad-prep.safetensors', { preprocessing: { mean: 'x', std: [0.3] } });
  await withMetadata('short-classes.safetensors', { classes: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] });
  await withMetadata('misshaped.safetensors', {}, (t) => {
    const w = t.get('conv1.weight')!;
    t.set('conv1.weight', tf.reshape(w, [-1]));
    w.dispose();
  });
  // The shipped weights with 'fc.bias' named twice in the header (written by hand: no writer repeats a key).
  const shipped = fs.readFileSync(WEIGHTS);
  const headerEnd = 8 + Number(shipped.readBigUInt64LE(0));
  const headerText = shipped.subarray(8, headerEnd).toString().trimEnd();
  const fcBias = JSON.stringify((JSON.parse(headerText) as Record<string, unknown>)['fc.bias']);
  const dupHeader = Buffer.from(`${headerText.slice(0, -1)},"fc.bias":${fcBias}}`);
  const dupLength = Buffer.alloc(8);
  dupLength.writeBigUInt64LE(BigInt(dupHeader.length));
  fs.writeFileSync(p('dup-key.safetensors'), Buffer.concat([dupLength, dupHeader, shipped.subarray(headerEnd)]));
  // A PyTorch checkpoint with one byte of a weight changed (its zip entry's CRC-32 no longer matches).
  const pth = fs.readFileSync(path.join(ROOT, 'packages', 'core', 'test', 'fixtures', 'torch', 'cifar-resnet8-optionB.pth'));
  pth[Math.floor(pth.length / 2)] ^= 0x10;
  fs.writeFileSync(p('flipped.pth'), pth);
  const zero = tf.zeros([1, 1, 0, 0]);
  const ok = tf.zeros([2, 1, 32, 32]);
  await saveNpy(p('empty.npy'), zero);
  await saveNpy(p('ok.npy'), ok);
  // Raw 8-bit pixels as NumPy saves them (uint8): they need preprocessing, not a silent cast.
  fs.writeFileSync(p('pixels-u8.npy'), Buffer.concat([npyHeader('|u1', [2, 1, 32, 32]), Buffer.alloc(2 * 32 * 32, 200)]));
  tf.dispose([zero, ok]);
  fs.writeFileSync(p('a-file'), 'not a folder');
  for (const d of ['out', 'busy', 'empty-run', 'readonly']) fs.mkdirSync(p(d));
  fs.writeFileSync(p('busy', '.resnet-run.lock'), JSON.stringify({ pid: process.pid, started: 'now' }));
  fs.mkdirSync(p('one-class', 'shirts'), { recursive: true });
  for (const i of [0, 1, 2])
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * i, g: 0, b: 0 } } })
      .png()
      .toFile(p('one-class', 'shirts', `${i}.png`));
  if (HAVE_FMNIST) {
    // A finished run, then a resumable copy whose checkpoint's training step was hand-edited.
    const r = await runCliIn(['train', ...QUICK, '--out', p('done-run')], dir, 120_000);
    expect(r.status).toBe(0);
    fs.mkdirSync(p('edited-run'));
    const { tensors, metadata } = await loadSafetensors(p('done-run', 'checkpoint.safetensors'));
    const training = { ...JSON.parse(metadata.training), step: -1 };
    await saveSafetensors(p('edited-run', 'checkpoint.safetensors'), tensors, { ...metadata, training: JSON.stringify(training) });
    // And one whose stored options (taken back for those a resume leaves out) were hand-edited.
    fs.mkdirSync(p('edited-options-run'));
    const options = { ...JSON.parse(metadata.train_options), lr: 'fast' };
    await saveSafetensors(p('edited-options-run', 'checkpoint.safetensors'), tensors, {
      ...metadata,
      train_options: JSON.stringify(options),
    });
    tf.dispose([...tensors.values()]);
    // A copy to resume with another --model (its own folder: the run lock would make parallel cases busy).
    fs.cpSync(p('done-run'), p('other-model-run'), { recursive: true });
    fs.cpSync(p('done-run'), p('other-lr-run'), { recursive: true });
  }
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Case {
  name: string;
  args: string[];
  /** What the one error line must say. */
  error: RegExp;
  /** Files or folders that must not exist afterwards (relative to the test folder). */
  absent?: string[];
  needsData?: boolean;
  uid?: number;
  /** Refused before anything is announced: the error line is all stderr holds. */
  alone?: true;
}

const shipped = ['--model', 'resnet20-fashion-mnist'];
const cases: Case[] = [
  // options
  {
    name: 'eval --batch 0 (looped forever)',
    args: ['eval', ...shipped, '--batch', '0'],
    error: /^--batch must be an integer from 1 to 65536; got 0$/,
  },
  { name: 'eval --batch -1', args: ['eval', ...shipped, '--batch', '-1'], error: /^--batch must be an integer from 1 to 65536; got -1$/ },
  { name: 'eval --batch abc', args: ['eval', ...shipped, '--batch', 'abc'], error: /^--batch must be .*; got abc$/ },
  { name: 'train --batch 1e9', args: ['train', '--batch', '1e9', '--out', 'out/b'], error: /^--batch must be/, absent: ['out/b'] },
  {
    name: 'train --limit 0 (trained on everything)',
    args: ['train', '--limit', '0', '--out', 'out/l'],
    error: /^--limit must be an integer from 1/,
    absent: ['out/l'],
  },
  {
    name: 'train --test-limit 0',
    args: ['train', '--test-limit', '0', '--out', 'out/t'],
    error: /^--test-limit must be an integer from 1/,
  },
  { name: 'eval --limit -1', args: ['eval', ...shipped, '--limit', '-1'], error: /^--limit must be an integer from 1/ },
  {
    name: 'eval --limit beyond the test set',
    args: ['eval', ...shipped, '--limit', '20000'],
    error: /^--limit 20000 is more than the 10000 test images/,
    needsData: true,
  },
  { name: 'predict --top 0', args: ['predict', ...shipped, '--top', '0', IMAGE], error: /^--top must be an integer from 1/ },
  { name: 'predict --top -1', args: ['predict', ...shipped, '--top', '-1', IMAGE], error: /^--top must be an integer from 1/ },
  {
    name: 'predict --top 11 of 10 classes',
    args: ['predict', ...shipped, '--top', '11', IMAGE],
    error: /^--top 11 is more than the model's 10 classes/,
  },
  { name: 'train --momentum -1', args: ['train', '--momentum', '-1'], error: /^--momentum must be a number >= 0 and < 1; got -1$/ },
  { name: 'train --momentum 5', args: ['train', '--momentum', '5'], error: /^--momentum must be a number >= 0 and < 1; got 5$/ },
  { name: 'train --wd -1', args: ['train', '--wd', '-1'], error: /^--wd must be a number >= 0/ },
  {
    name: 'train --schedule steps',
    args: ['train', '--schedule', 'steps'],
    error: /^--schedule must be one of multistep, paper, cosine, constant; got steps$/,
  },
  { name: 'summary --input 0x0', args: ['summary', 'resnet20', '--input', '0x0'], error: /^--input must be HxW or HxWxC/ },
  {
    name: 'summary --depth -1',
    args: ['summary', 'resnet20', '--depth', '-1'],
    error: /^--depth must be an integer from 1 to 64; got -1$/,
  },
  {
    name: 'export-onnx --opset 99',
    args: ['export-onnx', '--weights', WEIGHTS, '--opset', '99', '--out', 'out/x.onnx'],
    error: /^--opset must be an integer from 13 to 21; got 99$/,
    absent: ['out/x.onnx'],
  },
  {
    name: 'forward on a 0x0 .npy input',
    args: ['forward', '--weights', WEIGHTS, '--input', 'empty.npy', '--out', 'out/logits.npy'],
    error: /has shape \[1, 1, 0, 0\]: an empty batch or image/,
    absent: ['out/logits.npy'],
  },
  {
    name: 'forward on raw uint8 pixels (.npy as NumPy saved them)',
    args: ['forward', '--weights', WEIGHTS, '--input', 'pixels-u8.npy', '--out', 'out/u8.npy'],
    error: /^--input 'pixels-u8\.npy' holds uint8 values; expected float32, preprocessed as the model expects/,
    absent: ['out/u8.npy'],
  },
  { name: 'bench --repeats 0', args: ['bench', '--repeats', '0'], error: /^--repeats must be an integer from 1 to 1000; got 0$/ },
  {
    name: 'lab with an --out that cannot be made (/proc): one line before any work (it ran, then looped or printed a stack)',
    args: ['lab', 'identity', '--out', '/proc/resnet-ts-lab-out'],
    error: /^--out \/proc\/resnet-ts-lab-out: Cannot create folder '\/proc\/resnet-ts-lab-out': .*\(ENOENT\)\.$/,
    alone: true,
  },
  {
    name: 'lab lesion --max-swaps beyond the pairs the nets have: refused as --max-k is (it was cut quietly)',
    args: ['lab', 'lesion', '--max-swaps', '99', '--out', 'out/lesion-swaps'],
    error: /^lesion: the number of swapped pairs \(--max-swaps\) must be 0 to \d+, the most pairs either net can swap \(residual \d+, plain \d+\); got 99\.$/,
    needsData: true,
    absent: ['out/lesion-swaps'],
  },
  { name: 'lab degradation --depths 21', args: ['lab', 'degradation', '--depths', '20,21'], error: /^--depths must be .*6n\+2/ },
  {
    name: 'lab transfer --seeds 0,0 (a spread over "seeds" that are one seed)',
    args: ['lab', 'transfer', '--seeds', '0,0', '--out', 'out/transfer'],
    error: /^--seeds lists 0 twice: give each value once; got 0,0$/,
    absent: ['out/transfer'],
  },
  {
    name: 'lab paths --lengths longer than the net (printed a value for all blocks, then a stack trace)',
    args: ['lab', 'paths', '--lengths', '1,99', '--out', 'out/paths'],
    error: /^paths: path lengths \(--lengths\) must be 0 to 9, the model's number of blocks; got 99\.$/,
    absent: ['out/paths'],
    needsData: true,
  },
  {
    name: 'an unknown option',
    args: ['train', '--epoch', '3'],
    error: /^unknown option '--epoch' \(Did you mean --epochs\?\) \(see 'resnet train --help'\)$/,
  },
  // checkpoint metadata
  {
    name: 'a spec with a null stage',
    args: ['eval', '--weights', 'null-stage.safetensors', '--limit', '10'],
    error: /null-stage\.safetensors: metadata "spec\.stages\[1\]" must be an object/,
  },
  {
    name: 'a bad preprocessing entry',
    args: ['predict', '--weights', 'bad-prep.safetensors', IMAGE],
    error: /bad-prep\.safetensors: metadata "preprocessing\.mean" must be a non-empty list/,
  },
  {
    name: 'classes shorter than the head',
    args: ['predict', '--weights', 'short-classes.safetensors', IMAGE],
    error: /short-classes\.safetensors: metadata "classes" lists 7 names but the model's head has 10 outputs/,
  },
  {
    name: '--model plain20 with ResNet-20 weights',
    args: ['eval', '--model', 'plain20', '--weights', WEIGHTS, '--limit', '10'],
    error: /another architecture than this model \(residual: file true, model false/,
    needsData: true,
  },
  {
    name: 'convert a mis-shaped checkpoint to torchvision',
    args: ['convert', 'misshaped.safetensors', 'out/tv.safetensors', '--to', 'torchvision'],
    error: /conv1\.weight \(model \[16, 1, 3, 3\], file \[144\]\)/,
    absent: ['out/tv.safetensors'],
  },
  {
    name: 'resume from a hand-edited training.step',
    args: ['train', ...QUICK, '--resume', '--out', 'edited-run'],
    error: /checkpoint\.safetensors: metadata "training\.step" must be a non-negative integer; got -1/,
    needsData: true,
  },
  {
    name: 'resume from a hand-edited stored option (train_options)',
    args: ['train', '--resume', '--out', 'edited-options-run'],
    error: /checkpoint\.safetensors: metadata "train_options\.lr" must be a number; got "fast"\.$/,
    needsData: true,
  },
  {
    name: 'a safetensors header naming a tensor twice (was read, JSON.parse keeping the last)',
    args: ['forward', '--weights', 'dup-key.safetensors', '--input', 'ok.npy', '--out', 'out/dup.npy'],
    error: /dup-key\.safetensors: duplicate tensor name 'fc\.bias' in the header; the file is corrupt \(each name may appear once\)\.$/,
    absent: ['out/dup.npy'],
  },
  {
    name: 'a .pth with one byte changed in a weight',
    args: ['forward', '--weights', 'flipped.pth', '--input', 'ok.npy', '--out', 'out/f.npy'],
    error: /flipped\.pth: this PyTorch zip checkpoint is truncated or corrupt \('.*' fails its CRC-32 check/,
    absent: ['out/f.npy'],
  },
  // file system and run folders
  {
    name: '--out is a file (EEXIST)',
    args: ['train', ...QUICK, '--out', 'a-file'],
    error: /^Cannot use 'a-file' as a folder: it is a file \(EEXIST\)\.$/,
  },
  { name: '--out under a file (ENOTDIR)', args: ['train', ...QUICK, '--out', 'a-file/run'], error: /'a-file\/run'.*\(ENOTDIR\)/ },
  {
    name: '--out under /proc (hung in mkdir -p)',
    args: ['train', ...QUICK, '--out', '/proc/resnet-ts-bad-input/run'],
    error: /^Cannot create folder '\/proc\/resnet-ts-bad-input': .*\((ENOENT|EACCES|EPERM)\)\.$/,
    needsData: true,
  },
  {
    name: 'forward --out is a folder (EISDIR)',
    args: ['forward', '--weights', WEIGHTS, '--input', 'ok.npy', '--out', 'out'],
    error: /^Cannot write 'out': it is a folder, not a file \(EISDIR\)\.$/,
  },
  {
    name: 'export-onnx --out is a folder (EISDIR)',
    args: ['export-onnx', '--weights', WEIGHTS, '--out', 'out'],
    error: /^Cannot write 'out': it is a folder, not a file \(EISDIR\)\.$/,
  },
  {
    name: 'export-onnx --out under a file (ENOTDIR)',
    args: ['export-onnx', '--weights', WEIGHTS, '--out', 'a-file/m.onnx'],
    error: /^Cannot write 'a-file\/m\.onnx': .*\(ENOTDIR\)\.$/,
  },
  {
    name: 'resume a ResNet-20 run as a ResNet-32',
    args: ['train', ...QUICK, '--model', 'resnet32', '--resume', '--out', 'other-model-run'],
    error:
      /^Cannot resume from other-model-run\/checkpoint\.safetensors: it holds another network than this run's \(60 of this run's weights missing; e\.g\. layer1\.3\.conv1\.weight\)\. Use the --model or --init \(and --classes\) of the run that made it, or another --out\.$/,
    needsData: true,
    alone: true,
  },
  {
    name: 'resume with another --lr: refused before the run is announced (its header named a schedule never run)',
    args: ['train', ...QUICK, '--lr', '0.05', '--resume', '--out', 'other-lr-run'],
    error: /^Cannot resume from other-lr-run\/checkpoint\.safetensors: .*--lr 0\.05 differs from the run's 0\.1/,
    needsData: true,
    alone: true,
  },
  {
    name: 'a last batch of one image where batch norm sees 1x1 maps (resnet18 at 32x32): named by the flags typed',
    args: ['train', '--model', 'resnet18', '--image-size', '32', '--limit', '17', '--batch', '16', '--epochs', '1', '--out', 'one-image-batch'],
    error: /^--batch 16 on 17 training images makes a last batch of 1 image .* layer4\.0\.bn1 sees 1x1 maps .*: give --batch 15 or 17 \(no batch of 1\)\.$/,
    needsData: true,
    absent: ['one-image-batch'],
    alone: true,
  },
  {
    name: '--resume with nothing to resume',
    args: ['train', ...QUICK, '--resume', '--out', 'empty-run'],
    error: /^Nothing to resume in 'empty-run': it has no checkpoint\.safetensors/,
  },
  {
    name: "a second run into a finished run's folder",
    args: ['train', ...QUICK, '--out', 'done-run'],
    error: /^'done-run' already holds a run \(.*\): pass --resume to continue it, --force to replace it/,
    needsData: true,
  },
  {
    name: '--epochs next to --iterations (one would be dropped)',
    args: ['train', ...QUICK, '--epochs', '3', '--out', 'out/both'],
    error: /^give --epochs or --iterations, not both: each sets the length of the run\.$/,
    absent: ['out/both'],
  },
  {
    name: 'a folder in use by a live process',
    args: ['train', ...QUICK, '--out', 'busy'],
    error: new RegExp(`^'busy' is in use by process ${process.pid} `),
  },
  {
    name: 'an image folder with one class',
    args: ['train', ...QUICK.slice(4), '--data', 'one-class', '--out', 'out/one'],
    error: /one-class has 1 class folder \(shirts\): a classifier needs at least 2, one sub-folder of images per class\./,
    absent: ['out/one'],
  },
  {
    name: 'train into a folder it may not create (EACCES, as an unprivileged user)',
    args: ['train', ...QUICK, '--out', 'readonly/run'],
    error: /^Cannot create folder '.*readonly\/run': permission denied \(EACCES\)\.$/,
    uid: 65534,
    needsData: true,
    absent: ['readonly/run'],
  },
  {
    name: 'a read-only --out (EACCES, as an unprivileged user)',
    args: ['export-onnx', '--weights', WEIGHTS, '--out', 'readonly/m.onnx'],
    error: /^Cannot write 'readonly\/m\.onnx': permission denied \(EACCES\)\.$/,
    uid: 65534,
  },
];

test(`${cases.length} bad inputs: non-zero exit, one resnet: line, no stack, nothing claimed on stdout, no partial file`, async () => {
  const canSwitchUser = process.getuid?.() === 0;
  const runnable = cases.filter((c) => (HAVE_FMNIST || !c.needsData) && (c.uid === undefined || canSwitchUser));
  const skipped = cases.filter((c) => !runnable.includes(c)).map((c) => c.name);
  if (skipped.length) console.log(`skipped (no Fashion-MNIST or not root): ${skipped.join('; ')}`);
  const t0 = Date.now();
  const results = await pool(
    runnable.map((c) => () => runCli(c.args, c.uid)),
    3,
  );
  console.log(`${runnable.length} bad-input cases through the CLI in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const failures: string[] = [];
  runnable.forEach((c, i) => {
    const r = results[i];
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
    const problems = [
      r.status === 0 || r.status === null ? `exit ${r.status}` : '',
      lines.length !== 1 ? `${lines.length} resnet: lines` : '',
      r.stderr.includes('\n    at ') ? 'a stack trace' : '',
      c.alone && r.stderr.trim() !== lines[0] ? 'more than the error line on stderr' : '',
      r.stdout !== '' ? `stdout ${JSON.stringify(r.stdout.slice(0, 80))}` : '',
      lines.length === 1 && !c.error.test(lines[0].replace(/^resnet: /, '')) ? `error line ${JSON.stringify(lines[0])}` : '',
      ...(c.absent ?? []).filter((f) => fs.existsSync(p(f))).map((f) => `${f} was created`),
    ].filter(Boolean);
    if (problems.length) failures.push(`${c.name}: ${problems.join(', ')}\n  stderr: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  });
  // No temporary or partial file anywhere in the test folder, the run folders included.
  const leftovers = fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => /\.tmp$|\.resnet-run\.lock$/.test(f) && !f.startsWith('busy'));
  expect(leftovers).toEqual([]);
  expect(failures).toEqual([]);
  if (HAVE_FMNIST) {
    // The refused second run left the finished one as it was.
    expect(fs.readdirSync(p('done-run')).sort()).toEqual(['checkpoint.safetensors', 'curves.svg', 'log.jsonl', 'model.safetensors']);
  }
}, 300_000);

(HAVE_FMNIST ? test.each : test.skip.each)([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)(
  '%s mid-run (Ctrl-C, a service stopped): exit %d after saving a resumable checkpoint; no temporary file or lock left',
  async (signal, status) => {
    const out = p(`interrupted-${signal}`);
    const child = spawn(
      process.execPath,
      [BIN, 'train', '--limit', '2048', '--test-limit', '64', '--iterations', '400', '--batch', '32', '--out', out],
      { cwd: dir },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const started = new Promise<void>((resolve) =>
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('training resnet20')) resolve();
      }),
    );
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await started;
    await new Promise((r) => setTimeout(r, 1500));
    child.kill(signal);
    expect(await closed).toBe(status);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/checkpoint saved to .*checkpoint\.safetensors; continue with --resume/);
    expect(stderr).not.toContain('\n    at ');
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint.safetensors', 'log.jsonl']);
    const { metadata } = await loadSafetensors(path.join(out, 'checkpoint.safetensors'), { filter: () => false });
    const step = JSON.parse(metadata.training).step as number;
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(400);
  },
  120_000,
);
