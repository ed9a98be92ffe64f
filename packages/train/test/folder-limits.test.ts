/**
 * `loadData(folder, { limits })`: an image folder decodes only the images `--limit` and
 * `--test-limit` take (a quick run on 20,000 photos decoded all 20,000 first), and they are the very
 * images `limitImages` takes of the decoded folder's parts when every image decodes: the same split,
 * the same mix, the same order. An image of the mix that cannot be decoded is replaced by the next.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { type Dataset, type FolderProgress, limitImages, loadData } from '../src/index.js';

let dir: string;

/** `root/<class>/<i>.png`, each image one flat grey level of its own (so pixels identify the file). */
async function makeFolder(root: string, classes: string[], perClass: number): Promise<void> {
  let level = 0;
  for (const c of classes) {
    fs.mkdirSync(path.join(root, c), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const v = (level += 3) % 256;
      await sharp({ create: { width: 6, height: 6, channels: 3, background: { r: v, g: 255 - v, b: (7 * v) % 256 } } })
        .png()
        .toFile(path.join(root, c, `${String(i).padStart(2, '0')}.png`));
    }
  }
}

const same = (a: Dataset | undefined, b: Dataset | undefined) => {
  expect(a === undefined).toBe(b === undefined);
  if (!a || !b) return;
  expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
  expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-folder-limits-'));
  await makeFolder(path.join(dir, 'flat'), ['a', 'b', 'c'], 20);
  await makeFolder(path.join(dir, 'splits', 'train'), ['a', 'b', 'c'], 14);
  await makeFolder(path.join(dir, 'splits', 'test'), ['a', 'b', 'c'], 6);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each([
  ['a folder of class folders (validation split held out)', 'flat', 0.2],
  ['train/ and test/ splits', 'splits', undefined],
  ['train/ with --val', 'splits', 0.25],
])('%s: the limited images are limitImages of the whole folder, and only they are decoded', async (_, folder, val) => {
  const base = { imageSize: [4, 4] as [number, number], val, seed: 3 };
  const whole = await loadData(path.join(dir, folder), base);
  const totals: FolderProgress[] = [];
  const quick = await loadData(path.join(dir, folder), {
    ...base,
    limits: { train: 7, eval: 5, seed: 3 },
    onFolderProgress: (p) => p.done === p.total && totals.push(p),
  });
  expect(quick.limited).toBe(true);
  const mix = (d: Dataset | undefined, n: number) => d && limitImages(d, n, { mix: true, seed: 3 });
  same(quick.train, mix(whole.train, 7));
  same(quick.val, mix(whole.val, 5));
  same(quick.test, mix(whole.test, 5));
  // Each folder decoded only what its part takes.
  expect(totals.map((t) => t.total).sort()).toEqual(
    [quick.train, quick.val, quick.test]
      .filter(Boolean)
      .map((d) => d!.labels.length)
      .sort(),
  );
});

test('an image of the mix that cannot be decoded is replaced by the next of the mix, with its note', async () => {
  const root = path.join(dir, 'broken');
  await makeFolder(root, ['a', 'b'], 10);
  const base = { imageSize: [4, 4] as [number, number], val: 0 };
  const first = await loadData(root, { ...base, limits: { train: 4 } });
  // Break the first image the mix takes (its pixels say which file it is).
  const levelOf = (d: Dataset, i: number) => d.images[i * 48];
  const files = ['a', 'b'].flatMap((c) => Array.from({ length: 10 }, (_, i) => path.join(root, c, `${String(i).padStart(2, '0')}.png`)));
  const victim = files[levelOf(first.train, 0) / 3 - 1];
  fs.writeFileSync(victim, 'not an image');
  const notes: string[] = [];
  const again = await loadData(root, { ...base, limits: { train: 4 }, log: (m) => notes.push(m) });
  expect(again.train.labels.length).toBe(4);
  expect(notes.some((n) => n.includes(path.basename(victim)))).toBe(true);
  // The other three are the same images, in the same order (the mix's next image fills the fourth place).
  expect([1, 2, 3].map((i) => levelOf(again.train, i - 1))).toEqual([1, 2, 3].map((i) => levelOf(first.train, i)));
});
