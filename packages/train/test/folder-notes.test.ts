/**
 * What an image folder leaves out is said, once per kind: an empty class folder, files that are not
 * images by their extension, sub-folders inside class folders; system files (.DS_Store, macOS
 * '._x.jpg', Thumbs.db) are skipped silently; WebP and TIFF (which the decoder reads) are images.
 * `limitImages`, the one selection of `--limit`/`--test-limit`: a seeded mix of every class for
 * folders, the first n otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { epochOrder, folderItems, folderNotes, limitImages, listImageFolder, loadData } from '../src/index.js';
import { synthetic, tmpDir } from './helpers.js';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const COLOURS = { red: { r: 230, g: 20, b: 20 }, green: { r: 20, g: 230, b: 20 }, blue: { r: 20, g: 20, b: 230 } } as const;

/** `n` solid-colour images of `colour` as `dir/<name><i>.<format>`. */
async function write(
  dir: string,
  colour: keyof typeof COLOURS,
  n: number,
  format: 'png' | 'webp' | 'tiff' = 'png',
  name = '',
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const img = sharp({ create: { width: 12, height: 10, channels: 3, background: COLOURS[colour] } });
    const ext = format === 'tiff' ? 'tif' : format;
    await img.toFormat(format).toFile(path.join(dir, `${name}${i}.${ext}`));
  }
}

/** red/ (PNG + a sub-folder of PNGs), green/ (WebP + TIFF + non-images), an empty zebra/, and system files everywhere. */
async function untidyFolder(): Promise<string> {
  const dir = tmpDir();
  await write(path.join(dir, 'red'), 'red', 4);
  await write(path.join(dir, 'red', 'more'), 'red', 2);
  await write(path.join(dir, 'green'), 'green', 3, 'webp', 'w');
  await write(path.join(dir, 'green'), 'green', 2, 'tiff', 't');
  fs.writeFileSync(path.join(dir, 'green', 'notes.txt'), 'hello');
  fs.writeFileSync(path.join(dir, 'green', 'scan.psd'), '8BPS');
  fs.writeFileSync(path.join(dir, 'green', 'scan2.psd'), '8BPS');
  fs.mkdirSync(path.join(dir, 'zebra'));
  fs.writeFileSync(path.join(dir, 'red', '.DS_Store'), 'x');
  fs.writeFileSync(path.join(dir, 'red', '._0.png'), 'mac'); // AppleDouble: not an image, never a note
  fs.writeFileSync(path.join(dir, 'green', 'Thumbs.db'), 'x');
  fs.writeFileSync(path.join(dir, 'zebra', '.DS_Store'), 'x');
  fs.mkdirSync(path.join(dir, '__MACOSX', 'red'), { recursive: true });
  fs.writeFileSync(path.join(dir, '__MACOSX', 'red', '._0.png'), 'mac');
  return dir;
}

describe('image folder notes', () => {
  test('one note per kind (empty class, non-image files by extension); sub-folder images read; system files silent; WebP and TIFF decoded', async () => {
    const dir = await untidyFolder();
    const notes: string[] = [];
    // As eval reads it (training refuses the empty class folder: train-folder-classes.test.ts).
    const pair = await loadData(dir, { imageSize: [8, 8], val: 0, evaluatedSplitOnly: true, log: (m) => notes.push(m) });
    expect(pair.train.classes).toEqual(['green', 'red', 'zebra']);
    expect(pair.skipped).toEqual([]);
    expect(notes).toEqual([
      "note: class folder 'zebra' is empty",
      'note: skipped 3 files that are not images by extension (.psd: 2, .txt: 1; images are JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM)',
    ]);
    const count = (k: number) => Array.from(pair.train.labels).filter((l) => l === k).length;
    expect([count(0), count(1), count(2)]).toEqual([5, 6, 0]); // red/more/ is read, as torchvision's ImageFolder reads it
  });

  test('a tidy folder has no notes; in train/ test/ splits the paths name the split, and a split does not repeat the missing-class note', async () => {
    const tidy = tmpDir();
    await write(path.join(tidy, 'red'), 'red', 2);
    await write(path.join(tidy, 'blue'), 'blue', 2);
    const quiet: string[] = [];
    await loadData(tidy, { imageSize: [8, 8], val: 0, log: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
    const dir = tmpDir();
    await write(path.join(dir, 'train', 'red'), 'red', 2);
    await write(path.join(dir, 'train', 'blue'), 'blue', 2);
    await write(path.join(dir, 'train', 'zebra'), 'red', 2);
    await write(path.join(dir, 'test', 'red'), 'red', 1);
    fs.mkdirSync(path.join(dir, 'test', 'blue', 'sub'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'test', 'zebra'));
    const notes: string[] = [];
    await loadData(dir, { imageSize: [8, 8], log: (m) => notes.push(m) });
    expect(notes.filter((m) => /empty/.test(m))).toEqual([]);
    expect(notes.filter((m) => /sub-folder|symlinked/.test(m))).toEqual([]); // an empty sub-folder adds nothing, as in torchvision
    expect(notes.filter((m) => /has no images of/.test(m))).toEqual([`note: ${path.join(dir, 'test')} has no images of 'blue', 'zebra': their accuracy there is not measured`]);
    // The split eval reads names its empty class folder by the split.
    const evalNotes: string[] = [];
    await loadData(dir, { imageSize: [8, 8], evaluatedSplitOnly: true, log: (m) => evalNotes.push(m) });
    expect(evalNotes.filter((m) => /empty/.test(m))).toEqual(["note: class folders 'test/blue', 'test/zebra' are empty"]);
  });

  test('JPEGs named .jfif and .jpe are images too (no skip note)', async () => {
    const dir = tmpDir();
    for (const [cls, ext] of [
      ['red', 'jfif'],
      ['green', 'jpe'],
    ] as const) {
      fs.mkdirSync(path.join(dir, cls));
      await sharp({ create: { width: 12, height: 10, channels: 3, background: COLOURS[cls] } })
        .jpeg()
        .toFile(path.join(dir, cls, `0.${ext}`));
    }
    const notes: string[] = [];
    const pair = await loadData(dir, { imageSize: [8, 8], val: 0, log: (m) => notes.push(m) });
    expect([pair.train.classes, pair.train.labels.length]).toEqual([['green', 'red'], 2]);
    expect(notes.filter((n) => n.includes('skipped'))).toEqual([]);
  });

  test("classes and files in Python's order (by code point), as torchvision's ImageFolder numbers them", () => {
    // UTF-16 order put '😀' (U+1F600, two units from 0xD83D) before 'ｚ' (U+FF5A): class numbers then
    // differed from ImageFolder's for a model converted to torchvision.
    const dir = tmpDir();
    for (const c of ['😀cat', 'ｚcafe', 'é', 'Z', 'a']) fs.mkdirSync(path.join(dir, c));
    for (const f of ['😀.png', 'ｚ.png', 'b.png']) fs.writeFileSync(path.join(dir, 'a', f), 'x');
    const listed = listImageFolder(dir);
    expect(listed.classes).toEqual(['Z', 'a', 'é', 'ｚcafe', '😀cat']);
    expect(listed.files.get('a')).toEqual(['b.png', 'ｚ.png', '😀.png']);
  });

  test('images turned by their EXIF orientation are said in one note (torchvision would not turn them)', async () => {
    const dir = tmpDir();
    await write(path.join(dir, 'red'), 'red', 2);
    await write(path.join(dir, 'green'), 'green', 2);
    const photo = sharp({ create: { width: 12, height: 10, channels: 3, background: COLOURS.blue } }).jpeg();
    for (const o of [6, 3]) await photo.clone().withMetadata({ orientation: o }).toFile(path.join(dir, 'red', `phone${o}.jpg`));
    const notes: string[] = [];
    const pair = await loadData(dir, { imageSize: [8, 8], val: 0, log: (m) => notes.push(m) });
    expect(pair.train.labels.length).toBe(6);
    expect(notes.filter((n) => n.includes('EXIF'))).toEqual([
      `note: 2 images (e.g. ${path.join('red', 'phone3.jpg')}) were turned upright or mirrored by their EXIF orientation, as photo viewers show them; torchvision's PIL pipeline would not turn them.`,
    ]);
    // With --limit the validation part is decoded apart: its turned photos are said too, its listing not again.
    const phones = tmpDir();
    await write(path.join(phones, 'green'), 'green', 4);
    fs.mkdirSync(path.join(phones, 'blue'));
    for (let i = 0; i < 4; i++) await photo.clone().withMetadata({ orientation: 6 }).toFile(path.join(phones, 'blue', `${i}.jpg`));
    fs.writeFileSync(path.join(phones, 'blue', 'notes.txt'), 'x');
    const limited: string[] = [];
    await loadData(phones, { imageSize: [8, 8], val: 0.5, limits: { train: 4, eval: 4 }, log: (m) => limited.push(m) });
    const turned = limited.filter((n) => n.includes('EXIF')).map((n) => Number(/^note: (\d+) image/.exec(n)![1]));
    expect(turned).toEqual([2, 2]);
    expect(limited.filter((n) => n.includes('not an image'))).toHaveLength(1);
  });

  test('listImageFolder reports what it leaves out; folderNotes phrases it', () => {
    const dir = tmpDir();
    for (const c of ['a', 'b', 'c']) fs.mkdirSync(path.join(dir, c));
    fs.writeFileSync(path.join(dir, 'a', '1.JPG'), 'x');
    fs.writeFileSync(path.join(dir, 'a', 'README'), 'x');
    const listed = listImageFolder(dir);
    expect(listed.files.get('a')).toEqual(['1.JPG']);
    expect(listed.empty).toEqual(['b', 'c']);
    expect([...listed.unsupported]).toEqual([['', 1]]);
    expect(folderNotes(dir, listed)).toEqual([
      "note: class folders 'b', 'c' are empty",
      'note: skipped 1 file that is not an image by extension (no extension: 1; images are JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM)',
    ]);
  });

  test('a class folder or a sub-folder that is a symlink is a folder, as for ImageFolder (a linked class was dropped)', () => {
    const elsewhere = tmpDir();
    fs.mkdirSync(path.join(elsewhere, 'c'));
    fs.writeFileSync(path.join(elsewhere, 'c', '1.png'), 'x');
    fs.mkdirSync(path.join(elsewhere, 'deeper'));
    fs.writeFileSync(path.join(elsewhere, 'deeper', 'x.png'), 'x');
    const dir = tmpDir();
    for (const c of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, c));
      fs.writeFileSync(path.join(dir, c, '1.png'), 'x');
    }
    fs.symlinkSync(path.join(elsewhere, 'c'), path.join(dir, 'c'));
    fs.symlinkSync(path.join(elsewhere, 'deeper'), path.join(dir, 'a', 'linked-sub'));
    fs.symlinkSync(path.join(elsewhere, 'c', '1.png'), path.join(dir, 'b', '2.png')); // a linked image stays an image
    const listed = listImageFolder(dir);
    expect(listed.classes).toEqual(['a', 'b', 'c']);
    expect(listed.files.get('c')).toEqual(['1.png']);
    expect(listed.files.get('b')).toEqual(['1.png', '2.png']);
    expect(listed.files.get('a')).toEqual(['1.png', 'linked-sub/x.png']);
    expect(listed.loops).toEqual([]);
  });

  test('sub-folders of class folders are read in torchvision ImageFolder order; symlinks back up are not followed', () => {
    const dir = tmpDir();
    for (const f of ['z.png', 'B/1.png', 'b/1.png', 'b-c/1.png', 'b/x/1.png', 'b/x/0.png', 'a.b/1.png', '.ipynb_checkpoints/1.png'])
    {
      fs.mkdirSync(path.dirname(path.join(dir, 'cat', f)), { recursive: true });
      fs.writeFileSync(path.join(dir, 'cat', f), 'x');
    }
    fs.mkdirSync(path.join(dir, 'dog'));
    fs.writeFileSync(path.join(dir, 'dog', '1.png'), 'x');
    fs.symlinkSync(path.join(dir, 'cat'), path.join(dir, 'cat', 'b', 'loop')); // back to the class folder
    fs.symlinkSync('self', path.join(dir, 'dog', 'self')); // a link to itself (ELOOP): not a folder, no extension
    const listed = listImageFolder(dir);
    // os.walk's folders sorted by path ('/' is 0x2F: 'b' < 'b-c' < 'b/x'; '.' 0x2E: 'a.b' < 'b'), each one's files sorted.
    const expected = ['z.png', 'B/1.png', 'a.b/1.png', 'b/1.png', 'b-c/1.png', 'b/x/0.png', 'b/x/1.png'];
    expect(listed.files.get('cat')).toEqual(expected);
    expect(listed.loops).toEqual(['cat/b/loop']);
    expect(folderNotes(dir, listed)).toEqual([
      'note: skipped 1 file that is not an image by extension (no extension: 1; images are JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM)',
      'note: did not follow 1 symlinked folder leading back to a folder above it (cat/b/loop): its images are read once, where they lie',
    ]);
    const skip = pythonSkipReason(['torchvision']);
    if (skip) return console.log(`skipped the comparison with torchvision's ImageFolder: ${skip}`);
    fs.unlinkSync(path.join(dir, 'cat', 'b', 'loop')); // os.walk would follow it until the system refuses
    fs.unlinkSync(path.join(dir, 'dog', 'self'));
    fs.rmSync(path.join(dir, 'cat', '.ipynb_checkpoints'), { recursive: true }); // hidden: ours skips it, ImageFolder reads it
    const code = 'import sys, os\nfrom torchvision.datasets.folder import make_dataset, find_classes\nd = sys.argv[1]\n' +
      "for p, k in make_dataset(d, find_classes(d)[1], extensions=('.png',)): print(k, os.path.relpath(p, d))";
    const peer = runPython(['-c', code, dir]).trim().split('\n');
    expect(folderItems(dir, listed, listed.classes).map((it) => `${it.label} ${path.relative(dir, it.file)}`)).toEqual(peer);
  });
});

describe('limitImages (--limit, --test-limit)', () => {
  /** 40 images sorted by class, as an image folder loads them: 4 classes of 10. */
  const sorted = () => {
    const d = synthetic(40, 4);
    const labels = Int32Array.from({ length: 40 }, (_, i) => Math.floor(i / 10));
    return { ...d, labels, classes: ['a', 'b', 'c', 'd'] };
  };

  test('folders: a seeded mix of every class (the first n of a seeded permutation), reproducible; other data: the first n', () => {
    const d = sorted();
    const mixed = limitImages(d, 12, { mix: true, seed: 0 });
    expect(new Set(mixed.labels).size).toBe(4);
    expect(Array.from(mixed.labels)).toEqual(Array.from(epochOrder(40, 0, 0x11).subarray(0, 12), (i) => d.labels[i]));
    expect(Array.from(limitImages(d, 12, { mix: true, seed: 0 }).labels)).toEqual(Array.from(mixed.labels));
    expect(Array.from(limitImages(d, 12, { mix: false }).labels)).toEqual(new Array(10).fill(0).concat([1, 1]));
    expect(limitImages(d, undefined, { mix: true })).toBe(d);
    expect(() => limitImages(d, 41, { mix: true, what: 'test images of folder' })).toThrow(
      /^--limit 41 is more than the 40 test images of folder\.$/,
    );
  });
});
