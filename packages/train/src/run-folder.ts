/**
 * Run folders: the output folder of one training run (checkpoint.safetensors, model.safetensors,
 * best.safetensors, log.jsonl, curves.svg) is guarded so that a run is never overwritten by accident and never
 * written by two processes at once.
 *
 * - Opening creates the folder (failing fast with a one-line error where it cannot be written), takes
 *   a lock file holding the owner's pid (a lock whose process is gone is taken over, with a note),
 *   and removes the temporary files that a killed atomic write left behind.
 * - A folder that already holds a run is refused unless the run is resumed (`resume`) or replaced
 *   (`force`, which deletes the old run's files first); `resume` with no checkpoint is an error. A
 *   run that saved nothing but its log (stopped before its first checkpoint) is replaced with a note.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Module, type ResNet, StateDictError } from '@resnet-ts/core';
import { FileError, cleanStaleTempFiles, ensureDir, fileError, loadCheckpoint } from '@resnet-ts/core/node';
import { TrainError } from './errors.js';
import { type ResumeFlags, type RunSettings, TRAIN_COMMAND_FLAGS, newRunWay, resumeDifferences, resumeFix } from './resume-check.js';

/** File name of the lock a running training process holds in its output folder. */
export const LOCK_FILE = '.resnet-run.lock';
/** The files that make a folder hold a run (removed by `force`). */
export const RUN_FILES = ['checkpoint.safetensors', 'model.safetensors', 'best.safetensors', 'log.jsonl', 'curves.svg'] as const;

/** Options of {@link openRunFolder}. */
export interface RunFolderOptions {
  /** Continue the run whose checkpoint.safetensors is in the folder (an error when there is none). */
  resume?: boolean;
  /** Replace a run already in the folder (its files are deleted first). */
  force?: boolean;
  /** Notes (stale lock taken over, temporary files removed, old run replaced). */
  log?: (message: string) => void;
}

/** An open, locked run folder. Call {@link RunFolder.release} when the run ends. */
export interface RunFolder {
  dir: string;
  /** Whether the run continues from the folder's checkpoint. */
  resuming: boolean;
  /** Removes the lock (idempotent). */
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLockOwner(lock: string): { pid?: number; started?: string } {
  try {
    return JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid?: number; started?: string };
  } catch {
    return {};
  }
}

/** Throws when a live process holds `dir`'s lock; returns the (dead or absent) owner otherwise. */
function refuseLiveLock(dir: string): { pid?: number; started?: string } {
  const lock = path.join(dir, LOCK_FILE);
  const owner = readLockOwner(lock);
  if (owner.pid !== undefined && Number.isInteger(owner.pid) && alive(owner.pid)) {
    throw new TrainError(
      `'${dir}' is in use by process ${owner.pid} (running since ${owner.started ?? '?'}): wait for it to finish or choose another --out ` +
        `(if no such run exists, delete '${lock}').`,
      'RUN_FOLDER',
    );
  }
  return owner;
}

/** The run files in `dir`; throws when they conflict with `resume`/`force` (see the module comment). */
function refuseHeldRun(dir: string, options: RunFolderOptions): string[] {
  const held = RUN_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
  if (options.resume && !held.includes('checkpoint.safetensors')) {
    throw new TrainError(
      `Nothing to resume in '${dir}': it has no checkpoint.safetensors. Leave out --resume to start a new run there.`,
      'RUN_FOLDER',
    );
  }
  // A run that stopped before its first checkpoint (killed, or a second Ctrl-C) left only its log:
  // nothing to resume or lose, so starting again replaces it (with a note), as --force would.
  const saved = held.filter((f) => f !== 'log.jsonl' && f !== 'curves.svg');
  if (!options.resume && !options.force && saved.length) {
    throw new TrainError(
      `'${dir}' already holds a run (${held.join(', ')}): pass --resume to continue it, --force to replace it, or choose another --out.`,
      'RUN_FOLDER',
    );
  }
  return options.resume ? [] : held;
}

/**
 * The checks of {@link openRunFolder} that change nothing (for a command to fail before it loads
 * data): `dir` is or can become a folder, no live process holds it, and a run in it is not
 * overwritten without `force` nor resumed when absent.
 */
export function checkRunFolder(dir: string, options: Omit<RunFolderOptions, 'log'> = {}): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir, { throwIfNoEntry: false });
  } catch (e) {
    throw fileError(e, dir, 'use folder');
  }
  if (!st) {
    if (options.resume) throw new TrainError(`Nothing to resume: '${dir}' does not exist.`, 'RUN_FOLDER');
    return;
  }
  if (!st.isDirectory()) throw new FileError(`Cannot use '${dir}' as a folder: it is a file (EEXIST).`, 'EEXIST');
  refuseLiveLock(dir);
  refuseHeldRun(dir, options);
}

function takeLock(dir: string, log: (m: string) => void): string {
  const lock = path.join(dir, LOCK_FILE);
  const body = JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }) + '\n';
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, body, { flag: 'wx' });
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw fileError(e, lock, 'lock run folder');
    }
    const owner = refuseLiveLock(dir);
    log(`note: taking over the stale lock of process ${owner.pid ?? '?'} (no longer running) in '${dir}'`);
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Opens `dir` as the folder of a training run: creates and locks it, cleans stale temporary files,
 * and refuses to overwrite a run in it unless `resume` or `force` is given (see the module comment).
 */
export function openRunFolder(dir: string, options: RunFolderOptions = {}): RunFolder {
  const log = options.log ?? (() => {});
  ensureDir(dir);
  const lock = takeLock(dir, log);
  const release = () => {
    process.off('exit', release);
    try {
      if (readLockOwner(lock).pid === process.pid) fs.rmSync(lock, { force: true });
    } catch {
      // A folder made read-only mid-run keeps its lock; the next run takes it over as stale. The
      // error that ended this run is the one to report, not this one.
    }
  };
  // A process that exits without unwinding (a second Ctrl-C) still drops its lock.
  process.on('exit', release);
  try {
    const removed = cleanStaleTempFiles(dir);
    if (removed.length) log(`note: removed ${removed.length} temporary file(s) of an interrupted write in '${dir}': ${removed.join(', ')}`);
    const replaced = refuseHeldRun(dir, options);
    if (replaced.length) {
      // Said without naming a flag: `force` is --force in `resnet train`, but the lab sets it itself.
      const unsaved = replaced.includes('checkpoint.safetensors') ? '' : ': it saved no checkpoint to resume from';
      log(`note: replacing the run in '${dir}' (${replaced.join(', ')})${unsaved}`);
      for (const f of replaced) fs.rmSync(path.join(dir, f), { force: true });
    }
  } catch (e) {
    release();
    throw fileError(e, dir, 'prepare run folder');
  }
  return { dir, resuming: Boolean(options.resume), release };
}

/**
 * What a run's checkpoint must agree with for the run to continue from it: its steps per epoch and
 * length, and every setting it stores ({@link RunSettings}: those left undefined are not compared).
 */
export interface ResumeExpectation extends RunSettings {
  stepsPerEpoch: number;
}

/** The training state a resumed run continues from, and the optimizer's momenta (the caller disposes them). */
export interface ResumedState<S> {
  state: S;
  momenta: Map<string, tf.Tensor>;
}

/**
 * Loads `file` (a checkpoint written by the trainer) into `model` and returns its training state,
 * after checking it (core's metadata schema, then the fields the trainer needs and their agreement
 * with this run's options): a hand-edited or foreign checkpoint is a one-line error, never a wrong
 * number of steps. The refusals name the settings by the options `flags` gives (default `resnet train`'s).
 */
export function loadResumeState<S extends { step: number; epoch: number }>(
  file: string,
  model: Module,
  expect: ResumeExpectation,
  flags: ResumeFlags = TRAIN_COMMAND_FLAGS,
): ResumedState<S> {
  const loaded = loadRunCheckpoint(file, model as ResNet, flags);
  const momenta = new Map<string, tf.Tensor>();
  for (const [k, t] of loaded.extraTensors) {
    if (k.startsWith('optimizer.momentum.')) momenta.set(k.slice('optimizer.momentum.'.length), t);
    else t.dispose();
  }
  try {
    const state = loaded.training as Record<string, unknown> | undefined;
    const bad = (what: string) => new TrainError(`Cannot resume from ${file}: ${what}.`, 'CHECKPOINT');
    if (!state) throw bad('it holds weights only (no metadata "training")');
    const rng = state.rng as { augment?: unknown } | undefined;
    const accum = state.accum as Record<string, unknown> | undefined;
    for (const k of ['step', 'epoch', 'batchSize', 'trainSize', 'seed', 'stepsPerEpoch'])
      if (typeof state[k] !== 'number') throw bad(`metadata "training.${k}" is missing`);
    if (!Array.isArray(rng?.augment) || rng.augment.length < 4 || !rng.augment.slice(0, 4).every((x) => Number.isInteger(x)))
      throw bad('metadata "training.rng.augment" must be a generator state (a list starting with 4 integers)');
    if (!accum || !['lossSum', 'correct', 'seen', 'seconds'].every((k) => typeof accum[k] === 'number' && Number.isFinite(accum[k])))
      throw bad('metadata "training.accum" must hold finite lossSum, correct, seen and seconds');
    const differences = resumeDifferences(expect, { ...state, classes: loaded.classes, preprocessing: loaded.preprocessing }, flags);
    if (differences.length) throw bad(`${differences.join(', ')}; ${resumeFix(differences)}, or start a new run with ${newRunWay(flags)}`);
    if (state.stepsPerEpoch !== expect.stepsPerEpoch)
      throw bad(`metadata "training.stepsPerEpoch" is ${state.stepsPerEpoch}, not ${expect.stepsPerEpoch}`);
    if ((state.step as number) > expect.totalSteps) {
      // A command that names an option to start afresh (the lab's --no-resume) is told it too; `resnet train`'s wording is as it was.
      const ways = [flags.length && `give at least as many ${flags.length}`, flags.restart && `start a new run with ${newRunWay(flags)}`];
      const how = ways.filter(Boolean).join(', or ');
      throw bad(`it is at step ${state.step}, beyond this run's ${expect.totalSteps} steps${how ? ` (${how})` : ''}`);
    }
    return { state: state as unknown as S, momenta };
  } catch (e) {
    tf.dispose([...momenta.values()]);
    throw e;
  }
}

/** The run's checkpoint loaded into `model`; one that holds another network is a resume error saying so (and which of `flags` make it). */
function loadRunCheckpoint(file: string, model: ResNet, flags: ResumeFlags): ReturnType<typeof loadCheckpoint> {
  try {
    return loadCheckpoint(file, { model });
  } catch (e) {
    if (!(e instanceof StateDictError)) throw e;
    const { missing, unexpected, mismatched } = e;
    const first = missing[0] ?? unexpected[0] ?? mismatched[0]?.key;
    const counts = [
      missing.length ? `${missing.length} of this run's weights missing` : '',
      unexpected.length ? `${unexpected.length} it has no place for` : '',
      mismatched.length ? `${mismatched.length} of other shapes` : '',
    ].filter(Boolean);
    const way = flags.architecture
      ? `Use the ${flags.architecture} of the run that made it, or ${newRunWay(flags)}`
      : `Start a new run with ${newRunWay(flags)}`;
    throw new TrainError(
      `Cannot resume from ${file}: it holds another network than this run's (${counts.join(', ')}; e.g. ${first}). ${way}.`,
      'CHECKPOINT',
    );
  }
}

/**
 * Reads log.jsonl, keeping the epochs numbered up to `lastEpoch` (epochs are numbered from 1, so
 * this is the number of finished epochs). A torn last line (a kill during the append) is dropped
 * with a note; a bad line before the last is an error naming the line.
 */
export function readRunLog<M extends { epoch: number }>(file: string, lastEpoch: number, log: (m: string) => void = () => {}): M[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: M[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as M);
    } catch {
      const last = lines.slice(i + 1).every((l) => !l.trim());
      if (!last) throw new TrainError(`${file}: line ${i + 1} is not valid JSON; fix or delete the line to resume.`, 'CHECKPOINT');
      log(`note: dropped the torn last line of ${file} (an interrupted write): ${JSON.stringify(line.slice(0, 60))}`);
    }
  });
  // A log written before epochs were numbered from 1 (its first epoch is 0) is renumbered.
  if (out[0]?.epoch === 0) {
    log(`note: ${file} numbers epochs from 0 (an older version); renumbered from 1 as the console does`);
    for (const m of out) m.epoch += 1;
  }
  return out.filter((m) => m.epoch <= lastEpoch);
}
