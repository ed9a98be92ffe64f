/**
 * Runs the built CLI (`node packages/cli/bin/resnet.js`; build first with `npx tsc -b packages/cli`)
 * as a user does, for the end-to-end tests: {@link runCli} gives the exit status and both streams,
 * {@link refusal} the one `resnet:` line of a command that must be refused cleanly.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'resnet.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `resnet ...args` in `cwd` (killed after `timeoutMs`), with `env` added to this process's environment,
 * as user and group `uid` when given (only root can).
 */
export function runCli(
  args: string[],
  cwd: string,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
  uid?: number,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, uid, gid: uid });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/**
 * The message of the one `resnet:` line of a refused command (without the prefix); fails the test
 * unless it exited 1 with exactly one such line, no stack trace and nothing on stdout.
 */
export async function refusal(args: string[], cwd: string): Promise<string> {
  const r = await runCli(args, cwd);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('resnet:'));
  expect({ args, status: r.status, stdout: r.stdout, lines: lines.length, stack: r.stderr.includes('\n    at ') }).toEqual({
    args,
    status: 1,
    stdout: '',
    lines: 1,
    stack: false,
  });
  return lines[0].replace(/^resnet: /, '');
}
