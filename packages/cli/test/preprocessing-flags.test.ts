/**
 * `--mean`, `--std`, `--resize`, `--crop` for weights trained with other transforms than the stored or
 * usual ones: `predict` then gives PyTorch's probabilities under those transforms (a torchvision
 * ResNet-18 made at test time; skipped, saying why, without torch), `convert` stores them so that
 * later commands need no flags, `eval` normalises with them, and bad values are one line each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    ).toBe('--mean, --std, --resize and --crop are stored by --to resnet-ts; a torchvision state dict holds no preprocessing.');
  }, 180_000);
});

/** The preprocessing a resnet-ts checkpoint stores (its safetensors metadata). */
function storedPreprocessing(file: string): { mean: number[]; std: number[] } {
  const bytes = fs.readFileSync(file);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()) as { __metadata__: Record<string, string> };
  return JSON.parse(header.__metadata__.preprocessing) as { mean: number[]; std: number[] };
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
  // Three values for a one-channel model: said in the flags' words.
  expect(await predict('--mean', '0.5,0.5,0.5', '--std', '0.5')).toBe(
    '--mean 0.5,0.5,0.5 has 3 values, but the model takes 1-channel (grayscale) images: give one value.',
  );
}, 120_000);
