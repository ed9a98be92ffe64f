/**
 * `resnet lab` is generated from the lab's experiment registry: every experiment that declares a
 * `command` becomes a sub-command with its declared options (checked by the shared parsers), and a
 * new experiment needs no CLI change. The end-to-end cases run the built CLI
 * (`node packages/cli/bin/resnet.js`; build first with `npx tsc -b packages/cli`).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadCheckpoint, saveCheckpoint } from '@resnet-ts/core/node';
import '@resnet-ts/zoo';
import { ExperimentOutput, getExperiment, listExperiments, registerExperiment } from '@resnet-ts/lab';
import { buildProgram } from '../src/program.js';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist');
/** A lesion study small enough for a test: 40 images, one sample, k = 1, no swaps. */
const QUICK_LESION = ['--limit', '40', '--samples', '1', '--max-k', '1', '--max-swaps', '0'];
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-lab-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const labCommand = (program: Command, name: string) =>
  program.commands.find((c) => c.name() === 'lab')!.commands.find((c) => c.name() === name);

test('every registered experiment with a command is a `resnet lab` sub-command with its declared options', () => {
  const program = buildProgram();
  for (const { name } of listExperiments()) {
    const declared = getExperiment(name).command;
    const cmd = labCommand(program, name);
    if (!declared) continue;
    expect(cmd).toBeDefined();
    const longs = cmd!.options.map((o) => o.long);
    expect(longs).toEqual(['--out', '--backend', '--seed', '--note', ...declared.options.map((o) => o.flags.split(' ')[0])]);
  }
  for (const name of ['identity', 'lesion', 'paths', 'degradation', 'gradflow', 'shortcuts'])
    expect(labCommand(program, name)).toBeDefined();
});

test('a new experiment is one registration: its sub-command parses, checks and passes its options, with no CLI change', async () => {
  const seen: Record<string, unknown>[] = [];
  registerExperiment<{ out?: string }, { k: number }, { k: number; tag: string; fast: boolean }>({
    name: 'toy-for-test',
    description: 'a toy',
    run: () => Promise.reject(new Error('not used')),
    command: {
      summary: 'a toy experiment',
      engine: { default: 'cpu', training: false },
      options: [
        { flags: '--k <n>', description: 'k', kind: { type: 'integer', min: 1, max: 9 }, default: 3 },
        { flags: '--tag <word>', description: 'tag', kind: { type: 'choice', values: ['a', 'b'] }, default: 'a' },
        { flags: '--no-fast', description: 'slow' },
      ],
      run: async (v, host) => {
        seen.push({ ...v, out: host.reporting.out, command: host.reporting.command });
        const info = { experiment: 'toy-for-test', command: '', engine: 'cpu', seed: v.seed, date: '', wallSeconds: 0 };
        return { info, result: { k: v.k }, files: { json: 'r.json', markdown: 'r.md', plots: [] } } as ExperimentOutput<unknown>;
      },
    },
  });
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await buildProgram().parseAsync(['node', 'resnet', 'lab', 'toy-for-test', '--k', '7', '--no-fast', '--seed', '5']);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ k: 7, tag: 'a', fast: false, seed: 5, out: path.join('runs', 'lab', 'toy-for-test') });
    // the shared parsers check the declared range before anything runs
    await expect(buildProgram().parseAsync(['node', 'resnet', 'lab', 'toy-for-test', '--k', '10'])).rejects.toThrow(
      '--k must be an integer from 1 to 9; got 10',
    );
    expect(seen).toHaveLength(1);
  } finally {
    write.mockRestore();
  }
});

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('resnet lab identity runs end to end from the generated command and records its command line', () => {
  const out = path.join(dir, 'identity');
  const r = cli(['lab', 'identity', '--dims', '1', '--steps', '20', '--seeds', '1', '--out', out]);
  expect(r.stderr).toMatch(/done in .* on cpu: .*report\.md/);
  expect(r.status).toBe(0);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
  // the command line as given, with the output folder relative to the working folder (no machine paths in reports)
  expect(JSON.stringify(json)).toContain('resnet lab identity --dims 1 --steps 20 --seeds 1 --out identity');
  expect(json.result.options).toMatchObject({ dims: [1], steps: 20, seeds: 1, optimizer: 'adam', threshold: 1e-3, initScale: 0.1 });
});

test('every lab command refuses an --out that is a file (or under one) at once, in one line, before any work', () => {
  const file = path.join(dir, 'afile');
  fs.writeFileSync(file, 'x');
  for (const [name, out] of [
    ['identity', file],
    ['gradflow', path.join(file, 'sub')],
    ['transfer', file],
    ['degradation', file],
  ] as const) {
    const r = cli(['lab', name, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^resnet: --out .*afile.* is a file, not a folder; give a folder \(new or existing\)\.$/);
  }
  expect(fs.readFileSync(file, 'utf8')).toBe('x');
});

(HAVE_FMNIST ? test : test.skip)('lab lesion/paths load the zoo weights by default; a bad value or input is one resnet: line', () => {
  const lesion = cli(['lab', 'lesion', ...QUICK_LESION, '--out', path.join(dir, 'lesion')]);
  expect(lesion.status).toBe(0);
  const res = JSON.parse(fs.readFileSync(path.join(dir, 'lesion', 'result.json'), 'utf8'));
  expect(res.result.description).toMatch(/the zoo's resnet20-fashion-mnist weights/);
  expect(res.result.testImages).toBe(40);
  // Without --max-swaps: the default "up to 10" swaps as many pairs as the nets have (5), not a refusal of 10.
  const byDefault = cli(['lab', 'lesion', '--limit', '20', '--samples', '1', '--max-k', '1', '--out', path.join(dir, 'lesion-default')]);
  expect([byDefault.status, byDefault.stderr]).toEqual([0, expect.stringContaining('swapping up to 5 of 5 pairs')]);
  // A residual net as the plain side: refused, not reported under the plain net's name.
  const weights = (name: string) => path.join(ROOT, 'packages', 'zoo', 'weights', `${name}.safetensors`);
  const swapped = cli(['lab', 'lesion', '--plain-weights', weights('resnet20-fashion-mnist'), '--out', path.join(dir, 'bad')]);
  expect(swapped.stderr).toMatch(/^resnet: lesion: the plain net \(--plain-weights .*resnet20-fashion-mnist\.safetensors\) has shortcuts/);
  // --plain-weights alone: the residual side is still the zoo's trained net, as --model's help says.
  const withPlain = path.join(dir, 'lesion-plain-given');
  expect(cli(['lab', 'lesion', '--plain-weights', weights('plain20-fashion-mnist'), ...QUICK_LESION, '--out', withPlain]).status).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(withPlain, 'result.json'), 'utf8')).result.description).toMatch(
    /the zoo's resnet20-fashion-mnist weights/,
  );
  for (const args of [
    ['lab', 'gradflow', '--limit', '10', '--batch', '64'],
    ['lab', 'paths', '--mode', 'walk'],
    ['lab', 'lesion', '--weights', path.join(dir, 'missing.safetensors')],
    ['lab', 'lesion', '--plain-weights', weights('resnet20-fashion-mnist')],
  ]) {
    const bad = cli([...args, '--out', path.join(dir, 'bad')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^resnet: /);
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
  }
});

test('lab lesion with a plain net reads a folder once: one note for a broken image; --max-k beyond the deletable blocks is refused; each net scored by its own class names', async () => {
  // Two Fashion-MNIST classes from the zoo's samples, two copies each, and one .png that is not an image.
  const samples = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist');
  const data = path.join(dir, 'broken-folder');
  for (const [folder, file] of [
    ['Bag', '8-Bag.png'],
    ['Coat', '4-Coat.png'],
  ]) {
    fs.mkdirSync(path.join(data, folder), { recursive: true });
    for (const i of [0, 1]) fs.copyFileSync(path.join(samples, file), path.join(data, folder, `${i}.png`));
  }
  fs.writeFileSync(path.join(data, 'Coat', 'broken.png'), 'not an image');
  const lesion = (model: string, out: string, ...more: string[]) =>
    cli(['lab', 'lesion', '--data', 'broken-folder', '--model', model, '--samples', '1', '--max-swaps', '0', ...more, '--out', out]);
  const notes = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('note: skipped'));
  const skipped = [
    expect.stringMatching(/^note: skipped Coat\/broken\.png: /),
    'note: skipped 1 image(s) that could not be decoded (listed above); 4 images loaded from broken-folder',
  ];

  const both = lesion('resnet20-fashion-mnist', 'lesion-both', '--plain-model', 'plain20-fashion-mnist');
  expect(both.status).toBe(0);
  expect(notes(both.stderr)).toEqual(skipped); // once, not once per net
  const res = JSON.parse(fs.readFileSync(path.join(dir, 'lesion-both', 'result.json'), 'utf8')).result;
  expect(res.testImages).toBe(4);
  // The plain net is measured on the same images as when it is studied alone.
  const alone = lesion('plain20-fashion-mnist', 'lesion-plain');
  expect(alone.status).toBe(0);
  expect(notes(alone.stderr)).toEqual(skipped);
  const plain = JSON.parse(fs.readFileSync(path.join(dir, 'lesion-plain', 'result.json'), 'utf8')).result.nets[0];
  expect(res.nets[1]).toMatchObject({ name: 'plain', baseline: plain.baseline, single: plain.single, randomK: plain.randomK });

  // --max-k: the residual net has 9 deletable blocks, the plain one 7 (its two downsampling blocks stay).
  const refused = lesion('resnet20-fashion-mnist', 'lesion-refused', '--plain-model', 'plain20-fashion-mnist', '--max-k', '10');
  expect(refused.status).toBe(1);
  expect(refused.stderr.split('\n').filter((l) => l.startsWith('resnet:'))).toEqual([
    'resnet: lesion: the number of deleted blocks (--max-k) must be 1 to 9, the most blocks either net can delete (residual 9, plain 7); got 10.',
  ]);
  expect(refused.stderr).not.toContain('\n    at ');
  expect(fs.existsSync(path.join(dir, 'lesion-refused'))).toBe(false);

  // A plain net whose weights list the classes in another order is scored by its own names: the same
  // numbers as the shipped plain net, whose head it is with the outputs reversed.
  const shipped = loadCheckpoint(path.join(ROOT, 'packages', 'zoo', 'weights', 'plain20-fashion-mnist.safetensors'));
  const fc = shipped.model.fc;
  fc.weight.assign(tf.reverse(fc.weight, 1));
  fc.bias!.assign(tf.reverse(fc.bias!, 0));
  const reversed = path.join(dir, 'plain-reversed.safetensors');
  await saveCheckpoint(reversed, shipped.model, { classes: [...shipped.classes!].reverse(), preprocessing: shipped.preprocessing });
  shipped.model.dispose();
  const permuted = lesion('resnet20-fashion-mnist', 'lesion-reversed', '--plain-weights', reversed);
  expect(permuted.status).toBe(0);
  const nets = JSON.parse(fs.readFileSync(path.join(dir, 'lesion-reversed', 'result.json'), 'utf8')).result.nets;
  expect(nets[1]).toMatchObject({ name: 'plain', baseline: plain.baseline, single: plain.single, randomK: plain.randomK });
  expect(nets[0]).toMatchObject({ baseline: res.nets[0].baseline, single: res.nets[0].single });
  const alone999 = lesion('resnet20-fashion-mnist', 'lesion-refused', '--max-k', '999');
  expect(alone999.status).toBe(1);
  expect(alone999.stderr).toContain(
    "resnet: lesion: the number of deleted blocks (--max-k) must be 1 to 9, the number of the model's blocks that can be deleted; got 999.\n",
  );
  expect(fs.existsSync(path.join(dir, 'lesion-refused'))).toBe(false);
});

(HAVE_FMNIST ? test : test.skip)(
  "lab degradation after its process was killed: the dead run's lock is taken over with a true note, and nothing names --force",
  async () => {
    const args = [
      'lab',
      'degradation',
      '--depths',
      '8',
      '--epochs',
      '1',
      '--limit',
      '1024',
      '--test-limit',
      '32',
      '--batch',
      '16',
      '--out',
      'ctrl-c',
    ];
    const lock = path.join(dir, 'ctrl-c', 'runs', 'plain8', '.resnet-run.lock');
    // Killed once plain8 trains (its folder locked, no checkpoint yet): a Ctrl-C releases the lock (interrupt.test.ts), a kill cannot.
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir });
    let stderr = '';
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/plain8: step \d+\//.test(stderr) && fs.existsSync(lock)) child.kill('SIGKILL');
      });
      child.on('exit', (_code, sig) => resolve(sig));
    });
    expect(signal).toBe('SIGKILL');
    const owner = (JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number }).pid;
    expect(owner).toBe(child.pid);
    expect(fs.existsSync(path.join(dir, 'ctrl-c', 'runs', 'plain8', 'checkpoint.safetensors'))).toBe(false);
    // The same command again: it takes the lock over saying so, restarts plain8 (nothing to resume) and finishes.
    const again = cli(args);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain(
      `plain8: note: taking over the stale lock of process ${owner} (no longer running) in 'ctrl-c/runs/plain8'`,
    );
    expect(again.stderr).toMatch(
      /plain8: note: replacing the run in 'ctrl-c\/runs\/plain8' \(log\.jsonl\): it saved no checkpoint to resume from/,
    );
    expect(again.stderr).not.toContain('--force');
    expect(fs.existsSync(lock)).toBe(false);
  },
  180_000,
);
