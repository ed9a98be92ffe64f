/**
 * Checkpoint metadata is checked against its schema when read (one-line FormatErrors naming the
 * file and the field), weights saved from another architecture are refused even when their keys
 * match, and file-system failures are one-line FileErrors naming the path and the cause.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError, StateDictError, parseCheckpointMetadata, specDifferences } from '@resnet-ts/core';
import { FileError, cleanStaleTempFiles, ensureDir, fileError, loadWeightsInto, saveCheckpoint, writeBytesAtomic } from '@resnet-ts/core/node';
import { createModel } from '@resnet-ts/zoo';
import { useBackend } from './setup.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-meta-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = { stem: 'cifar', stages: [{ block: 'basic', width: 16, depth: 3, stride: 1 }], shortcut: 'A', numClasses: 10, inChannels: 1 };
const meta = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries({ format: 'resnet-ts/1', spec, ...fields }).map(([k, v]) => [k, JSON.stringify(v)]));
const errorOf = (fields: Record<string, unknown>) => {
  try {
    parseCheckpointMetadata(meta(fields), 'run/model.safetensors');
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('accepted');
};

test('a well-formed checkpoint metadata passes; every malformed field is named with the file', () => {
  const ok = parseCheckpointMetadata(
    meta({ classes: [...'abcdefghij'], preprocessing: { mean: [0.5], std: [0.25], padTo: [32, 32] }, training: { step: 6, epoch: 1, stepsPerEpoch: 3, totalSteps: 6 } }),
  );
  expect(ok.spec?.numClasses).toBe(10);
  expect(errorOf({ spec: { ...spec, stages: [null] } })).toBe(
    'run/model.safetensors: metadata "spec.stages[0]" must be an object {block, width, depth, stride}; got null.',
  );
  expect(errorOf({ spec: { ...spec, stages: [{ block: 'basic', width: 16, depth: -1, stride: 1 }] } })).toMatch(/"spec\.stages\[0\]\.depth" must be a positive integer; got -1/);
  expect(errorOf({ spec: { ...spec, numClasses: '10' } })).toMatch(/"spec\.numClasses" must be a positive integer/);
  expect(errorOf({ spec: 5 })).toMatch(/"spec" must be a JSON object/);
  expect(errorOf({ preprocessing: { mean: ['x'], std: [1] } })).toMatch(/"preprocessing\.mean" must be a non-empty list of finite numbers/);
  expect(errorOf({ preprocessing: { mean: [0.5], std: [0] } })).toMatch(/"preprocessing\.std" must hold positive numbers/);
  expect(errorOf({ preprocessing: { mean: [0.5, 0.5], std: [1] } })).toMatch(/2 means but 1 standard deviations/);
  expect(errorOf({ preprocessing: { padTo: [0, 32] } })).toMatch(/"preprocessing\.padTo" must be \[height, width\]/);
  expect(errorOf({ preprocessing: 'x' })).toMatch(/"preprocessing" must be a JSON object/);
  // How decoded images were brought to size (resnet train --image-size) and their channels.
  expect(() => parseCheckpointMetadata(meta({ preprocessing: { mean: [0.5], std: [0.25], resize: 64, crop: [64, 64], channels: 1 } }), 'ok')).not.toThrow();
  expect(errorOf({ preprocessing: { resize: 'big' } })).toMatch(/"preprocessing\.resize" must be \[height, width\]/);
  expect(errorOf({ preprocessing: { crop: [64] } })).toMatch(/"preprocessing\.crop" must be \[height, width\]/);
  expect(errorOf({ preprocessing: { channels: 2 } })).toMatch(/"preprocessing\.channels" must be 1 or 3; got 2/);
  expect(errorOf({ preprocessing: { mean: [0.5], std: [0.25], channels: 3 } })).toMatch(/has 1 means for 3 channel\(s\)/);
  expect(errorOf({ classes: ['a', 'b', 'c'] })).toBe(
    "run/model.safetensors: metadata \"classes\" lists 3 names but the model's head has 10 outputs (spec.numClasses).",
  );
  expect(errorOf({ classes: [1, 2] })).toMatch(/"classes" must be a JSON list of class names/);
  const training = { step: 3, epoch: 1, stepsPerEpoch: 3, totalSteps: 6 };
  expect(errorOf({ training: { ...training, step: -1 } })).toMatch(/"training\.step" must be a non-negative integer; got -1/);
  expect(errorOf({ training: { ...training, step: 5.5 } })).toMatch(/"training\.step" must be a non-negative integer; got 5\.5/);
  expect(errorOf({ training: { ...training, step: 'x' } })).toMatch(/"training\.step" must be a non-negative integer; got "x"/);
  expect(errorOf({ training: { ...training, step: 99 } })).toMatch(/"training\.step" is 99, beyond training\.totalSteps \(6\)/);
  expect(errorOf({ training: { ...training, step: 2 } })).toMatch(/"training\.step" \(2\) does not fall in training\.epoch 1/);
  expect(errorOf({ training: 'x' })).toMatch(/"training" must be a JSON object/);
});

test('specDifferences names the architecture fields that differ and ignores initialisation-only ones', () => {
  expect(specDifferences(spec as never, { ...spec, seed: 4, zeroInitResidual: true } as never)).toEqual([]);
  expect(specDifferences(spec as never, { ...spec, residual: false } as never)).toEqual([
    'residual: file true, model false',
    'shortcut: file "A", model "(none: plain net)"',
  ]);
});

test('weights saved from ResNet-20 are refused by a plain-20 model (keys match, meaning does not); its own architecture loads', async () => {
  const file = path.join(dir, 'r20.safetensors');
  const r20 = createModel('resnet20', { inChannels: 1 });
  await saveCheckpoint(file, r20);
  r20.dispose();
  const plain = createModel('plain20', { inChannels: 1 });
  expect(() => loadWeightsInto(plain, file)).toThrow(StateDictError);
  expect(() => loadWeightsInto(plain, file)).toThrow(/another architecture than this model \(residual: file true, model false/);
  // strict: false (transfer learning takes what matches) does not compare specs
  expect(loadWeightsInto(plain, file, { strict: false }).loaded.length).toBeGreaterThan(0);
  plain.dispose();
  const same = createModel('resnet20', { inChannels: 1, seed: 9 });
  expect(loadWeightsInto(same, file).missing).toEqual([]);
  same.dispose();
});

test('file-system errors are one line naming the path and the cause', async () => {
  const aFile = path.join(dir, 'a-file');
  fs.writeFileSync(aFile, 'x');
  const msg = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(FileError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  expect(msg(() => ensureDir(aFile))).toBe(`Cannot use '${aFile}' as a folder: '${aFile}' is a file (EEXIST).`);
  expect(msg(() => ensureDir(path.join(aFile, 'sub')))).toMatch(/: a part of the path is a file, not a folder \(ENOTDIR\)\.$/);
  // A recursive mkdir under /proc loops forever; ensureDir fails at once.
  const t0 = Date.now();
  expect(msg(() => ensureDir('/proc/resnet-ts-test/x'))).toMatch(/^Cannot create folder '\/proc\/resnet-ts-test': .*\((ENOENT|EACCES|EPERM)\)\.$/);
  expect(Date.now() - t0).toBeLessThan(10_000); // a hang, not a slow machine
  await expect(writeBytesAtomic(dir, new Uint8Array(4))).rejects.toThrow(`Cannot write '${dir}': it is a folder, not a file (EISDIR).`);
  await expect(writeBytesAtomic(path.join(aFile, 'x.bin'), new Uint8Array(4))).rejects.toThrow(FileError);
  // A name ending in '/' that is no folder yet: said so, not the rename's ENOTDIR; nothing written.
  const slashed = path.join(dir, 'not-yet') + '/';
  await expect(writeBytesAtomic(slashed, new Uint8Array(4))).rejects.toThrow(
    `Cannot write '${slashed}': a name ending in '/' is a folder; give a file name.`,
  );
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('.not-yet') || f === 'not-yet')).toEqual([]);
  for (const code of ['EACCES', 'EROFS', 'ENOSPC', 'ENOTDIR']) {
    const e = Object.assign(new Error(`${code}: boom`), { code });
    expect(fileError(e, '/x/y').message).toMatch(new RegExp(`^Cannot write '/x/y': .+ \\(${code}\\)\\.$`));
  }
});

test('stale temporary files of a killed writer are removed; live writers, other names and our own process are left alone', async () => {
  const d = fs.mkdtempSync(path.join(dir, 'tmp-'));
  // A process that has exited: its pid is free.
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
  const names = [`.model.safetensors.${deadPid}.abc123.tmp`, `.checkpoint.safetensors.${process.pid}.def456.tmp`, 'notes.tmp', `.x.${deadPid}.tmp`];
  for (const n of names) fs.writeFileSync(path.join(d, n), 'partial');
  expect(cleanStaleTempFiles(d)).toEqual([names[0]]);
  expect(fs.readdirSync(d).sort()).toEqual(names.slice(1).sort());
});

test("option A's padding placement is part of the architecture: 'split' weights are refused by an 'after' model", () => {
  const split = { ...spec, shortcutParams: { padding: 'split' } };
  expect(specDifferences(split as never, { ...spec, shortcutParams: {} } as never)).toEqual([
    'shortcutParams: file "{\\"padding\\":\\"split\\"}", model "{}"',
  ]);
  expect(specDifferences(split as never, split as never)).toEqual([]);
  expect(errorOf({ spec: { ...spec, shortcutParams: 'split' } })).toMatch(/"spec\.shortcutParams" must be a JSON object/);
});

test('writing a file removes what a killed earlier write of that same file left behind', async () => {
  const d = fs.mkdtempSync(path.join(dir, 'rewrite-'));
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
  const mine = `.logits.npy.${deadPid}.zz9.tmp`;
  const other = `.other.npy.${deadPid}.zz9.tmp`;
  for (const n of [mine, other]) fs.writeFileSync(path.join(d, n), 'partial');
  await writeBytesAtomic(path.join(d, 'logits.npy'), new Uint8Array(3));
  expect(fs.readdirSync(d).sort()).toEqual([other, 'logits.npy'].sort());
});
