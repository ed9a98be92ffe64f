/**
 * What a data argument names is decided in one place (`identifyDataSource`), and its messages name
 * the real cause: a path that does not exist is "No such folder" (never an unknown data set), a
 * file is a file, and only a bare word is an unknown data set, with the closest names when a
 * suggester is lent. The note about undecodable images counts the images loaded from each folder,
 * not "training images", because evaluation and the lab load folders too.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DATA_SET_NAMES, identifyDataSource, loadData } from '../src/index.js';
import { tmpDir } from './helpers.js';

/** A stand-in for the CLI's edit-distance helper: the names that share the word's first 5 letters. */
const suggest = (word: string, names: readonly string[]) => names.filter((n) => n.slice(0, 5) === word.slice(0, 5));

describe('identifyDataSource', () => {
  test('names in every spelling, and existing folders', () => {
    expect(identifyDataSource('Fashion_MNIST')).toEqual({ kind: 'name', name: 'fashion-mnist' });
    expect(identifyDataSource('cifar-100')).toEqual({ kind: 'name', name: 'cifar100' });
    const dir = tmpDir();
    expect(identifyDataSource(dir)).toEqual({ kind: 'folder', dir });
  });

  test('a path-looking value that does not exist is "No such folder", through loadData too', async () => {
    for (const spec of ['/nonexistent', './my-photos', 'photos/train', '~/data', '.hidden'])
      expect(() => identifyDataSource(spec)).toThrow(new RegExp(`^No such folder: '${spec.replace(/[.]/g, '\\.')}'\\. Give a folder`));
    await expect(loadData('./my-photos')).rejects.toThrow(/^No such folder: '\.\/my-photos'/);
  });

  test('an existing file is said to be a file', () => {
    const file = path.join(tmpDir(), 'labels.json');
    fs.writeFileSync(file, '[]');
    expect(() => identifyDataSource(file)).toThrow(`'${file}' is a file, not a data set`);
  });

  test('a bare word is an unknown data set listing the names, with "did you mean" from the suggester', () => {
    expect(() => identifyDataSource('fashion-mnst')).toThrow(
      `Unknown data set 'fashion-mnst': use ${DATA_SET_NAMES.join(', ')}, or the path`,
    );
    expect(() => identifyDataSource('fashion-mnst')).not.toThrow(/Did you mean/);
    expect(() => identifyDataSource('fashion-mnst', suggest)).toThrow(/ Did you mean 'fashion-mnist'\?$/);
    expect(() => identifyDataSource('imagenet', suggest)).toThrow(/images\.$/);
  });
});

test('the note about undecodable images says how many images were loaded from which folder', async () => {
  const dir = tmpDir();
  for (const split of ['train', 'test'])
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 3 : 2); i++)
        await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * i, g: 0, b: 0 } } })
          .png()
          .toFile(path.join(dir, split, cls, `${i}.png`));
    }
  fs.writeFileSync(path.join(dir, 'test', 'a', 'bad photo.png'), 'not a png');
  const notes: string[] = [];
  await loadData(dir, { val: 0, log: (m) => notes.push(m) });
  // The file's own note: its name (spaces and all) once, then the reason alone.
  const own = notes.find((n) => n.startsWith('note: skipped test/a/bad photo.png: '));
  expect(own).toBeDefined();
  expect(own).not.toMatch(/Cannot decode image|Supported:/);
  const summary = notes.find((n) => n.includes('could not be decoded'));
  expect(summary).toBe(
    `note: skipped 1 image(s) that could not be decoded (listed above); 6 images loaded from ${path.join(dir, 'train')}, 4 from ${path.join(dir, 'test')}`,
  );
  // One class-folder tree (no splits), with the default validation split held out: all of it counts.
  notes.length = 0;
  await loadData(path.join(dir, 'test'), { log: (m) => notes.push(m) });
  expect(notes.find((n) => n.includes('could not be decoded'))).toMatch(/; 4 images loaded from .*test$/);
});
