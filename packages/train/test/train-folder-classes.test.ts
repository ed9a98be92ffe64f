/**
 * A class folder of the training images without images (none, or none that decodes) is refused in
 * one line before training: the model would get an output for a class it never sees (torchvision's
 * ImageFolder refuses it too). Eval (`evaluatedSplitOnly`) keeps such a class with a note: it is
 * only not measured there.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadData } from '../src/index.js';
import { tmpDir } from './helpers.js';

async function images(dir: string, n: number, red: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++)
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: red, g: 10 * i, b: 0 } } })
      .png()
      .toFile(path.join(dir, `${i}.png`));
}

test('an empty class folder: training refuses it before decoding, eval notes it', async () => {
  const dir = tmpDir();
  await images(path.join(dir, 'red'), 3, 220);
  await images(path.join(dir, 'green'), 3, 20);
  fs.mkdirSync(path.join(dir, 'blue'));
  fs.writeFileSync(path.join(dir, 'blue', 'notes.txt'), 'not an image');
  const notes: string[] = [];
  await expect(loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) })).rejects.toThrow(
    new RegExp(`^class folder '${path.join(dir, 'blue')}' has no images: add images or remove the folder$`),
  );
  expect(notes).toEqual([]); // refused before any note or decoding
  fs.mkdirSync(path.join(dir, 'yellow'));
  await expect(loadData(dir, { imageSize: [8, 8] })).rejects.toThrow(
    `class folders '${path.join(dir, 'blue')}', '${path.join(dir, 'yellow')}' have no images: add images or remove the folders`,
  );
  const evalNotes: string[] = [];
  const pair = await loadData(dir, { imageSize: [8, 8], val: 0, evaluatedSplitOnly: true, log: (m) => evalNotes.push(m) });
  expect([pair.train.classes, pair.train.labels.length]).toEqual([['blue', 'green', 'red', 'yellow'], 6]);
  expect(evalNotes[0]).toBe("note: class folders 'blue', 'yellow' are empty");
});

test('train/ with an empty class folder is refused; a test/ class without images is only not measured', async () => {
  const dir = tmpDir();
  await images(path.join(dir, 'train', 'red'), 2, 220);
  await images(path.join(dir, 'train', 'green'), 2, 20);
  fs.mkdirSync(path.join(dir, 'train', 'blue'));
  await images(path.join(dir, 'test', 'red'), 1, 220);
  await expect(loadData(dir, { imageSize: [8, 8] })).rejects.toThrow(
    `class folder '${path.join(dir, 'train', 'blue')}' has no images: add images or remove the folder`,
  );
  fs.rmdirSync(path.join(dir, 'train', 'blue'));
  fs.mkdirSync(path.join(dir, 'test', 'green'));
  const notes: string[] = [];
  const pair = await loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) });
  expect(pair.train.classes).toEqual(['green', 'red']);
  expect(notes).toEqual([`note: ${path.join(dir, 'test')} has no images of 'green': their accuracy there is not measured`]);
});

test('a class folder none of whose images decodes is refused for training', async () => {
  const dir = tmpDir();
  await images(path.join(dir, 'red'), 3, 220);
  await images(path.join(dir, 'green'), 3, 20);
  fs.mkdirSync(path.join(dir, 'blue'));
  fs.writeFileSync(path.join(dir, 'blue', '0.png'), 'not a png');
  const notes: string[] = [];
  await expect(loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) })).rejects.toThrow(
    `class folder '${path.join(dir, 'blue')}' has no image that could be decoded (see the notes above): add images or remove the folder`,
  );
  expect(notes.some((n) => n.startsWith('note: skipped blue/0.png'))).toBe(true);
});
