/**
 * `--mean`, `--std`, `--resize`, `--crop` for weights trained with other transforms than the stored or
 * usual ones: `predict` then gives PyTorch's probabilities under those transforms (a torchvision
 * ResNet-18 made at test time; skipped, saying why, without torch), `convert` stores them so that
 * later commands need no flags, `eval` normalises, resizes and crops with them (scoring each image as
 * predict does), and bad or repeated values are one line each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { pythonSkipReason, runPython } from '../../../test-support/python';
import { ROOT, refusal, runCli } from './cli-run';

const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';
const SHIPPED = path.join(ROOT, 'packages', 'zoo', 'weights', 'resnet20-fashion-mnist.safetensors');
const SAMPLES = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-prep-flags-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const run = (...args: string[]) => runCli(args, dir, 180_000);

type Predictions = { source: string; top: { index: number; probability: number }[] }[];
const probabilities = (stdout: string) =>
  (JSON.parse(stdout) as Predictions)[0].top.sort((a, b) => a.index - b.index).map((t) => t.probability);

describe('weights trained with Resize(80), CenterCrop(64), Normalize(0.5, 0.5)', () => {
  const skip =
    pythonSkipReason(['torch', 'torchvision', 'PIL']) ??
    (fs.existsSync(PHOTO) ? null : `${PHOTO} not found (apt-get install python3-skimage)`);
  let torchProbs: number[] = [];
  const flags = ['--resize', '80', '--crop', '64', '--mean', '0.5', '--std', '0.5,0.5,0.5'];
  beforeAll(() => {
    if (skip) return console.log(`SKIP --mean/--std against PyTorch: ${skip}`);
    const script = `
import sys, json, torch, torchvision
from PIL import Image
from torchvision import transforms as T
torch.set_num_threads(2)
torch.manual_seed(3)
m = torchvision.models.resnet18(num_classes=10).eval()
torch.save(m.state_dict(), sys.argv[1] + '/cats10.pth')
tf = T.Compose([T.Resize(80), T.CenterCrop(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
with torch.no_grad():
    p = m(tf(Image.open(sys.argv[2]).convert('RGB')).unsqueeze(0)).softmax(1)[0]
print(json.dumps(p.tolist()))
`;
    torchProbs = JSON.parse(runPython(['-c', script, dir, PHOTO], { timeout: 120_000 })) as number[];
  }, 180_000);

  test("predict with the flags gives PyTorch's probabilities, and no 'assumed' note", async () => {
    if (skip) return;
    const r = await run('predict', '--model', 'resnet18', '--weights', 'cats10.pth', '--top', '10', '--json', ...flags, PHOTO);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const ours = probabilities(r.stdout);
    expect(ours).toHaveLength(10);
    for (let i = 0; i < 10; i++) expect(Math.abs(ours[i] - torchProbs[i])).toBeLessThan(2e-3);
    // Without the flags: the usual ImageNet transforms, another answer, and the note says what was assumed.
    const plain = await run('predict', '--model', 'resnet18', '--weights', 'cats10.pth', '--top', '10', '--json', PHOTO);
    expect(plain.stderr).toMatch(/^note: .* does not store its preprocessing; .*give them with --mean and --std/);
    expect(Math.max(...probabilities(plain.stdout).map((p, i) => Math.abs(p - torchProbs[i])))).toBeGreaterThan(1e-2);
  }, 180_000);

  test('convert stores them: the checkpoint predicts the same without flags', async () => {
    if (skip) return;
    const c = await run('convert', 'cats10.pth', 'cats10.safetensors', '--model', 'resnet18', ...flags);
    expect(c.status).toBe(0);
    const r = await run('predict', '--weights', 'cats10.safetensors', '--top', '10', '--json', PHOTO);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const stored = probabilities(r.stdout);
    for (let i = 0; i < 10; i++) expect(Math.abs(stored[i] - torchProbs[i])).toBeLessThan(2e-3);
    // A resnet-ts checkpoint given new flags is rewritten with them; --to torchvision stores none, so refuses them.
    const again = await run('convert', 'cats10.safetensors', 'cats10-b.safetensors', '--mean', '0.4', '--std', '0.3');
    expect(again.status).toBe(0);
    const changed = await run('predict', '--weights', 'cats10-b.safetensors', '--top', '10', '--json', PHOTO);
    expect(probabilities(changed.stdout)).not.toEqual(stored);
    expect(
      await refusal(['convert', 'cats10.safetensors', 'tv.safetensors', '--to', 'torchvision', '--mean', '0.5', '--std', '0.5'], dir),
    ).toBe(
      "--mean, --std, --resize and --crop are stored by --to resnet-ts; --to torchvision keeps the source's own (in metadata PyTorch ignores). Convert with the flags to resnet-ts first, then that file --to torchvision.",
    );
  }, 180_000);

  test('convert of weights that store no preprocessing stores none: the file predicts as the source, with the same note', async () => {
    if (skip) return;
    const source = await run('predict', '--model', 'resnet18', '--weights', 'cats10.pth', '--top', '10', '--json', PHOTO);
    expect(source.stderr).toMatch(/^note: cats10\.pth does not store its preprocessing; assumed the usual/);
    for (const to of ['resnet-ts', 'torchvision']) {
      const file = `bare-${to}.safetensors`;
      const c = await run('convert', 'cats10.pth', file, '--model', 'resnet18', '--to', to);
      expect(c.status).toBe(0);
      expect(Object.keys(metadataOf(path.join(dir, file)))).not.toContain('preprocessing');
      const r = await run('predict', '--weights', file, '--top', '10', '--json', PHOTO);
      expect([to, r.status, r.stdout, r.stderr.replace(file, 'cats10.pth')]).toEqual([to, 0, source.stdout, source.stderr]);
    }
    // --resize/--crop alone would store the assumed mean and std as if known: refused, nothing written.
    expect(
      await refusal(['convert', 'cats10.pth', 'sized.safetensors', '--model', 'resnet18', '--resize', '80', '--crop', '64'], dir),
    ).toBe(
      "cats10.pth does not store its preprocessing: give --mean and --std with --resize and --crop, or the file would store the architecture's usual normalisation as if it were known.",
    );
    expect(fs.existsSync(path.join(dir, 'sized.safetensors'))).toBe(false);
  }, 240_000);
});

/** A safetensors file's metadata. */
function metadataOf(file: string): Record<string, string> {
  const bytes = fs.readFileSync(file);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()) as { __metadata__: Record<string, string> };
  return header.__metadata__;
}

/** The preprocessing a resnet-ts checkpoint stores (its safetensors metadata). */
function storedPreprocessing(file: string): { mean: number[]; std: number[] } {
  return JSON.parse(metadataOf(file).preprocessing) as { mean: number[]; std: number[] };
}

test('train --init fine-tunes with --init weights normalised by --mean/--std, and stores them; from scratch they are refused', async () => {
  for (const cls of ['Sneaker', 'Bag']) {
    fs.mkdirSync(path.join(dir, 'tune', cls), { recursive: true });
    for (const f of fs.readdirSync(SAMPLES).filter((f) => f.endsWith(`-${cls}.png`)))
      for (const k of [0, 1]) fs.copyFileSync(path.join(SAMPLES, f), path.join(dir, 'tune', cls, `${k}-${f}`));
  }
  const r = await run(
    'train',
    '--init',
    SHIPPED,
    '--data',
    'tune',
    '--iterations',
    '1',
    '--batch',
    '2',
    '--mean',
    '0.3',
    '--std',
    '0.4',
    '--out',
    'tuned',
    '--json',
  );
  expect(r.status).toBe(0);
  expect(storedPreprocessing(path.join(dir, 'tuned', 'model.safetensors'))).toMatchObject({ mean: [0.3], std: [0.4] });
  expect(await refusal(['train', '--data', 'tune', '--mean', '0.5', '--std', '0.5', '--out', 'scratch'], dir)).toBe(
    "--mean and --std describe --init's weights; from scratch, training normalises with the data's own statistics.",
  );
}, 180_000);

test('eval normalises with --mean/--std: the same result as a checkpoint that stores them', async () => {
  fs.mkdirSync(path.join(dir, 'folder', 'Sneaker'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'folder', 'Bag'), { recursive: true });
  for (const f of fs.readdirSync(SAMPLES)) {
    const cls = f.replace(/^\d+-|\.png$/g, '');
    if (cls === 'Sneaker' || cls === 'Bag') fs.copyFileSync(path.join(SAMPLES, f), path.join(dir, 'folder', cls, f));
  }
  const conv = await run('convert', SHIPPED, 'fm-prep.safetensors', '--mean', '0.3', '--std', '0.4');
  expect(conv.status).toBe(0);
  const flagged = await run('eval', '--weights', SHIPPED, '--data', 'folder', '--mean', '0.3', '--std', '0.4', '--json');
  const stored = await run('eval', '--weights', 'fm-prep.safetensors', '--data', 'folder', '--json');
  const plain = await run('eval', '--weights', SHIPPED, '--data', 'folder', '--json');
  expect([flagged.status, stored.status, plain.status]).toEqual([0, 0, 0]);
  const loss = (r: { stdout: string }) => (JSON.parse(r.stdout) as { loss: number }).loss;
  expect(loss(flagged)).toBeCloseTo(loss(stored), 6);
  expect(Math.abs(loss(flagged) - loss(plain))).toBeGreaterThan(1e-3);
}, 180_000);

/** `file` (a resnet-ts checkpoint) with its stored preprocessing replaced by `prep`, as `out`. */
function withPreprocessing(file: string, out: string, prep: Record<string, unknown>): void {
  const bytes = fs.readFileSync(file);
  const end = 8 + Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, end).toString()) as { __metadata__: Record<string, string> };
  header.__metadata__.preprocessing = JSON.stringify(prep);
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  fs.writeFileSync(out, Buffer.concat([length, Buffer.from(text), bytes.subarray(end)]));
}

describe('eval --resize/--crop on a folder of two aspect ratios, for weights that resize without a crop', () => {
  const CLASSES = ['Bag', 'Sandal', 'Sneaker', 'Trouser'];
  const files: string[] = [];
  beforeAll(async () => {
    // The shipped Fashion-MNIST net, storing "resize the short side to 32" and no crop.
    withPreprocessing(SHIPPED, path.join(dir, 'short32.safetensors'), { mean: [0.286], std: [0.353], resize: 32 });
    // Each class: its 28x28 sample, and the same stretched to 42x28 (wide: 48x32 after the resize).
    for (const f of fs.readdirSync(SAMPLES).filter((f) => CLASSES.includes(f.replace(/^\d+-|\.png$/g, '')))) {
      const cls = f.replace(/^\d+-|\.png$/g, '');
      fs.mkdirSync(path.join(dir, 'mixed', cls), { recursive: true });
      fs.copyFileSync(path.join(SAMPLES, f), path.join(dir, 'mixed', cls, f));
      await sharp(path.join(SAMPLES, f))
        .resize(42, 28, { fit: 'fill' })
        .png()
        .toFile(path.join(dir, 'mixed', cls, `wide-${f}`));
      files.push(path.join('mixed', cls, f), path.join('mixed', cls, `wide-${f}`));
    }
  });

  test('without a crop the images have two sizes: one line that names --crop', async () => {
    expect(await refusal(['eval', '--weights', 'short32.safetensors', '--data', 'mixed'], dir)).toMatch(
      /is 48x32 after the model's preprocessing, .* 32x32: its resize to short side 32 without a crop keeps each image's aspect ratio, and a batch needs one size\. Give a crop \(resnet eval --crop 32, or store it with the weights: .*--crop 32\), or images of one aspect ratio\.$/,
    );
  }, 120_000);

  test('with --resize 32 --crop 32, eval scores each image as predict classifies it with the same flags', async () => {
    const flags = ['--resize', '32', '--crop', '32'];
    const [ev, pr] = await Promise.all([
      run('eval', '--weights', 'short32.safetensors', '--data', 'mixed', '--json', ...flags),
      run('predict', '--weights', 'short32.safetensors', '--top', '10', '--json', ...flags, ...files),
    ]);
    expect([ev.status, ev.stderr, pr.status, pr.stderr]).toEqual([0, '', 0, '']);
    const e = JSON.parse(ev.stdout) as {
      n: number;
      loss: number;
      top1: number;
      classes: string[];
      confusion: number[][];
      other?: number[];
    };
    expect([e.n, e.classes]).toEqual([files.length, CLASSES]);
    // Each image's class, predict's answer for it (a data class, or another output) and its loss.
    const preds = JSON.parse(pr.stdout) as { source: string; top: { label: string; probability: number }[] }[];
    const confusion = CLASSES.map(() => CLASSES.map(() => 0));
    const other = CLASSES.map(() => 0);
    let loss = 0;
    preds.forEach((p, i) => {
      const y = CLASSES.indexOf(files[i].split(path.sep)[1]);
      const answer = CLASSES.indexOf(p.top[0].label);
      if (answer >= 0) confusion[y][answer]++;
      else other[y]++;
      loss -= Math.log(p.top.find((t) => t.label === CLASSES[y])!.probability) / preds.length;
    });
    expect(e.confusion).toEqual(confusion);
    expect(e.other ?? CLASSES.map(() => 0)).toEqual(other);
    expect(e.top1).toBeCloseTo(confusion.reduce((sum, row, y) => sum + row[y], 0) / files.length, 10);
    expect(Math.abs(e.loss - loss)).toBeLessThan(1e-5);
    // The flags matter: without them predict sees the wide images whole (48x32), another answer.
    const plain = await run('predict', '--weights', 'short32.safetensors', '--top', '10', '--json', ...files);
    expect(plain.stdout).not.toBe(pr.stdout);
  }, 180_000);

  test('--resize and --crop are refused for data that are not image folders', async () => {
    if (!fs.existsSync('/usr/share/datasets/fashion-mnist')) return console.log('SKIP: Fashion-MNIST is not installed');
    expect(await refusal(['eval', '--weights', SHIPPED, '--data', 'fashion-mnist', '--limit', '10', '--crop', '28'], dir)).toBe(
      '--resize and --crop apply to image folders (each file decoded as predict decodes it), not to fashion-mnist data: leave them out.',
    );
  }, 120_000);
});

test('bad values are one line each, before any work', async () => {
  const img = path.join(SAMPLES, fs.readdirSync(SAMPLES)[0]);
  const predict = (...flags: string[]) => refusal(['predict', '--model', 'resnet20-fashion-mnist', img, ...flags], dir);
  expect(await predict('--mean', '123.68,116.78,103.94', '--std', '58.4,57.1,57.4')).toBe(
    "--mean 123.68,116.78,103.94 is on the 0-255 scale; give it on the [0, 1] scale, as torchvision's Normalize takes it: --mean 0.485,0.458,0.4076",
  );
  expect(await predict('--mean', '0.5')).toBe("give --mean and --std together (as torchvision's Normalize takes them); got only --mean");
  expect(await predict('--mean', '0.5,0.5', '--std', '0.5')).toMatch(
    /^--mean must be 1 or 3 comma-separated numbers from 0 to 1 .*; got 0\.5,0\.5$/,
  );
  expect(await predict('--mean', '0.5', '--std', '0')).toMatch(
    /^--std must be 1 or 3 comma-separated numbers above 0 and at most 1 .*; got 0$/,
  );
  expect(await predict('--resize', '0')).toMatch(/^--resize must be N or HxW with integers from 1 to 4096 .*; got 0$/);
  expect(await predict('--resize', '65536')).toMatch(/^--resize must be .*; got 65536$/);
  expect(await predict('--crop', '40x')).toMatch(/^--crop must be N or HxW .*; got 40x$/);
  // A repeated flag is refused, not its last value silently taken (predict, eval, and the flags of train and convert).
  expect(await predict('--mean', '0.5', '--mean', '0.4', '--std', '0.5')).toBe('--mean was given twice (0.5 and 0.4); give it once.');
  expect(await predict('--mean', '0.5', '--std', '0.5', '--std', '0.3,0.3,0.3')).toBe(
    '--std was given twice (0.5 and 0.3,0.3,0.3); give it once.',
  );
  expect(await predict('--resize', '80', '--crop', '64', '--resize', '80x60')).toBe(
    '--resize was given twice (80 and 80x60); give it once.',
  );
  expect(await predict('--crop', '64', '--crop', '48')).toBe('--crop was given twice (64 and 48); give it once.');
  // The same value twice is no conflict: predict runs (with the stored preprocessing's other fields).
  const same = await runCli(['predict', '--model', 'resnet20-fashion-mnist', img, '--crop', '28', '--crop=28', '--json'], dir);
  expect([same.status, same.stderr]).toEqual([0, '']);
  const evalOf = (...flags: string[]) => refusal(['eval', '--weights', SHIPPED, ...flags], dir);
  expect(await evalOf('--mean', '0.5', '--std', '0.5', '--mean', '0.4')).toBe('--mean was given twice (0.5 and 0.4); give it once.');
  expect(await evalOf('--std', '0.2', '--std', '0.25', '--mean', '0.5')).toBe('--std was given twice (0.2 and 0.25); give it once.');
  expect(await evalOf('--resize', '32', '--resize', '36')).toBe('--resize was given twice (32 and 36); give it once.');
  expect(await evalOf('--crop', '28x28', '--crop', '32')).toBe('--crop was given twice (28x28 and 32); give it once.');
  // Three values for a one-channel model: said in the flags' words.
  expect(await predict('--mean', '0.5,0.5,0.5', '--std', '0.5')).toBe(
    '--mean 0.5,0.5,0.5 has 3 values, but the model takes 1-channel (grayscale) images: give one value.',
  );
}, 120_000);

/** `from` (safetensors) without its `__metadata__`: a plain state dict, as PyTorch users have them. */
function withoutMetadata(from: string, to: string): void {
  const bytes = fs.readFileSync(from);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  delete header.__metadata__;
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(to, Buffer.concat([size, json, bytes.subarray(8 + n)]));
}

test('eval of IDX data with weights that store no normalisation says it used the training set statistics', async () => {
  if (!fs.existsSync('/usr/share/datasets/fashion-mnist')) return console.log('SKIP: Fashion-MNIST is not installed');
  const plain = path.join(dir, 'plain-state-dict.safetensors');
  withoutMetadata(SHIPPED, plain);
  const evalOf = (...flags: string[]) =>
    runCli(['eval', '--weights', plain, '--data', 'fashion-mnist', '--limit', '20', ...flags], dir, 120_000);
  const assumed = await evalOf();
  expect(assumed.status).toBe(0);
  expect(assumed.stderr).toMatch(
    /^note: \S*plain-state-dict\.safetensors does not store its preprocessing; normalised the fashion-mnist images by the training set's statistics \(mean 0\.286\d*, std 0\.353\d*\), as resnet train does\. Give --mean and --std/m,
  );
  const given = await evalOf('--mean', '0.5', '--std', '0.5');
  expect(given.status).toBe(0);
  expect(given.stderr).not.toMatch(/does not store its preprocessing/);
}, 240_000);
