/** The progress bar of long loops (training steps, evaluation batches, decoding image folders) on stderr. */
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import type { FolderProgress } from './data/folder.js';

/** Whether to show a bar by default: stderr is a terminal and this is not a jest worker. */
export function defaultProgressBar(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.JEST_WORKER_ID === undefined;
}

/**
 * A bar on stderr (cli-progress) with `format`'s `{value}`, `{total}`, `{bar}`, `{eta_formatted}`
 * and any payload fields; `start`, `update` and `stop` as cli-progress's `SingleBar`.
 */
export function progressBar(format: string): SingleBar {
  return new SingleBar({ format, hideCursor: true, etaBuffer: 50, stream: process.stderr });
}

/** Seconds between the plain progress lines of {@link folderProgressReporter} when stderr is not a terminal. */
const PLAIN_LINE_SECONDS = 10;

/** Options of {@link folderProgressReporter}; the defaults are the terminal's (tests inject their own). */
export interface FolderProgressOptions {
  /** Bars (default {@link defaultProgressBar}) or plain lines. */
  bars?: boolean;
  /** Where plain lines go (default stderr). */
  write?: (line: string) => void;
  /** The clock, in ms (default Date.now). */
  now?: () => number;
}

/**
 * An `onFolderProgress` for `loadData` that shows how far the decoding of image folders has got (a
 * folder of large photos takes minutes): a bar per folder that takes over a second, or, when stderr
 * is not a terminal (logs, pipes), a line every 10 s with the images done and the time left.
 */
export function folderProgressReporter(options: FolderProgressOptions = {}): (progress: FolderProgress) => void {
  const { bars = defaultProgressBar(), write = (line: string) => process.stderr.write(line), now = Date.now } = options;
  let bar: SingleBar | undefined;
  let folder = '';
  let started = 0;
  let lastLine = 0;
  return ({ folder: f, done, total }) => {
    const t = now();
    if (f !== folder) [folder, started, lastLine, bar] = [f, t, t, undefined];
    if (bars) {
      if (!bar && t - started > 1000 && done < total) {
        bar = progressBar(`decoding ${path.basename(f)}/ |{bar}| {value}/{total} images | ETA {eta_formatted}`);
        bar.start(total, done);
      }
      bar?.update(done);
      if (done === total) bar?.stop();
      return;
    }
    if (t - lastLine < PLAIN_LINE_SECONDS * 1000 || done === total) return;
    lastLine = t;
    const left = Math.round((((t - started) / done) * (total - done)) / 1000);
    write(`decoding ${f}: ${done}/${total} images, about ${Math.floor(left / 60)}m${String(left % 60).padStart(2, '0')}s left\n`);
  };
}
