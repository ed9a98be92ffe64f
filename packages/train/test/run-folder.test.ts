/**
 * Run folders through the real trainer: a run is never overwritten without `force`, `resume` needs a
 * checkpoint, a live lock stops a second writer and a dead one is taken over, stale temporary files
 * and a torn last log line are dealt with on the next start, a hand-edited checkpoint cannot resume,
 * an abort during the last evaluation is an interruption, and a one-class data set is refused.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { loadSafetensors, saveSafetensors } from '@resnet-ts/core/node';
import { LOCK_FILE, TrainOptions, checkRunFolder, readRunLog, train } from '../src/index.js';
import { synthetic, tinyModel, tmpDir } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const data = synthetic(32, 8);
const base = (outDir: string): Omit<TrainOptions, 'model'> => ({
  trainSet: data,
  epochs: 1,
  batchSize: 16,
  lr: 0.05,
  seed: 1,
  augment: false,
  outDir,
  progressBar: false,
});

async function run(outDir: string, extra: Partial<TrainOptions> = {}) {
  const model = tinyModel(1);
  const notes: string[] = [];
  try {
    const res = await train({ ...base(outDir), model, log: (m) => notes.push(m), ...extra });
    return { res, notes };
  } finally {
    model.dispose();
  }
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  return new Promise((resolve) => child.on('exit', () => resolve(child.pid!)));
}

test('a finished run is refused without resume/force; force replaces it; resume with nothing to resume is an error', async () => {
  const dir = tmpDir();
  await run(dir);
  const before = fs.readFileSync(path.join(dir, 'model.safetensors'));
  await expect(run(dir)).rejects.toThrow(
    /already holds a run \(checkpoint\.safetensors, model\.safetensors, log\.jsonl, curves\.svg\): pass --resume/,
  );
  expect(() => checkRunFolder(dir)).toThrow(/already holds a run/);
  expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(before)).toBe(true);
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false); // the refused run released its lock
  const forced = await run(dir, { force: true, seed: 2 });
  expect(forced.res.stopped).toBe('done');
  expect(forced.notes).toContain(`note: replacing the run in '${dir}' (checkpoint.safetensors, model.safetensors, log.jsonl, curves.svg)`);
  const empty = tmpDir();
  await expect(run(empty, { resume: true })).rejects.toThrow(`Nothing to resume in '${empty}': it has no checkpoint.safetensors.`);
  expect(fs.readdirSync(empty)).toEqual([]);
});

test('a run that saved only its log (stopped before its first checkpoint) is replaced when started again, with a note', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'log.jsonl'), '{"type":"start"}\n');
  expect(() => checkRunFolder(dir)).not.toThrow();
  await expect(run(dir, { resume: true })).rejects.toThrow(`Nothing to resume in '${dir}': it has no checkpoint.safetensors.`);
  const again = await run(dir);
  expect(again.res.stopped).toBe('done');
  expect(again.notes).toContain(`note: replacing the run in '${dir}' (log.jsonl): it saved no checkpoint to resume from`);
  expect(fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').split('\n')).not.toContain('{"type":"start"}'); // the old log is gone
});

test("a folder locked by a live process is refused; a dead owner's lock is taken over with a note", async () => {
  const dir = tmpDir();
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, started: 'earlier' }));
    await expect(run(dir)).rejects.toThrow(new RegExp(`is in use by process ${sleeper.pid} \\(running since earlier\\)`));
    expect(fs.existsSync(path.join(dir, 'log.jsonl'))).toBe(false);
  } finally {
    sleeper.kill();
  }
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid() }));
  const { res, notes } = await run(dir);
  expect(res.stopped).toBe('done');
  expect(notes.join('\n')).toMatch(/taking over the stale lock of process \d+ \(no longer running\)/);
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
});

test('two concurrent runs into one folder: the second is refused, the first finishes untouched', async () => {
  const dir = tmpDir();
  const a = run(dir, { epochs: 2 });
  await new Promise((r) => setTimeout(r, 50));
  await expect(run(dir)).rejects.toThrow(/is in use by process/);
  expect((await a).res.stopped).toBe('done');
  expect(readRunLog(path.join(dir, 'log.jsonl'), 99).length).toBe(2);
});

test('stale temp files are cleaned at the next start; a torn last log line is dropped on resume', async () => {
  const dir = tmpDir();
  const stopAt = new AbortController();
  const first = await run(dir, { epochs: 2, onEpoch: () => stopAt.abort(), signal: stopAt.signal });
  expect(first.res.stopped).toBe('aborted');
  const stale = `.model.safetensors.${await deadPid()}.k3j4.tmp`;
  fs.writeFileSync(path.join(dir, stale), 'partial');
  fs.appendFileSync(path.join(dir, 'log.jsonl'), '{"epoch": 2, "step": 3, "trainLo');
  const { res, notes } = await run(dir, { epochs: 2, resume: true });
  expect(res.stopped).toBe('done');
  expect(notes.join('\n')).toMatch(new RegExp(`removed 1 temporary file\\(s\\) of an interrupted write .*${stale.replace(/\./g, '\\.')}`));
  expect(notes.join('\n')).toMatch(/dropped the torn last line of .*log\.jsonl/);
  expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  // Epochs are numbered from 1 in log.jsonl, as on the console.
  expect(readRunLog(path.join(dir, 'log.jsonl'), 99).map((m) => m.epoch)).toEqual([1, 2]);
  // A bad line that is not the last is an error naming the line.
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"epoch":1}\n{oops\n{"epoch":2}\n');
  expect(() => readRunLog(path.join(dir, 'bad.jsonl'), 9)).toThrow(/bad\.jsonl: line 2 is not valid JSON/);
  // A log of an older version (epochs from 0) is renumbered from 1 with a note.
  fs.writeFileSync(path.join(dir, 'old.jsonl'), '{"epoch":0}\n{"epoch":1}\n{"epoch":2}\n');
  const oldNotes: string[] = [];
  expect(readRunLog(path.join(dir, 'old.jsonl'), 2, (m) => oldNotes.push(m)).map((m) => m.epoch)).toEqual([1, 2]);
  expect(oldNotes.join('\n')).toMatch(/numbers epochs from 0 \(an older version\); renumbered from 1/);
});

test('an abort that arrives during the last evaluation is an interruption (resumable), not a finished run', async () => {
  const dir = tmpDir();
  const ctrl = new AbortController();
  const { res } = await run(dir, { testSet: synthetic(8, 8, 3), onEpoch: () => ctrl.abort(), signal: ctrl.signal });
  expect(res.stopped).toBe('aborted');
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
  const resumed = await run(dir, { testSet: synthetic(8, 8, 3), resume: true });
  expect(resumed.res.stopped).toBe('done');
  expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
});

test('a hand-edited training step in the checkpoint cannot resume: one line naming the file and the field', async () => {
  const dir = tmpDir();
  const ctrl = new AbortController();
  await run(dir, { epochs: 2, onEpoch: () => ctrl.abort(), signal: ctrl.signal });
  const file = path.join(dir, 'checkpoint.safetensors');
  const { tensors, metadata } = await loadSafetensors(file);
  const training = JSON.parse(metadata.training);
  for (const [step, pattern] of [
    [-1, /"training\.step" must be a non-negative integer; got -1/],
    [5.5, /"training\.step" must be a non-negative integer; got 5\.5/],
    ['x', /"training\.step" must be a non-negative integer; got "x"/],
    [99, /"training\.step" is 99, beyond training\.totalSteps \(4\)/],
  ] as const) {
    await saveSafetensors(file, tensors, { ...metadata, training: JSON.stringify({ ...training, step }) });
    await expect(run(dir, { epochs: 2, resume: true })).rejects.toThrow(pattern);
  }
  tf.dispose([...tensors.values()]);
});

test('a data set with one class is refused before any file is written', async () => {
  const dir = path.join(tmpDir(), 'out');
  const one = { ...data, labels: new Int32Array(data.labels.length), classes: ['only'] };
  await expect(run(dir, { trainSet: one } as Partial<TrainOptions>)).rejects.toThrow(
    'The training set has 1 class (only): a classifier needs at least 2 classes.',
  );
  expect(fs.existsSync(dir)).toBe(false);
});
