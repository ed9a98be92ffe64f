/**
 * `resnet eval` on an image folder says which images it scored, through the built CLI (`npx tsc -b
 * packages/cli` first): the test/ split, else val/ (it said "folder test set" of a folder with no
 * test/), else train/, else all the class folders; and scores that split (its image count).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli } from './cli-run.js';

const SAMPLES = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist');
const LABELS = JSON.parse(fs.readFileSync(path.join(SAMPLES, 'labels.json'), 'utf8')) as Record<string, string>;
const sampleOf = (label: string) =>
  path.join(
    SAMPLES,
    Object.keys(LABELS).find((f) => LABELS[f] === label)!,
  );

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-eval-split-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `root/<split>/<class>/` with `count[split]` copies of the class's sample, for the two classes (flat: no split folder). */
function makeData(root: string, count: Record<string, number>): string {
  for (const [split, n] of Object.entries(count))
    for (const label of ['Trouser', 'Bag']) {
      const folder = path.join(root, split, label);
      fs.mkdirSync(folder, { recursive: true });
      for (let i = 0; i < n; i++) fs.copyFileSync(sampleOf(label), path.join(folder, `${i}.png`));
    }
  return root;
}

test.each([
  ['train/ val/ test/', { train: 1, val: 2, test: 3 }, 'folder test/ split', 6],
  ['train/ val/', { train: 1, val: 2 }, 'folder val/ split (no test/)', 4],
  ['train/ only', { train: 1 }, 'folder train/ split (no test/ or val/)', 2],
  ['class folders', { '': 3 }, 'folder (all its class folders)', 6],
])('%s: the report names what was scored', async (name, counts, scored, n) => {
  const data = makeData(path.join(dir, name.replace(/\W+/g, '-')), counts);
  const r = await runCli(['eval', '--model', 'resnet20-fashion-mnist', '--data', data, '--backend', 'cpu'], dir);
  expect(r.status).toBe(0);
  expect(r.stdout.split('\n')[0]).toBe(`resnet20-fashion-mnist on ${scored}`);
  const json = await runCli(['eval', '--model', 'resnet20-fashion-mnist', '--data', data, '--backend', 'cpu', '--json'], dir);
  expect((JSON.parse(json.stdout) as { n: number }).n).toBe(n);
});

const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz');
(HAVE_FMNIST ? test : test.skip)(
  'a folder of the IDX test files alone is scored as the test set it is (it was "has no images"), as eval of the full data set scores it',
  async () => {
    const only = path.join(dir, 'fmnist-test-only');
    fs.mkdirSync(only);
    for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
      fs.copyFileSync(path.join('/usr/share/datasets/fashion-mnist', f), path.join(only, f));
    const evalOf = async (data: string) => {
      const r = await runCli(['eval', '--model', 'resnet20-fashion-mnist', '--data', data, '--limit', '300', '--json'], dir, 120_000);
      expect([data, r.status, r.stderr]).toEqual([data, 0, expect.any(String)]);
      return JSON.parse(r.stdout) as { n: number; loss: number; top1: number };
    };
    const [part, whole] = [await evalOf('fmnist-test-only'), await evalOf('fashion-mnist')];
    expect(part.n).toBe(300);
    expect(part).toEqual(whole);
  },
  120_000,
);
