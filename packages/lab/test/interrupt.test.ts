/**
 * Ctrl-C in a resumable `resnet lab` command: the net training stops after its step with a checkpoint,
 * the run folder's lock is released, no temporary file or partial report is left, one line gives the
 * command that resumes, and the status is 130; that command continues from the checkpoint. Runs the
 * built CLI (`node packages/cli/bin/resnet.js`; build first with `npx tsc -b packages/cli`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resumeCommand } from '@resnet-ts/lab';
import { signalExitCode } from '@resnet-ts/train';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');
const HAVE_FMNIST = fs.existsSync('/usr/share/datasets/fashion-mnist');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-interrupt-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `resnet ...args` in `dir`; with `interruptWhen`, sends SIGINT once (the first time the stderr so far matches it). */
function resnet(args: string[], interruptWhen?: RegExp): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (interruptWhen && !sent && interruptWhen.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (status, signal) => resolve({ status, signal, stderr }));
  });
}

/** Every file under `root`, relative to it. */
function filesUnder(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .flatMap((e) => (e.isFile() ? [path.relative(root, path.join(e.parentPath, e.name))] : []));
}

test('the resume command is the same command less --no-resume; a signal exits 128 + its number', () => {
  expect(resumeCommand('resnet lab degradation --no-resume --depths 8 --out "my runs"')).toBe(
    'resnet lab degradation --depths 8 --out "my runs"',
  );
  expect(signalExitCode('SIGINT')).toBe(130);
  expect(signalExitCode('SIGTERM')).toBe(143);
});

(HAVE_FMNIST ? test : test.skip)(
  'lab degradation after a Ctrl-C: checkpoint saved, lock released, no temporary file, one resume line, status 130; that line resumes',
  async () => {
    // --no-resume: the command that resumes must not start afresh.
    const args = [
      'lab',
      'degradation',
      '--depths',
      '8',
      '--epochs',
      '1',
      '--limit',
      '512',
      '--test-limit',
      '32',
      '--batch',
      '16',
      '--no-resume',
      '--out',
      'ctrl-c',
    ];
    const out = path.join(dir, 'ctrl-c');
    const first = await resnet(args, /(plain|resnet)8: step \d+\//);
    expect({ status: first.status, signal: first.signal }).toEqual({ status: 130, signal: null });
    const resumeLines = first.stderr.split('\n').filter((l) => l.includes('resume with:'));
    expect(resumeLines).toHaveLength(1);
    const [, net, step] =
      /^resnet: interrupted: ((?:plain|resnet)8) stopped at step (\d+)\/32, its checkpoint saved in ctrl-c\/runs\/\1; resume with: (.*)$/.exec(
        resumeLines[0],
      ) ?? [];
    expect(net).toBeDefined();
    const command = resumeLines[0].slice(resumeLines[0].indexOf('resume with: ') + 'resume with: '.length);
    expect(command).toBe(`resnet ${args.filter((a) => a !== '--no-resume').join(' ')}`);
    // No way on that the lab does not have (the trainer's own is `resnet train`'s --resume).
    expect(first.stderr).not.toContain('--resume');
    // Saved, unlocked, nothing half-written, no report from a partial run.
    const files = filesUnder(out);
    expect(files).toContain(path.join('runs', net, 'checkpoint.safetensors'));
    expect(files.filter((f) => /\.lock$|\.tmp|tmp-/.test(f))).toEqual([]);
    expect(files.filter((f) => !f.startsWith('runs'))).toEqual([]);

    const again = await resnet(command.split(' ').slice(1));
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`${net}: resumed from ctrl-c/runs/${net}/checkpoint\\.safetensors at step ${step} `));
    expect(again.stderr).toMatch(/expected duration: .* for what is left: /);
    expect(fs.existsSync(path.join(out, 'report.md'))).toBe(true);
    expect(filesUnder(out).filter((f) => /\.lock$|\.tmp|tmp-/.test(f))).toEqual([]);
  },
  180_000,
);
