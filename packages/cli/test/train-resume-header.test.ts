/**
 * `resnet train` end to end through the built CLI (`npx tsc -b packages/cli` first): a --resume takes
 * the options left out from the run (also from another folder, with or without --data), and one that
 * changes a stored setting (--lr, --schedule, --momentum, --wd, ...) is one line naming each with
 * both values; a class folder without images is refused before training (eval only notes it); the
 * header gives the real batch when --batch exceeds the training set; --epochs of less than one step
 * is refused before any header; a warm-up as long as the run is a note. Needs Fashion-MNIST.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { openSafetensors, rewriteSafetensors } from '@resnet-ts/core/node';
import { refusal, runCli } from './cli-run';

const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz');
const maybe = HAVE_FMNIST ? test : test.skip;
/** A tiny run on Fashion-MNIST (about 2 s). */
const QUICK = ['--model', 'resnet20', '--data', 'fashion-mnist', '--limit', '64', '--test-limit', '32', '--batch', '32', '--seed', '1'];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-train-resume-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

maybe('--resume with other --lr, --schedule, --momentum and --wd: one line naming each; left out or the same, they resume', async () => {
  const first = await runCli(['train', ...QUICK, '--iterations', '2', '--lr', '0.05', '--out', 'k'], dir, 120_000);
  expect(first.status).toBe(0);
  const ckpt = fs.readFileSync(path.join(dir, 'k', 'checkpoint.safetensors'));
  const changed = [
    'train',
    ...QUICK,
    '--iterations',
    '2',
    '--lr',
    '0.5',
    '--momentum',
    '0',
    '--wd',
    '0.01',
    '--schedule',
    'cosine',
    '--out',
    'k',
    '--resume',
  ];
  expect(await refusal(changed, dir)).toBe(
    `Cannot resume from ${path.join('k', 'checkpoint.safetensors')}: --lr 0.5 differs from the run's 0.05, --schedule cosine differs from the run's multistep, ` +
      "--momentum 0 differs from the run's 0.9, --wd 0.01 differs from the run's 0.0001; give the run's options, or start a new run with another --out.",
  );
  // One option given that differs is refused even when the others are left out.
  expect(await refusal(['train', '--out', 'k', '--resume', '--lr', '0.1'], dir)).toMatch(
    /: --lr 0\.1 differs from the run's 0\.05; give the run's options/,
  );
  expect(fs.readFileSync(path.join(dir, 'k', 'checkpoint.safetensors')).equals(ckpt)).toBe(true);
  // Options left out are the run's own (stored with it), not this command's defaults (--lr 0.1, --batch 128, all 60000 images).
  const bare = await runCli(['train', '--out', 'k', '--resume'], dir, 120_000);
  expect(bare.status).toBe(0);
  expect(bare.stderr).toMatch(/on fashion-mnist \(64 train, 32 test images, .*: 2 steps of 32; learning rate 0\.05, /);
  expect(bare.stderr).toMatch(/resumed from k\/checkpoint\.safetensors at step 2/);
  // --resume <dir> is --out <dir> --resume; two different folders are refused.
  const byDir = await runCli(['train', '--resume', 'k'], dir, 120_000);
  expect(byDir.status).toBe(0);
  expect(byDir.stderr).toMatch(/resumed from k\/checkpoint\.safetensors at step 2/);
  expect(await refusal(['train', '--out', 'other', '--resume', 'k'], dir)).toBe(
    "--resume k and --out other name two folders: give the run's folder once (--resume k).",
  );
  const same = await runCli(['train', ...QUICK, '--iterations', '2', '--lr', '0.05', '--out', 'k', '--resume'], dir, 120_000);
  expect(same.status).toBe(0);
  expect(same.stderr).toMatch(/resumed from k\/checkpoint\.safetensors at step 2/);
});

test("--resume of a run on an image folder, from another folder, with or without --data: the run's options, an explicit one as given", async () => {
  for (const cls of ['Bag', 'Coat'])
    for (let i = 0; i < 4; i++) {
      fs.mkdirSync(path.join(dir, 'pics4', cls), { recursive: true });
      await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: cls === 'Bag' ? 200 : 30, g: 25 * i, b: 60 } } })
        .png()
        .toFile(path.join(dir, 'pics4', cls, `${i}.png`));
    }
  const started = [
    'train',
    '--data',
    'pics4',
    '--image-size',
    '16',
    '--val',
    '0.25',
    '--batch',
    '3',
    '--no-augment',
    '--schedule',
    'constant',
  ];
  const first = await runCli([...started, '--lr', '0.02', '--iterations', '1', '--out', 'f'], dir, 120_000);
  expect(first.status).toBe(0);
  const header =
    /on folder \(6 train, 2 validation, 0 test images, 2 classes, 16x16x3 padded to 32x32\) on \w+: 2 steps of 3; learning rate constant 0\.02; augmentation off/;
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  // --iterations given (a longer run: the constant rate allows it), everything else the run's.
  for (const data of [[], ['--data', path.join('..', 'pics4')]]) {
    const r = await runCli(
      ['train', '--out', path.join('..', 'f'), '--resume', '--iterations', '2', ...data],
      path.join(dir, 'elsewhere'),
      120_000,
    );
    expect([data, r.status]).toEqual([data, 0]);
    expect(r.stderr).toMatch(header);
    expect(r.stderr).toMatch(/resumed from \.\.\/f\/checkpoint\.safetensors at step [12]/);
  }
});

test('--resume after two images traded class folders (same count, classes, size and statistics) is refused: other labels, not the run', async () => {
  // train/ and val/: the training set is all of train/, so the trade keeps its pixel statistics exactly.
  for (const part of ['train', 'val'])
    for (const cls of ['Bag', 'Coat'])
      for (let i = 0; i < 3; i++) {
        fs.mkdirSync(path.join(dir, 'swap', part, cls), { recursive: true });
        await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: cls === 'Bag' ? 210 : 20, g: 40 * i, b: 90 } } })
          .png()
          .toFile(path.join(dir, 'swap', part, cls, `${i}.png`));
      }
  const run = ['train', '--data', 'swap', '--batch', '3', '--no-augment', '--schedule', 'constant', '--lr', '0.01'];
  const first = await runCli([...run, '--iterations', '1', '--out', 's'], dir, 120_000);
  expect(first.status).toBe(0);
  const ckpt = fs.readFileSync(path.join(dir, 's', 'checkpoint.safetensors'));
  const move = (from: string, to: string) => fs.renameSync(path.join(dir, 'swap', 'train', from), path.join(dir, 'swap', 'train', to));
  move('Bag/0.png', 'tmp.png');
  move('Coat/0.png', 'Bag/0.png');
  move('tmp.png', 'Coat/0.png');
  expect(await refusal(['train', '--out', 's', '--resume', '--iterations', '2'], dir)).toBe(
    `Cannot resume from ${path.join('s', 'checkpoint.safetensors')}: the training images differ from the run's (same number, classes and size; ` +
      "other pixels or labels: images edited, replaced or moved between class folders); put the run's images back, or start a new run with another --out.",
  );
  expect(fs.readFileSync(path.join(dir, 's', 'checkpoint.safetensors')).equals(ckpt)).toBe(true);

  // A run begun with another image decoder (a sharp update decodes JPEGs to slightly other pixels):
  // said as such, as the images may be the run's; with the images back, it resumes.
  const file = path.join(dir, 's', 'checkpoint.safetensors');
  const metadata = openSafetensors(file).metadata;
  const training = JSON.parse(metadata.training);
  expect(training.decoder).toMatch(/^sharp \d+\.\d+\.\d+, libvips \d+\.\d+\.\d+/);
  await rewriteSafetensors(file, file, {
    metadata: { ...metadata, training: JSON.stringify({ ...training, decoder: 'sharp 0.30.0, libvips 8.12.0' }) },
  });
  expect(await refusal(['train', '--out', 's', '--resume', '--iterations', '2'], dir)).toBe(
    `Cannot resume from ${path.join('s', 'checkpoint.safetensors')}: the training images decode to other pixels than in the run, and the image decoder is another ` +
      `(${training.decoder} here, sharp 0.30.0, libvips 8.12.0 in the run); if the images are the run's, install the run's sharp version to resume; ` +
      'else put them back, or start a new run with another --out.',
  );
  move('Bag/0.png', 'tmp.png');
  move('Coat/0.png', 'Bag/0.png');
  move('tmp.png', 'Coat/0.png');
  const resumed = await runCli(['train', '--out', 's', '--resume', '--iterations', '2'], dir, 120_000);
  expect(resumed.status).toBe(0);
});

test('a class folder without images is refused before training; eval of the same folder only notes it', async () => {
  for (const [cls, red] of [
    ['Bag', 200],
    ['Coat', 40],
  ] as const) {
    fs.mkdirSync(path.join(dir, 'pics', cls), { recursive: true });
    for (let i = 0; i < 3; i++)
      await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: red, g: 30 * i, b: 0 } } })
        .png()
        .toFile(path.join(dir, 'pics', cls, `${i}.png`));
  }
  fs.mkdirSync(path.join(dir, 'pics', 'Dress'));
  expect(await refusal(['train', '--data', 'pics', '--iterations', '1', '--out', 'empty-class'], dir)).toBe(
    `class folder '${path.join('pics', 'Dress')}' has no images: add images or remove the folder`,
  );
  expect(fs.existsSync(path.join(dir, 'empty-class'))).toBe(false);
  const r = await runCli(['eval', '--model', 'resnet20-fashion-mnist', '--data', 'pics', '--json'], dir);
  expect(r.status).toBe(0);
  expect(r.stderr).toContain("note: class folder 'Dress' is empty");
  expect(JSON.parse(r.stdout).classes).toEqual(['Bag', 'Coat', 'Dress']);
});

maybe(
  'the header gives the real batch; --epochs below one step is refused before the header; a warm-up as long as the run is a note',
  async () => {
    const small = await runCli(
      ['train', '--data', 'fashion-mnist', '--limit', '5', '--test-limit', '5', '--batch', '8', '--iterations', '1', '--out', 'b'],
      dir,
      120_000,
    );
    expect(small.status).toBe(0);
    expect(small.stderr).toMatch(/: 1 step of 5 \(--batch 8 is more than the 5 training images\); learning rate/);
    const tiny = await runCli(['train', '--data', 'fashion-mnist', '--epochs', '0.001', '--out', 'c'], dir, 120_000);
    expect({ status: tiny.status, stderr: tiny.stderr }).toEqual({
      status: 1,
      stderr:
        'resnet: --epochs 0.001 is less than one step of 128 images (an epoch of 60000 images is 469 steps): give --epochs 0.0011 or more, or --iterations.\n',
    });
    const warm = await runCli(['train', ...QUICK, '--warmup', '1000', '--iterations', '3', '--out', 'w'], dir, 120_000);
    expect(warm.status).toBe(0);
    expect(warm.stderr).toContain(
      'note: the warm-up of 1000 steps covers the whole run of 3 steps: the learning rate never reaches the schedule after it (0.1, /10 at steps 2 and 2); give a --warmup below 3, or none',
    );
  },
);
