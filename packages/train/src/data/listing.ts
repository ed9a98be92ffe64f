/**
 * What an image folder holds before anything is decoded: its classes (sub-folders) and their image
 * files, in torchvision's `ImageFolder` order, and what is left out (said in notes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';

/** The image files a folder data set takes, by extension: what predict's decoder reads (sharp, and zoo's own for bitmaps). */
const IMAGE_EXT = /\.(jpe?g|jpe|jfif|png|webp|tiff?|gif|avif|bmp|dib|ppm|pgm|pbm|pnm)$/i;
/** The formats of folder data sets in words, for messages. */
export const IMAGE_FORMATS = 'JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM';

/**
 * Files and folders that operating systems leave next to images, skipped without a note: hidden
 * names (`.DS_Store`, macOS's `._photo.jpg` AppleDouble files), Windows' Thumbs.db and desktop.ini,
 * and the __MACOSX folder of zip files made on a Mac.
 */
export function isSystemFile(name: string): boolean {
  return name.startsWith('.') || /^(thumbs\.db|desktop\.ini|__macosx)$/i.test(name);
}

/** What {@link listImageFolder} finds. */
export interface ImageFolderListing {
  /** The sorted class sub-folders. */
  classes: string[];
  /** The image files of each class, relative to its folder (`x.jpg`, `2019/y.jpg`), in torchvision's order. */
  files: Map<string, string[]>;
  /** Class folders without an image file. */
  empty: string[];
  /** Files in class folders that are not images by their extension: how many per extension ('' for none). */
  unsupported: Map<string, number>;
  /** Symlinked folders inside class folders that lead back to a folder above them (`class/sub/link`): not followed. */
  loops: string[];
}

/**
 * Python's order of strings, by code point, in which torchvision's ImageFolder numbers classes and
 * lists files. JavaScript's own sort compares UTF-16 units: it put characters above U+FFFF (emoji,
 * CJK extension B) before U+E000..U+FFFF (fullwidth forms), so class numbers differed from PyTorch's.
 */
export function byCodePoint(a: string, b: string): number {
  const [x, y] = [[...a], [...b]];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}

const visible = (d: string) => fs.readdirSync(d, { withFileTypes: true }).filter((e) => !isSystemFile(e.name));

/**
 * Whether an entry is a folder; a symlink to a folder is one, as for torchvision's ImageFolder
 * (os.scandir ... is_dir() follows links). A link that cannot be followed (dangling, a loop of
 * links: ELOOP) is not.
 */
function isFolder(d: string, e: fs.Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return fs.statSync(path.join(d, e.name)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The image files under one class folder, relative to it, in torchvision's order: by the path of
 * the folder holding them (`sorted(os.walk(...))`: the class folder's own files first, then each
 * sub-folder's, `b` < `b-c` < `b/x`), then by name. A symlinked folder that leads back to a folder
 * above it is recorded in `loops` and not followed (os.walk would follow it until the system refuses).
 */
function walkClassFolder(classDir: string, label: string, unsupported: Map<string, number>, loops: string[]): string[] {
  const folders: { rel: string; files: string[] }[] = [];
  const stack = [{ rel: '', abs: classDir, above: new Set<string>() }];
  while (stack.length) {
    const { rel, abs, above } = stack.pop()!;
    const chain = new Set(above).add(fs.realpathSync(abs));
    const files: string[] = [];
    for (const e of visible(abs)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (isFolder(abs, e)) {
        const sub = path.join(abs, e.name);
        if (chain.has(fs.realpathSync(sub))) loops.push(`${label}/${r}`);
        else stack.push({ rel: r, abs: sub, above: chain });
      } else if (IMAGE_EXT.test(e.name)) files.push(r);
      else {
        const ext = path.extname(e.name).toLowerCase();
        unsupported.set(ext, (unsupported.get(ext) ?? 0) + 1);
      }
    }
    folders.push({ rel, files: files.sort(byCodePoint) });
  }
  return folders.sort((a, b) => byCodePoint(a.rel, b.rel)).flatMap((f) => f.files);
}

/**
 * The sorted class sub-folders of `dir` and their image files (by extension, see
 * {@link IMAGE_FORMATS}), sub-folders of a class folder included as torchvision's ImageFolder
 * includes them, and what is left out; system files ({@link isSystemFile}) are ignored at every level.
 */
export function listImageFolder(dir: string): ImageFolderListing {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError(`Image folder ${dir} does not exist or is not a folder.`);
  const classes = visible(dir)
    .filter((e) => isFolder(dir, e))
    .map((e) => e.name)
    .sort(byCodePoint);
  const files = new Map<string, string[]>();
  const unsupported = new Map<string, number>();
  const loops: string[] = [];
  for (const c of classes) files.set(c, walkClassFolder(path.join(dir, c), c, unsupported, loops));
  return { classes, files, empty: classes.filter((c) => !files.get(c)!.length), unsupported, loops: loops.sort(byCodePoint) };
}

/** Lists up to `max` items, then how many more. */
function some(items: string[], max = 5): string {
  return items.slice(0, max).join(', ') + (items.length > max ? `, ... (${items.length} in all)` : '');
}

/**
 * One `note: ...` line per kind of thing {@link listImageFolder} left out: empty class folders (a
 * class without images), files that are not images by their extension, symlinked folders that lead
 * back up (not followed). Paths are shown relative to `relativeTo`.
 */
export function folderNotes(dir: string, listed: ImageFolderListing, relativeTo = dir): string[] {
  const rel = (p: string) => path.relative(relativeTo, path.join(dir, p)) || p;
  const notes: string[] = [];
  if (listed.empty.length)
    notes.push(
      `note: class folder${listed.empty.length > 1 ? 's' : ''} ${some(listed.empty.map((c) => `'${rel(c)}'`))} ${listed.empty.length > 1 ? 'are' : 'is'} empty`,
    );
  const n = [...listed.unsupported.values()].reduce((a, b) => a + b, 0);
  if (n) {
    const kinds = [...listed.unsupported]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([ext, k]) => `${ext || 'no extension'}: ${k}`);
    notes.push(
      `note: skipped ${n > 1 ? `${n} files that are not images` : '1 file that is not an image'} by extension (${some(kinds)}; images are ${IMAGE_FORMATS})`,
    );
  }
  const s = listed.loops.length;
  if (s)
    notes.push(
      `note: did not follow ${s} symlinked folder${s > 1 ? 's' : ''} leading back to a folder above ${s > 1 ? 'them' : 'it'} (${some(listed.loops.map(rel))}): ` +
        `${s > 1 ? 'their' : 'its'} images are read once, where they lie`,
    );
  return notes;
}

/** The images of a listed folder in listing order (class folders sorted, files in torchvision's order), labelled by `classes`. */
export function folderItems(dir: string, listed: ImageFolderListing, classes: string[]): { file: string; label: number }[] {
  return listed.classes.flatMap((c) => listed.files.get(c)!.map((f) => ({ file: path.join(dir, c, f), label: classes.indexOf(c) })));
}
