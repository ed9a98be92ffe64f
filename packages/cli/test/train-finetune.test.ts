/**
 * `resnet train` end to end for fine-tuning (build first: `npx tsc -b packages/cli`): --init from the
 * shipped model with a new head on a real folder of images, --freeze, --head-lr, --json events,
 * best.safetensors, class names and the source's normalisation stored and used by predict and eval;
 * --image-size/--channels from scratch (random-resized-crop at 64); and a bad value for every new
 * option: one `resnet:` line, no stack, nothing on stdout, no run folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadSafetensors } from '@resnet-ts/core/node';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { runCli as runCliIn } from './cli-run.js';

let dir: string;
const p = (...parts: string[]) => path.join(dir, ...parts);

/** `resnet ...args` in the test's folder (the shared runner of cli-run.ts; training runs get 2 minutes). */
const runCli = (args: string[]) => runCliIn(args, dir, 120_000);

/** Light (bright) and dark images, with a square whose place differs: two classes anyone can tell apart. */
async function writeFolder(root: string, perClass: number): Promise<void> {
  for (const [cls, bg] of [['dark', 30], ['light', 220]] as const) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const v = bg + ((i * 7) % 20);
      await sharp({ create: { width: 30 + i, height: 28, channels: 3, background: { r: v, g: v, b: v } } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
    }
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-finetune-cli-'));
  await writeFolder(p('photos'), 10);
  fs.writeFileSync(p('photos', 'dark', 'broken.png'), 'truncated');
  fs.mkdirSync(p('one', 'cats'), { recursive: true });
  fs.copyFileSync(p('photos', 'dark', '0.png'), p('one', 'cats', '0.png'));
}, 60_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('fine-tune the shipped model on a folder: --json events, epochs from 1, best kept, class names and normalisation stored; predict and eval use them', async () => {
  const out = p('ft');
  const r = await runCli(['train', '--init', 'resnet20-fashion-mnist', '--data', 'photos', '--freeze', 'up-to:layer2', '--head-lr', '0.05', '--lr', '0.01',
    '--epochs', '2', '--batch', '6', '--val', '0.2', '--out', out, '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
  const kinds = events.map((e) => e.event);
  expect(kinds[kinds.length - 1]).toBe('done');
  expect(kinds).toContain('start');
  const notes = events.filter((e) => e.event === 'note').map((e) => e.message).join('\n');
  expect(notes).toMatch(/skipped dark\/broken\.png/);
  expect(notes).toMatch(/new 2-class head \(the source has 10 outputs\)/);
  expect(notes).toMatch(/frozen \(up-to:layer2\): .* batch norms in eval mode/);
  const start = events.find((e) => e.event === 'start')!;
  expect(start).toMatchObject({ classes: ['dark', 'light'], train: 16, val: 4, shape: [28, 28, 1], padTo: [32, 32], freeze: 'up-to:layer2' });
  const epochs = events.filter((e) => e.event === 'epoch');
  expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
  expect(epochs.every((e) => e.evalSet === 'val' && e.top5 === undefined)).toBe(true);
  const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(log.map((m) => m.epoch)).toEqual([1, 2]);
  expect(fs.readdirSync(out).sort()).toEqual(['best.safetensors', 'checkpoint.safetensors', 'curves.svg', 'log.jsonl', 'model.safetensors']);
  const { metadata } = await loadSafetensors(path.join(out, 'model.safetensors'), { filter: () => false });
  expect(JSON.parse(metadata.classes)).toEqual(['dark', 'light']);
  expect(JSON.parse(metadata.spec).numClasses).toBe(2);
  const prep = JSON.parse(metadata.preprocessing);
  expect(prep.mean[0]).toBeCloseTo(0.286, 3); // the source's normalisation, not the folder's
  expect(prep).toMatchObject({ resize: 28, crop: [28, 28], padTo: [32, 32], channels: 1 });
  // predict reads the stored decoding, normalisation and class names; its default top-k stops at the 2 classes.
  const pr = await runCli(['predict', '--weights', path.join(out, 'best.safetensors'), p('photos', 'light', '3.png')]);
  expect(pr.status).toBe(0);
  expect(pr.stdout.trim().split('\n').slice(1).map((l) => l.replace(/^\s*[\d.]+ %\s+/, '')).sort()).toEqual(['dark', 'light']);
  // eval of the whole folder (no split), top-5 not shown for 2 classes.
  const ev = await runCli(['eval', '--weights', path.join(out, 'model.safetensors'), '--data', 'photos']);
  expect(ev.status).toBe(0);
  expect(ev.stdout).toMatch(/images: 20 /);
  expect(ev.stdout).not.toMatch(/top-5/);
}, 180_000);

test('--image-size 64 --channels 3 from scratch: random-resized-crop, the schedule in words, 1-based epochs on the console; --freeze without --init warns', async () => {
  const r = await runCli(['train', '--model', 'resnet20', '--data', 'photos', '--image-size', '64', '--channels', '3', '--iterations', '2', '--batch', '8',
    '--schedule', 'multistep', '--freeze', 'stem', '--out', p('scratch')]);
  expect(r.status).toBe(0);
  // Freezing random weights is rarely meant: said once, and the run goes on.
  expect(r.stderr.match(/^warning: --freeze stem without --init keeps randomly initialised weights fixed .* Give --init <pretrained weights> to fine-tune, or leave out --freeze\.$/gm)).toHaveLength(1);
  expect(r.stderr).toMatch(/training resnet20 on folder \(18 train, 2 validation, 0 test images, 2 classes, 64x64x3\)/);
  expect(r.stderr).toMatch(/learning rate 0\.1, \/10 at steps 1 and 2; augmentation random-resized-crop \+ flip/);
  expect(r.stderr).toMatch(/^epoch 1\/1: /m);
  const { metadata } = await loadSafetensors(p('scratch', 'model.safetensors'), { filter: () => false });
  expect(JSON.parse(metadata.preprocessing)).toMatchObject({ resize: 64, crop: [64, 64], channels: 3 });
}, 180_000);

(fs.existsSync('/usr/share/datasets/fashion-mnist') ? test : test.skip)(
  'IDX data at --image-size 64: resized in memory for training, and eval of the weights resizes the same way (the same loss)',
  async () => {
    const out = p('idx64');
    const r = await runCli(['train', '--data', 'fashion-mnist', '--limit', '64', '--test-limit', '64', '--iterations', '2', '--batch', '32', '--image-size', '64', '--out', out, '--json']);
    expect(r.status).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.find((e) => e.event === 'start')).toMatchObject({ shape: [64, 64, 1], augment: { resizedCrop: { scale: [0.08, 1] } } });
    const epoch = events.find((e) => e.event === 'epoch');
    const ev = await runCli(['eval', '--weights', path.join(out, 'model.safetensors'), '--limit', '64', '--json']);
    expect(ev.status).toBe(0);
    expect(JSON.parse(ev.stdout).loss).toBeCloseTo(epoch.testLoss, 4);
  },
  120_000,
);

const bad: [string, string[], RegExp][] = [
  ['--freeze layer2', ['--freeze', 'layer2'], /^--freeze must be one of none, stem, up-to:layerK \(K = 1, 2, \.\.\.\), backbone; got layer2$/],
  ['--freeze up-to:layer9', ['--init', 'resnet20-fashion-mnist', '--freeze', 'up-to:layer9'], /freeze up-to:layer9: the model has 3 stages/],
  ['--image-size 0', ['--image-size', '0'], /^--image-size must be an integer from 8 to 4096; got 0$/],
  ['--channels 2', ['--channels', '2'], /^--channels must be 1 or 3; got 2$/],
  ['--val 1', ['--val', '1'], /^--val must be a number > 0 and < 1; got 1$/],
  ['--head-lr 0', ['--head-lr', '0'], /^--head-lr must be a number > 0/],
  ['--lr 0 without --head-lr', ['--lr', '0'], /^--lr 0 trains nothing: give a rate above 0, or --head-lr <x> with it to train only the head\.$/],
  ['--classes 1', ['--classes', '1'], /^--classes must be an integer from 2/],
  ['--classes 5 for 2 folders', ['--classes', '5'], /^--classes 5 does not match the data: folder has 2 classes \(dark, light\)\.$/],
  ['--init of a missing file', ['--init', 'nope.safetensors'], /nope\.safetensors/],
  ['--init with --model', ['--init', 'resnet20-fashion-mnist', '--model', 'resnet56'], /^--init brings its own architecture: leave out --model/],
  ['--init 1-channel with --channels 3', ['--init', 'resnet20-fashion-mnist', '--channels', '3'], /takes 1-channel images; the data has 3 channel\(s\)\. Use --channels 1\.$/],
  ['--val next to nothing to split (val/ folder)', ['--data', 'one'], /one has 1 class folder \(cats\): a classifier needs at least 2/],
  ['--timeout -1', ['--init', 'resnet20-fashion-mnist', '--timeout', '-1'], /^--timeout must be a number > 0; got -1$/],
];

test('--lr 0 --head-lr trains only the head, as the train README says', async () => {
  const out = p('head-only');
  const r = await runCli(['train', '--init', 'resnet20-fashion-mnist', '--data', 'photos', '--lr', '0', '--head-lr', '0.05', '--iterations', '2', '--batch', '4', '--out', out]);
  expect([r.status, r.stderr.split('\n').filter((l) => l.startsWith('resnet:'))]).toEqual([0, []]);
  // The run's stored options name its source, not --model's default (resnet20).
  const stored = JSON.parse((await loadSafetensors(path.join(out, 'model.safetensors'), { filter: () => false })).metadata.train_options);
  expect([stored.init, stored.model]).toEqual(['resnet20-fashion-mnist', undefined]);
  await useBackend('cpu');
  const [start, end] = await Promise.all([
    fromPretrained('resnet20-fashion-mnist'),
    fromPretrained(path.join(out, 'model.safetensors')),
  ]);
  // Every parameter but the (new, 2-class) head's is the source's, bit for bit.
  const before = new Map(start.model.namedParameters().map(([k, v]) => [k, v.dataSync()]));
  const backbone = end.model.namedParameters().filter(([k]) => !k.startsWith('fc.'));
  expect(backbone.length).toBeGreaterThan(10);
  expect(backbone.filter(([k, v]) => before.get(k)!.some((x, i) => x !== v.dataSync()[i])).map(([k]) => k)).toEqual([]);
  start.model.dispose();
  end.model.dispose();
}, 120_000);

test(`${bad.length} bad values of the new options: one resnet: line, no stack, nothing on stdout, no run announced or written`, async () => {
  const failures: string[] = [];
  for (const [name, args, error] of bad) {
    const out = `bad-${name.replace(/\W+/g, '-')}`;
    // A case's own --data replaces the default one (an option given twice with two values is refused).
    const data = args.includes('--data') ? [] : ['--data', 'photos'];
    const r = await runCli(['train', ...data, '--iterations', '1', '--batch', '4', ...args, '--out', out]);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
    const problems = [
      r.status === 0 ? 'exit 0' : '',
      lines.length !== 1 ? `${lines.length} resnet: lines` : '',
      r.stderr.includes('\n    at ') ? 'a stack trace' : '',
      r.stdout ? `stdout ${r.stdout.slice(0, 80)}` : '',
      /^(training|fine-tuning) /m.test(r.stderr) ? 'the run was announced before the error' : '',
      lines.length === 1 && !error.test(lines[0].replace(/^resnet: /, '')) ? `line ${JSON.stringify(lines[0])}` : '',
      fs.existsSync(p(out, 'model.safetensors')) || fs.existsSync(p(out, 'checkpoint.safetensors')) ? 'a run was written' : '',
    ].filter(Boolean);
    if (problems.length) failures.push(`${name}: ${problems.join(', ')}`);
  }
  expect(failures).toEqual([]);
}, 300_000);
