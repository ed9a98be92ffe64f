/**
 * `resnet eval --data <folder>` through the built CLI (`npx tsc -b packages/cli` first): class
 * folders are paired with the model's outputs BY NAME ('T-shirt_top' is 'T-shirt/top'), or by number
 * for folders '3', '7'; never by their sorted position when the weights store names (it scored
 * 39 % for a 96 % model, and "coffee 100 %" for a model that said 'astronaut' every time); an
 * unknown class is one line with what to do; weights without names pair equal counts by sorted
 * order with a note and refuse other counts; `--limit` takes train's seeded mix of every class; and
 * the folder's notes (empty class, non-images) reach stderr while system files stay silent.
 * `lab lesion` and `lab paths` read train/+test/ folders as eval does (test/ alone, by its own classes).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadSafetensors, saveSafetensors } from '@resnet-ts/core/node';
import { FASHION_MNIST_CLASSES, limitImages } from '@resnet-ts/train';
import { refusal, runCli } from './cli-run';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const SAMPLES = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist');
const WEIGHTS = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');
const MODEL = ['--model', 'resnet20-fashion-mnist'];
const COPIES = 3;

let dir: string;
const p = (...parts: string[]) => path.join(dir, ...parts);

/** The shipped sample image of each Fashion-MNIST class (the model gets every one right), from the samples' labels.json. */
const SAMPLE_OF = new Map(
  Object.entries(JSON.parse(fs.readFileSync(path.join(SAMPLES, 'labels.json'), 'utf8')) as Record<string, string>).map(([f, l]) => [l, f]),
);
const sample = (label: string) => path.join(SAMPLES, SAMPLE_OF.get(label)!);

/** `root/<folder>/` holding COPIES copies of the sample of `label`, for each [folder, label]. */
function makeFolder(root: string, pairs: [string, string][]): void {
  for (const [folder, label] of pairs) {
    fs.mkdirSync(path.join(root, folder), { recursive: true });
    for (let i = 0; i < COPIES; i++) fs.copyFileSync(sample(label), path.join(root, folder, `${i}.png`));
  }
}

function resnet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface EvalJson {
  n: number;
  top1: number;
  perClass: (number | null)[];
  confusion: number[][];
  other?: number[];
  classes: string[];
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-eval-classes-'));
  // As the audit had them: 'T-shirt_top' (no '/' in a folder name), 'Ankle boot' sorting first.
  makeFolder(
    p('fm'),
    FASHION_MNIST_CLASSES.map((c) => [c.replace('/', '_'), c]),
  );
  fs.writeFileSync(p('fm', 'Bag', '.DS_Store'), 'x');
  fs.writeFileSync(p('fm', 'Bag', '._0.png'), 'mac'); // AppleDouble next to an image: silently ignored
  makeFolder(p('tshirts-as-sandal-trouser'), [
    ['Sandal', 'T-shirt/top'],
    ['Trouser', 'T-shirt/top'],
  ]);
  makeFolder(p('numbers'), [
    ['3', 'Dress'],
    ['7', 'Sneaker'],
  ]);
  makeFolder(p('one-class'), [['Sneaker', 'Sneaker']]);
  makeFolder(p('unknown'), [
    ['cat', 'Bag'],
    ['coffee', 'Coat'],
  ]);
  makeFolder(p('untidy'), [
    ['Bag', 'Bag'],
    ['Coat', 'Coat'],
  ]);
  fs.mkdirSync(p('untidy', 'Dress'));
  fs.writeFileSync(p('untidy', 'Bag', 'notes.txt'), 'x');
  fs.mkdirSync(p('untidy', 'Coat', 'more'));
  // train/ and test/ with other classes: test/ has 'Sneaker', which train/ lacks; train/ has 'cat', which the model lacks.
  makeFolder(p('split', 'train'), [
    ['Shirt', 'Shirt'],
    ['Trouser', 'Trouser'],
    ['cat', 'Bag'],
  ]);
  fs.writeFileSync(p('split', 'train', 'Shirt', 'broken.png'), 'not an image'); // a note, were train/ read
  makeFolder(p('split', 'test'), [
    ['Shirt', 'Shirt'],
    ['Sneaker', 'Sneaker'],
    ['Trouser', 'Trouser'],
  ]);
  // The shipped weights without their class names (as a bare export would be).
  const { tensors, metadata } = await loadSafetensors(WEIGHTS);
  const { classes: _dropped, ...rest } = metadata;
  await saveSafetensors(p('nameless.safetensors'), tensors, rest);
  tf.dispose([...tensors.values()]);
}, 60_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("class folders in sorted order ('Ankle boot' first, 'T-shirt_top') are paired by name: every sample right, not 39 %", () => {
  const r = resnet(['eval', ...MODEL, '--data', 'fm', '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect(j.n).toBe(30);
  expect(j.top1).toBe(1);
  expect(j.classes[0]).toBe('Ankle boot');
  expect(j.classes).toContain('T-shirt/top');
  expect(j.other).toBeUndefined();
  const text = resnet(['eval', ...MODEL, '--data', 'fm']);
  expect(text.stdout).toMatch(/top-1: 100\.00 %/);
  expect(text.stdout).toMatch(/^ {2}T-shirt\/top +100\.00 %$/m);
});

test("a model that says 'T-shirt/top' for every image scores 0 % on folders Sandal and Trouser (not 'Sandal 100 %'); its predictions in 'other'", () => {
  const r = resnet(['eval', ...MODEL, '--data', 'tshirts-as-sandal-trouser', '--json']);
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect([j.top1, j.perClass, j.confusion, j.other]).toEqual([
    0,
    [0, 0],
    [
      [0, 0],
      [0, 0],
    ],
    [COPIES, COPIES],
  ]);
  expect(resnet(['eval', ...MODEL, '--data', 'tshirts-as-sandal-trouser']).stdout).toMatch(
    /^ +0 +1 +other\n {2}Sandal +0 +0 +3\n {2}Trouser +0 +0 +3$/m,
  );
});

test("folders named by output number ('3', '7') are those outputs", () => {
  const r = resnet(['eval', ...MODEL, '--data', 'numbers', '--json']);
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect([j.top1, j.classes]).toEqual([1, ['Dress', 'Sneaker']]);
});

test('a folder of one class is measured on that class (it was refused: "a classifier needs at least 2")', () => {
  const r = resnet(['eval', ...MODEL, '--data', 'one-class', '--json']);
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect([j.top1, j.classes]).toEqual([1, ['Sneaker']]);
});

test("folders the model has no label for: one resnet: line naming them and the model's labels, nothing on stdout", () => {
  const r = resnet(['eval', ...MODEL, '--data', 'unknown']);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(
    /^resnet: The data's class folders 'cat', 'coffee' match none of the model's 10 labels \(T-shirt\/top, Trouser, Pullover, .*\): rename the folders to the model's labels, or evaluate weights trained on these classes\.\n$/,
  );
});

test('weights without class names: equal counts paired by sorted order with a note; other counts refused', () => {
  const r = resnet(['eval', '--model', 'resnet20', '--weights', 'nameless.safetensors', '--data', 'fm', '--json']);
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(
    /^note: the model stores no class names: class folders are paired with its outputs in sorted order \('Ankle boot' = output 0, 'Bag' = output 1, /,
  );
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect((JSON.parse(r.stdout) as EvalJson).classes[0]).toBe('Ankle boot');
  const two = resnet(['eval', '--model', 'resnet20', '--weights', 'nameless.safetensors', '--data', 'unknown']);
  expect(two.status).toBe(1);
  expect(two.stderr).toMatch(
    /^resnet: The data has 2 classes \(cat, coffee\) but the model outputs 10 and stores no class names to match them by: .*name the class folders by output number \(0 to 9\)\.\n$/,
  );
});

test("--limit on a folder takes train --test-limit's seeded mix of every class, not the first classes", () => {
  const r = resnet(['eval', ...MODEL, '--data', 'fm', '--limit', '10', '--json']);
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect(j.n).toBe(10);
  // The folder's images are sorted by class, COPIES each: the expected pick is limitImages' on such labels.
  const labels = Int32Array.from({ length: 30 }, (_, i) => Math.floor(i / COPIES));
  const picked = limitImages({ images: new Uint8Array(30), labels, shape: [1, 1, 1], classes: j.classes }, 10, { mix: true, seed: 0 });
  const expected = j.classes.map((_, k) => Array.from(picked.labels).filter((l) => l === k).length);
  expect(j.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(expected);
  expect(expected.filter((c) => c > 0).length).toBeGreaterThan(4); // the first 10 would be 4 classes
  expect(j.perClass.filter((a) => a !== null).length).toBe(expected.filter((c) => c > 0).length);
});

test('what the folder leaves out is said on stderr, one note per kind; the classes that remain are still paired by name', () => {
  const r = resnet(['eval', ...MODEL, '--data', 'untidy', '--json']);
  expect(r.status).toBe(0);
  expect(r.stderr.trim().split('\n')).toEqual([
    "note: class folder 'Dress' is empty",
    'note: skipped 1 file that is not an image by extension (.txt: 1; images are JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM)',
  ]);
  const j = JSON.parse(r.stdout) as EvalJson;
  expect([j.top1, j.classes]).toEqual([1, ['Bag', 'Coat', 'Dress']]);
});

test('train/ and test/ with other classes: eval reads test/ alone, by its own folders; train refuses a test class train/ lacks', async () => {
  const r = resnet(['eval', ...MODEL, '--data', 'split', '--json']);
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const j = JSON.parse(r.stdout) as EvalJson;
  expect([j.n, j.top1, j.classes]).toEqual([3 * COPIES, 1, ['Shirt', 'Sneaker', 'Trouser']]);
  // A model trained on train/ has no output for 'Sneaker': training is refused before anything runs or is written.
  expect(await refusal(['train', '--model', 'resnet20', '--data', 'split', '--epochs', '1'], dir)).toBe(
    `${path.join('split', 'test')} has class folder(s) 'Sneaker' that train/ lacks (train/ has Shirt, Trouser, cat): ` +
      'a model trained on train/ cannot output it. Add its images to train/, or remove it from test/.',
  );
});

test('lab lesion and lab paths read train/+test/ as eval does: test/ alone by its own classes, not refused for Sneaker, train/ unread', async () => {
  const runs = {
    lesion: ['--plain-model', 'plain20-fashion-mnist', '--samples', '1', '--max-k', '1', '--max-swaps', '1'],
    paths: ['--inputs', String(3 * COPIES), '--samples', '1', '--lengths', '0,9'],
  };
  for (const [command, args] of Object.entries(runs)) {
    const out = p(`lab-split-${command}`);
    const r = await runCli(['lab', command, ...MODEL, '--data', 'split', ...args, '--out', out], dir, 120_000);
    // No refusal, and no note of train/'s broken.png: train/ is not read.
    expect({ command, status: r.status, lines: r.stderr.split('\n').filter((l) => /^(resnet|note|warning):/.test(l)) }).toEqual({
      command,
      status: 0,
      lines: [],
    });
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8')).result;
    if (command === 'lesion') expect([result.testImages, result.nets[0].baseline, result.nets[1].baseline]).toEqual([3 * COPIES, 0, 0]);
    else expect([result.inputs, result.description]).toEqual([3 * COPIES, expect.stringMatching(/on folder, 9 test images$/)]);
  }
}, 240_000);
