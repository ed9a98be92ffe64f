/**
 * Inputs the CLI once answered with a wrong or misleading result, now refused with one line, run
 * through the built command (`npx tsc -b packages/cli` first) as a user runs it: NaN logits ranked
 * as predictions, `predict` with an architecture and no weights, `summary` silently rebuilding
 * another model than the weights hold, `convert`/`export-onnx` writing one format under another's
 * name, and messages that named the wrong cause (unknown model for a missing file or a shipped
 * model, "unsupported image format" for an empty file, a folder or a missing file). For each: exit
 * 1, exactly one `resnet:` line that says what to do, no stack trace, nothing on stdout, no file.
 * (`export-onnx` to a name of no known format, e.g. `.txt`, is written as given, with a one-line note.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { ResNetError, useBackend } from '@resnet-ts/core';
import { loadSafetensors, saveSafetensors } from '@resnet-ts/core/node';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { BIN, CliResult, ROOT, refusal as refusalIn, runCli as runCliIn } from './cli-run.js';

const WEIGHTS = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');
const IMAGE = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist', '0-T_shirt_top.png');
/** A PyTorch zip checkpoint (CIFAR ResNet-8, option B, 10 classes, 3 input channels). */
const PTH = path.join(ROOT, 'packages', 'core', 'test', 'fixtures', 'torch', 'cifar-resnet8-optionB.pth');

let dir: string;
const p = (...parts: string[]) => path.join(dir, ...parts);
/** `resnet ...args` in the test's folder (the shared runner of cli-run.ts). */
const runCli = (args: string[]) => runCliIn(args, dir);
/** The one `resnet:` line of a command refused cleanly (see cli-run.ts). */
const refusal = (args: string[]) => refusalIn(args, dir);

beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-refusals-'));
  // The shipped ResNet-20 with 5 NaN values in fc.weight: logits of every image hold NaN.
  const { tensors, metadata } = await loadSafetensors(WEIGHTS);
  const fc = tensors.get('fc.weight')!;
  const values = fc.dataSync().slice();
  values.fill(NaN, 0, 5);
  tensors.set('fc.weight', tf.tensor(values, fc.shape));
  await saveSafetensors(p('nan.safetensors'), tensors, metadata);
  tf.dispose([...tensors.values(), fc]);
  fs.writeFileSync(p('zero.png'), '');
  fs.mkdirSync(p('photos'));
  fs.mkdirSync(p('out'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('predict never ranks NaN/Inf logits', () => {
  test('weights whose logits are NaN: exit 1 naming the image and the cause (text and --json)', async () => {
    const line = await refusal(['predict', '--weights', 'nan.safetensors', IMAGE]);
    expect(line).toMatch(
      /^The model's outputs for '.*0-T_shirt_top\.png' are NaN or Inf \(\d+ of 10 logits\): the weights hold non-finite values or the run that trained them diverged/,
    );
    // --json: the same line on stderr, and the image's entry carries the error instead of labels.
    const r = await runCli(['predict', '--weights', 'nan.safetensors', '--json', IMAGE]);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('resnet:'))).toEqual([`resnet: ${line}`]);
    expect(JSON.parse(r.stdout)).toEqual([{ source: IMAGE, error: line }]);
  });

  test('an empty or missing file among good images: the good ones are answered, the bad ones are error entries, exit 1', async () => {
    const r = await runCli(['predict', '--weights', WEIGHTS, '--json', IMAGE, 'zero.png', 'missing.png']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual([
      { source: IMAGE, top: expect.arrayContaining([expect.objectContaining({ label: 'T-shirt/top' })]) },
      { source: 'zero.png', error: "'zero.png' is an empty file (0 bytes), not an image." },
      { source: 'missing.png', error: "No such file: 'missing.png'." },
    ]);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('resnet:'))).toHaveLength(2);
  });

  test('output piped into a reader that stops early (| head -1): a quiet end, no EPIPE stack trace', async () => {
    const images = Array.from({ length: 40 }, () => IMAGE);
    const r = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'predict', '--weights', WEIGHTS, ...images], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.once('data', () => child.stdout.destroy()); // what `head -1` does after its line
      child.on('close', (status) => resolve({ status, stdout: '', stderr }));
    });
    expect(r.stderr).not.toMatch(/EPIPE|\n {4}at /);
    expect(r.status).toBe(0);
  });

  test('resnet train whose output reader stops early (| head -1) keeps training to the end: its files are the result', async () => {
    const samples = path.dirname(IMAGE);
    const pngs = fs.readdirSync(samples).filter((f) => f.endsWith('.png'));
    pngs.forEach((f, k) => {
      fs.mkdirSync(p('piped-data', k % 2 ? 'b' : 'a'), { recursive: true });
      fs.copyFileSync(path.join(samples, f), p('piped-data', k % 2 ? 'b' : 'a', f));
    });
    const args = [BIN, 'train', '--data', 'piped-data', '--image-size', '16', '--iterations', '3', '--batch', '4', '--out', 'piped-run'];
    const status = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { cwd: dir });
      child.stderr.once('data', () => child.stderr.destroy()); // the header read, then the reader is gone
      child.on('close', resolve);
    });
    expect(status).toBe(0);
    expect(fs.readdirSync(p('piped-run')).sort()).toEqual(expect.arrayContaining(['checkpoint.safetensors', 'log.jsonl', 'model.safetensors']));
    // Its 2 outputs: eval's JSON gives no top-5 (100 % by construction; the text leaves it out too).
    const ev = await runCli(['eval', '--weights', 'piped-run/model.safetensors', '--data', 'piped-data', '--json']);
    expect(ev.status).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ outputs: 2, top5: null });
  });

  test('weights without stored preprocessing: predict says what it assumed (a note on stderr), shipped weights say nothing', async () => {
    const guessed = await runCli(['predict', '--weights', PTH, IMAGE]);
    expect(guessed.status).toBe(0);
    expect(guessed.stderr).toMatch(
      /^note: .*cifar-resnet8-optionB\.pth does not store its preprocessing; assumed the usual for its architecture: .*mean [\d./]+, std [\d./]+, 3 channels\./m,
    );
    const stored = await runCli(['predict', '--weights', WEIGHTS, IMAGE]);
    expect(stored.status).toBe(0);
    expect(stored.stderr).not.toContain('does not store its preprocessing');
  });

  test('one image that fails does not cost the others their answers: they are printed, it is one line, exit 1', async () => {
    fs.writeFileSync(p('notes.png'), 'not an image, just a text file with the wrong name\n');
    const r = await runCli(['predict', '--weights', WEIGHTS, IMAGE, 'notes.png']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/0-T_shirt_top\.png\n +[\d.]+ % {2}T-shirt\/top\n/);
    expect(r.stdout).not.toContain('notes.png');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
    expect(lines).toEqual([expect.stringMatching(/^resnet: Cannot decode 'notes\.png' as an image/)]);
    expect(r.stderr).not.toContain('\n    at ');
  });

  test('a file that is not an image: the line says what to give in the words of a command line, never "a tensor"', async () => {
    fs.writeFileSync(p('text.jpg'), 'not an image either\n');
    const line = await refusal(['predict', '--weights', WEIGHTS, 'text.jpg']);
    expect(line).toMatch(/^Cannot decode 'text\.jpg' as an image \([^\n]+\)\. Give a JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM file\.$/);
    expect(line).not.toMatch(/tensor/);
    const r = await runCli(['predict', '--weights', WEIGHTS, '--json', IMAGE, 'text.jpg']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ source: IMAGE }), { source: 'text.jpg', error: line }]);
    // eval on a folder: a note that skips the file, saying why in the decoder's words.
    for (const cls of ['T_shirt_top', 'Bag']) fs.mkdirSync(p('photos2', cls), { recursive: true });
    fs.copyFileSync(IMAGE, p('photos2', 'T_shirt_top', 'shirt.png'));
    fs.copyFileSync(IMAGE.replace('0-T_shirt_top', '8-Bag'), p('photos2', 'Bag', 'bag.png'));
    fs.copyFileSync(p('text.jpg'), p('photos2', 'T_shirt_top', 'text.jpg'));
    const ev = await runCli(['eval', '--weights', WEIGHTS, '--data', 'photos2']);
    expect(ev.status).toBe(0);
    expect(ev.stderr).toMatch(/^note: skipped T_shirt_top\/text\.jpg: /m);
    expect(ev.stderr).not.toMatch(/tensor/);
  });

  test('the library: classify() throws NON_FINITE_OUTPUT instead of returning a ranking', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {}); // the loader's one-line NaN warning
    const clf = await fromPretrained(p('nan.safetensors'));
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    try {
      await expect(clf.classify(IMAGE)).rejects.toMatchObject({
        code: 'NON_FINITE_OUTPUT',
        message: expect.stringContaining('0-T_shirt_top.png'),
      });
      const x = tf.zeros([2, 28, 28, 1]);
      const e = await clf.classify(x).catch((err: unknown) => err);
      x.dispose();
      expect(e).toBeInstanceOf(ResNetError);
      expect((e as Error).message).toMatch(/outputs for image 1 of 2 are NaN or Inf.*or the input tensor holds them/);
    } finally {
      clf.dispose();
    }
  });
});

test('predict --model <architecture> without weights is refused with the message eval gives', async () => {
  const predict = await refusal(['predict', '--model', 'resnet20', IMAGE]);
  expect(predict).toMatch(/^'resnet20' is an architecture without weights: add --weights/);
  expect(await refusal(['eval', '--model', 'resnet20'])).toBe(predict);
});

describe('summary of weights describes the model they hold', () => {
  test('--input with other channels, or --classes, than the weights is refused (shipped name, checkpoint, .pth)', async () => {
    expect(await refusal(['summary', 'resnet20-fashion-mnist', '--input', '28x28x3'])).toMatch(
      /^--input has 3 channels but the weights of 'resnet20-fashion-mnist' take 1: give HxWx1 or HxW/,
    );
    expect(await refusal(['summary', WEIGHTS, '--classes', '5'])).toMatch(
      /^--classes 5 does not match the 10 classes of the weights of '.*': drop --classes/,
    );
    expect(await refusal(['summary', PTH, '--classes', '1000'])).toMatch(/^--classes 1000 does not match the 10 classes/);
  });

  test('matching values and bare architectures are still accepted', async () => {
    const same = await runCli(['summary', 'resnet20-fashion-mnist', '--input', '28x28x1', '--classes', '10', '--json']);
    expect(same.status).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ inputShape: [28, 28, 1], outputShape: [10] });
    const arch = await runCli(['summary', 'resnet20', '--input', '28x28x3', '--classes', '5', '--json']);
    expect(arch.status).toBe(0);
    expect(JSON.parse(arch.stdout)).toMatchObject({ inputShape: [28, 28, 3], outputShape: [5] });
  });
});

test('convert and export-onnx refuse an output name of another format, pointing to the other command; no file written', async () => {
  expect(await refusal(['convert', PTH, 'out/m.onnx'])).toBe(
    `convert writes safetensors, not ONNX: 'out/m.onnx' would hold safetensors under a .onnx name. Name it .safetensors, or write ONNX with \`resnet export-onnx --weights ${PTH} --out out/m.onnx\`.`,
  );
  expect(await refusal(['convert', PTH, 'out/m.pth'])).toMatch(
    /^convert writes safetensors, not a PyTorch pickle: .*Name it \.safetensors/,
  );
  expect(await refusal(['export-onnx', '--weights', PTH, '--out', 'out/m.safetensors'])).toMatch(
    /^export-onnx writes ONNX, not safetensors: .*Name it \.onnx, or write a safetensors checkpoint with `resnet convert .*cifar-resnet8-optionB\.pth out\/m\.safetensors`\.$/,
  );
  // An existing folder: the writer's one line, without the name's note.
  expect(await refusal(['convert', PTH, 'out'])).toBe("Cannot write 'out': it is a folder, not a file (EISDIR).");
  expect(await refusal(['export-onnx', '--weights', PTH, '--out', 'out'])).toBe("Cannot write 'out': it is a folder, not a file (EISDIR).");
  expect(fs.readdirSync(p('out'))).toEqual([]);
});

test('convert and export-onnx write under another name as given, with a one-line note; their own extension silently; atomically either way', async () => {
  fs.mkdirSync(p('named'));
  const txt = await runCli(['export-onnx', '--weights', WEIGHTS, '--out', 'named/m.txt']);
  expect(txt).toEqual({
    status: 0,
    stdout: 'wrote named/m.txt (opset 13, batch norm folded, nchw input; preprocessing and class names in its metadata)\n',
    stderr: 'note: writing ONNX to named/m.txt; ONNX files usually end in .onnx\n',
  });
  const onnx = await runCli(['export-onnx', '--weights', WEIGHTS, '--out', 'named/m.ONNX']);
  expect(onnx).toEqual({
    status: 0,
    stdout: 'wrote named/m.ONNX (opset 13, batch norm folded, nchw input; preprocessing and class names in its metadata)\n',
    stderr: '',
  });
  // The same model under both names; no temporary file left next to them.
  expect(fs.readFileSync(p('named', 'm.txt')).equals(fs.readFileSync(p('named', 'm.ONNX')))).toBe(true);
  expect(fs.readdirSync(p('named')).sort()).toEqual(['m.ONNX', 'm.txt']);
  const converted = await runCli(['convert', WEIGHTS, 'named/w.bak']);
  expect(converted.status).toBe(0);
  expect(converted.stderr).toBe('note: writing safetensors to named/w.bak; safetensors files usually end in .safetensors\n');
  expect(converted.stdout).toMatch(/^wrote named\/w\.bak: \d+ tensors/);
  const plain = await runCli(['convert', WEIGHTS, 'named/w.safetensors']);
  expect([plain.status, plain.stderr]).toEqual([0, '']);
  expect(fs.readFileSync(p('named', 'w.bak')).equals(fs.readFileSync(p('named', 'w.safetensors')))).toBe(true);
});

describe('messages name the real cause', () => {
  test('a missing weights file is "No such file", not an unknown model', async () => {
    expect(await refusal(['summary', 'nonexist.pth'])).toBe("No such file: 'nonexist.pth'.");
    expect(await refusal(['predict', '--model', 'runs/x/model.safetensors', IMAGE])).toBe("No such file: 'runs/x/model.safetensors'.");
  });

  test('--weights next to a shipped --model: they conflict; next to weights: --model must be an architecture', async () => {
    expect(await refusal(['predict', '--model', 'resnet20-fashion-mnist', '--weights', PTH, IMAGE])).toMatch(
      /^'resnet20-fashion-mnist' is a shipped model with its own weights, so --weights conflicts with it: drop --weights/,
    );
    expect(await refusal(['forward', '--model', WEIGHTS, '--weights', PTH, '--input', 'x.npy', '--out', 'out/y.npy'])).toMatch(
      /^--model must name an architecture .* when --weights is given; '.*' is weights\.$/,
    );
  });

  test('an unknown name lists the shipped models too and suggests the closest name', async () => {
    const typo = await refusal(['predict', '--model', 'resnet20-fashon-mnist', IMAGE]);
    expect(typo).toMatch(
      /^Unknown model 'resnet20-fashon-mnist'\. Known models: resnet18, .*; with shipped weights: resnet20-fashion-mnist, plain20-fashion-mnist/,
    );
    expect(typo).toMatch(/Did you mean 'resnet20-fashion-mnist'\?$/);
    expect(await refusal(['summary', 'ResNet50'])).toMatch(/Did you mean 'resnet50'\?$/);
    expect(await refusal(['summary', 'alexnet'])).not.toMatch(/Did you mean/);
  });

  test('an empty image file, a folder and a missing image say so (no format hint)', async () => {
    const shipped = ['predict', '--model', 'resnet20-fashion-mnist'];
    expect(await refusal([...shipped, 'zero.png'])).toBe("'zero.png' is an empty file (0 bytes), not an image.");
    expect(await refusal([...shipped, 'photos'])).toMatch(/^'photos' is a directory, not an image file: give the images in it/);
    expect(await refusal([...shipped, 'missing.png'])).toBe("No such file: 'missing.png'.");
  });
});

test('an ONNX model given as weights is named as one, by its name or by its first bytes', async () => {
  const made = await runCli(['export-onnx', '--weights', WEIGHTS, '--out', 'm.onnx']);
  expect(made.status).toBe(0);
  fs.copyFileSync(p('m.onnx'), p('m.bin'));
  for (const file of ['m.onnx', 'm.bin'])
    expect(await refusal(['predict', '--weights', file, IMAGE])).toBe(
      `${file}: an ONNX model; resnet-ts writes ONNX (resnet export-onnx) but does not read weights from it. Give the safetensors or PyTorch file it was exported from.`,
    );
});
