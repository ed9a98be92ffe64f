/**
 * File-system helpers shared by every Node writer and reader of resnet-ts: one mapping from Node's
 * error codes to a one-line {@link FileError} naming the path and the cause, the one atomic writer
 * (temporary file in the same folder, fsync, rename), a folder creator that fails fast where a
 * recursive mkdir would hang (e.g. under /proc), and the clean-up of temporary files: those a killed
 * writer left behind, and this process's own when it exits or is stopped by SIGINT, SIGTERM or SIGHUP
 * in the middle of a write (with the folder made for the file, e.g. a download's cache entry, when
 * that leaves it empty).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResNetError } from '../errors.js';

/** A file that cannot be opened or written (missing, a folder, no permission, disk full...). */
export class FileError extends ResNetError {
  constructor(
    message: string,
    /** Node's error code (`ENOENT`, `EACCES`, ...) when the cause was one. */
    readonly errno?: string,
  ) {
    super(message, 'FILE');
  }
}

const CAUSES: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'it already exists (as a file, where a folder is needed)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EBUSY: 'the file is busy',
  EIO: 'input/output error',
  ELOOP: 'too many symbolic links',
};

/** An Error, also one made in another realm (a vm context, a worker's DOMException), which `instanceof Error` misses. */
const isErrorLike = (e: unknown): e is Error =>
  e instanceof Error ||
  (typeof e === 'object' && e !== null && typeof (e as Error).message === 'string' && typeof (e as Error).name === 'string');

/**
 * The one mapping of a Node file-system error to a one-line {@link FileError}:
 * `Cannot <action> '<path>': <cause> (<CODE>).` Errors that are already resnet-ts errors pass
 * through unchanged, as do errors that are not the file system's (an `AbortError`).
 */
export function fileError(e: unknown, file: string, action = 'write'): Error {
  if (e instanceof ResNetError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  // Only system errors carry a string code; a DOMException's numeric one (an AbortError's 20) passes through.
  if (typeof code !== 'string' || !code) return isErrorLike(e) ? e : new Error(String(e));
  const cause = CAUSES[code] ?? ((e as Error).message.split(',')[1]?.trim() || (e as Error).message);
  return new FileError(`Cannot ${action} '${file}': ${cause} (${code}).`, code);
}

/** Opens a file for reading; a missing file or a folder is a {@link FileError}. */
export function openForRead(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new FileError(`No such file: '${file}'.`, 'ENOENT');
    throw fileError(e, file, 'read');
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new FileError(`'${file}' is a directory, not a file.`, 'EISDIR');
  }
  return fd;
}

/**
 * Creates `dir` and its missing parents one level at a time (never `mkdir -p`, which loops forever
 * under /proc), after checking that the nearest existing ancestor is a folder. Every failure is a
 * {@link FileError} naming the path and the cause.
 */
export function ensureDir(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, at, 'use folder');
    }
    if (st) {
      if (!st.isDirectory())
        throw new FileError(
          `Cannot use '${dir}' as a folder: '${at}' is a file (${at === abs ? 'EEXIST' : 'ENOTDIR'}).`,
          at === abs ? 'EEXIST' : 'ENOTDIR',
        );
      break;
    }
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw fileError(e, d, 'create folder');
    }
  }
}

/** Temporary files of {@link writeFileAtomic}: `.<name>.<pid>.<random>.tmp`. */
const TEMP_FILE = /^\.(.+)\.(\d+)\.([a-z0-9]+)\.tmp$/;
/** Those of the lab's own writer before it used this one (`<name>.tmp-<pid>-<ms>`), still in older report folders. */
const LEGACY_TEMP_FILE = /^(.+)\.tmp-(\d+)-\d+$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that a killed {@link writeFileAtomic} left in `dir`: only names of
 * its pattern (`.<name>.<pid>.<random>.tmp`, or the lab's former `<name>.tmp-<pid>-<ms>`; only those
 * of `name` when given), and only when process `<pid>` is no longer alive. Returns the names removed.
 */
export function cleanStaleTempFiles(dir: string, name?: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of names) {
    const m = TEMP_FILE.exec(entry) ?? LEGACY_TEMP_FILE.exec(entry);
    if (!m || (name !== undefined && m[1] !== name) || processAlive(Number(m[2]))) continue;
    try {
      fs.rmSync(path.join(dir, entry), { force: true });
      removed.push(entry);
    } catch (e) {
      throw fileError(e, path.join(dir, entry), 'remove stale temporary file');
    }
  }
  return removed;
}

/** The temporary files this process is writing now, each with the folder to remove if it is left empty (see {@link trackTemp}). */
const inFlight = new Map<string, string | undefined>();
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let exitHooked = false;
let signalsHooked = false;
/** Marks {@link onStopSignal} (of every copy of this module in the process) as not another program's listener. */
const STOP_TAG = Symbol.for('resnet-ts.atomic-writer.stop-signal');

/** Removes `dir` if it is empty (another file, or another process's write in flight, keeps it). */
function removeDirIfEmpty(dir: string | undefined): void {
  if (dir === undefined) return;
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty, or already gone: leave it.
  }
}

function removeInFlight(): void {
  for (const [tmp, dir] of inFlight) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Exiting: nothing more can be done; the next write of that file removes it (stale).
    }
    removeDirIfEmpty(dir);
  }
  inFlight.clear();
}

/**
 * A stop signal while temporaries are in flight. When the program has a listener of its own for the
 * signal (e.g. `resnet train`'s Ctrl-C, which finishes the step and checkpoints), that listener
 * decides: its writes complete, and if it exits, the 'exit' hook removes what is still in flight.
 * Otherwise (other copies of this module's listener do not count) this does what Node would have
 * done without a listener: it removes the temporaries, then re-raises the signal with the default
 * action, so the process dies by that signal (shell status 128 + n).
 */
function onStopSignal(signal: NodeJS.Signals): void {
  if (process.listeners(signal).some((l) => !(STOP_TAG in l))) return;
  removeInFlight();
  unhookSignals();
  process.kill(process.pid, signal);
}

Object.defineProperty(onStopSignal, STOP_TAG, { value: true });

function unhookSignals(): void {
  if (!signalsHooked) return;
  signalsHooked = false;
  for (const s of STOP_SIGNALS) process.off(s, onStopSignal);
}

/**
 * Registers `tmp` as being written: removed (and `dir`, if that leaves it empty) if the process exits
 * (process.exit, an uncaught error) or is stopped by SIGINT/SIGTERM/SIGHUP before {@link untrackTemp}.
 * The signal listeners exist only while a write is in flight, so a process that writes nothing keeps
 * Node's default handling.
 */
function trackTemp(tmp: string, dir: string | undefined): void {
  inFlight.set(tmp, dir);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', removeInFlight);
  }
  if (!signalsHooked) {
    signalsHooked = true;
    for (const s of STOP_SIGNALS) process.on(s, onStopSignal);
  }
}

/**
 * The write of `tmp` is over (renamed or removed). The signal listeners go after one more turn of
 * the event loop, not now: a signal that arrived during a synchronous stretch is dispatched in that
 * turn's poll phase, and removing the listener first (or exiting without that turn) would drop it:
 * Ctrl-C ignored, exit status 0.
 */
function untrackTemp(tmp: string): void {
  inFlight.delete(tmp);
  if (inFlight.size === 0)
    setImmediate(() => {
      if (inFlight.size === 0) unhookSignals();
    });
}

/** One turn of the event loop: lets a stop signal that arrived during a synchronous write run its listener. */
function turnOfEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Whether the folder holding `file` was made for it (a download's cache entry): then it is removed
   * with the temporary file, if that leaves it empty, when the write fails or the process exits or is
   * stopped during it; so nothing of an unfinished write stays behind.
   */
  removeDirIfEmpty?: boolean;
}

/**
 * Writes `file` atomically: `write` gets a file descriptor of a temporary file in the same folder;
 * on success the data is flushed and the file renamed into place, on failure it is removed, and
 * when the process exits or is stopped by SIGINT/SIGTERM/SIGHUP during the write, too (a SIGKILL
 * leaves it: stale temporary files of an earlier, killed write of the same file are removed first).
 * With `removeDirIfEmpty`, the folder goes too when that leaves it empty. File system failures are
 * {@link FileError}s naming the path and the cause.
 */
export async function writeFileAtomic(
  file: string,
  write: (fd: number) => Promise<void> | void,
  options: AtomicWriteOptions = {},
): Promise<void> {
  // 'out/' names a folder: the rename at the end would fail with ENOTDIR, which says nothing useful.
  if (/[\\/]$/.test(file) && !fs.statSync(file, { throwIfNoEntry: false })?.isDirectory())
    throw new FileError(`Cannot write '${file}': a name ending in '${file.slice(-1)}' is a folder; give a file name.`, 'EISDIR');
  const dir = path.dirname(path.resolve(file));
  let dirStat: fs.Stats | undefined;
  let fileStat: fs.Stats | undefined;
  try {
    dirStat = fs.statSync(dir, { throwIfNoEntry: false });
    fileStat = dirStat?.isDirectory() ? fs.statSync(file, { throwIfNoEntry: false }) : undefined;
  } catch (e) {
    throw fileError(e, file);
  }
  if (!dirStat) throw new FileError(`Cannot write '${file}': folder '${dir}' does not exist.`, 'ENOENT');
  if (!dirStat.isDirectory()) throw new FileError(`Cannot write '${file}': '${dir}' is a file, not a folder (ENOTDIR).`, 'ENOTDIR');
  if (fileStat?.isDirectory()) throw new FileError(`Cannot write '${file}': it is a folder, not a file (EISDIR).`, 'EISDIR');
  // What a killed earlier write of this file left behind goes now (only dead processes' temp files).
  cleanStaleTempFiles(dir, path.basename(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  const ownDir = options.removeDirIfEmpty ? dir : undefined;
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (e) {
    removeDirIfEmpty(ownDir);
    throw fileError(e, file);
  }
  trackTemp(tmp, ownDir);
  try {
    await write(fd);
    // Ctrl-C during the (often synchronous) write: stop here, before the file is put in place.
    await turnOfEventLoop();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    removeDirIfEmpty(ownDir);
    throw fileError(e, file);
  } finally {
    untrackTemp(tmp);
  }
}

/**
 * resnet-ts's cache folder (downloads, remembered probes): `$RESNET_TS_CACHE`, else
 * `$XDG_CACHE_HOME/resnet-ts`, else `~/.cache/resnet-ts`.
 */
export function cacheDir(): string {
  if (process.env.RESNET_TS_CACHE) return path.resolve(process.env.RESNET_TS_CACHE);
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'resnet-ts');
}
