/**
 * `resnet lab` is generated from the lab's experiment registry: every experiment that declares a
 * `command` becomes a sub-command with its declared options (checked by the shared parsers), and a
 * new experiment needs no CLI change. The end-to-end cases run the built CLI
 * (`node packages/cli/bin/resnet.js`; build first with `npx tsc -b packages/cli`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ExperimentOutput, getExperiment, listExperiments, registerExperiment } from '@resnet-ts/lab';
import { buildProgram } from '../src/program.js';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-lab-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const labCommand = (program: Command, name: string) => program.commands.find((c) => c.name() === 'lab')!.commands.find((c) => c.name() === name);

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
  for (const name of ['identity', 'lesion', 'paths', 'degradation', 'gradflow', 'shortcuts']) expect(labCommand(program, name)).toBeDefined();
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
  expect(JSON.stringify(json)).toContain("resnet lab identity --dims 1 --steps 20 --seeds 1 --out identity");
  expect(json.result.options).toMatchObject({ dims: [1], steps: 20, seeds: 1, optimizer: 'adam', threshold: 1e-3, initScale: 0.1 });
});

(HAVE_FMNIST ? test : test.skip)('lab lesion/paths load the zoo weights by default; a bad value or input is one resnet: line', () => {
  const lesion = cli(['lab', 'lesion', '--limit', '40', '--samples', '1', '--max-k', '1', '--max-swaps', '0', '--out', path.join(dir, 'lesion')]);
  expect(lesion.status).toBe(0);
  const res = JSON.parse(fs.readFileSync(path.join(dir, 'lesion', 'result.json'), 'utf8'));
  expect(res.result.description).toMatch(/the zoo's resnet20-fashion-mnist weights/);
  expect(res.result.testImages).toBe(40);
  for (const args of [
    ['lab', 'gradflow', '--limit', '10', '--batch', '64'],
    ['lab', 'paths', '--mode', 'walk'],
    ['lab', 'lesion', '--weights', path.join(dir, 'missing.safetensors')],
  ]) {
    const bad = cli([...args, '--out', path.join(dir, 'bad')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^resnet: /);
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
  }
});
