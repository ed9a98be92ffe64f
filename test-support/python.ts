/**
 * The Python that tests use to make PyTorch/PIL fixtures at test time, for every package's tests (import
 * it by relative path, e.g. `../../../test-support/python` from `packages/<name>/test/`). It is in no
 * package's `files`, so it is never published. {@link pythonSkipReason} says why a test skips;
 * {@link runPython} runs a fixture script and throws with its stderr when it fails.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Debian's Python, the one with PyTorch (python3-torch, python3-torchvision), PIL and NumPy. Not the
 * `python3` on PATH: that is pyenv's, which has no torch.
 */
export const PYTHON = '/usr/bin/python3';

/** Whether `import <modules>` succeeds in {@link PYTHON}, by module list (jest loads this module once per test file). */
const importable = new Map<string, boolean>();

function canImport(modules: string[]): boolean {
  const list = modules.join(', ');
  let ok = importable.get(list);
  if (ok === undefined) {
    ok = spawnSync(PYTHON, ['-c', `import ${list}`], { encoding: 'utf8' }).status === 0;
    importable.set(list, ok);
  }
  return ok;
}

/** Debian's package for a module: python3-<top-level name in lower case> (torch.distributed: python3-torch, PIL: python3-pil). */
function aptInstall(modules: string[]): string {
  const packages = modules.length === 0 ? ['python3'] : modules.map((m) => `python3-${m.split('.')[0].toLowerCase()}`);
  return `apt-get install ${[...new Set(packages)].join(' ')}`;
}

/**
 * Why a test that needs `modules` in {@link PYTHON} must skip, in one line, or null when it can run:
 * `/usr/bin/python3 not found (apt-get install …)` or `/usr/bin/python3 has no torch/torchvision
 * (apt-get install python3-torch python3-torchvision)`, naming the modules that do not import (each one
 * is tried alone only when the whole list fails). `hint` replaces the `apt-get install …` part.
 * An empty list checks only that {@link PYTHON} exists. Each import is tried once per process (in jest, per test file).
 */
export function pythonSkipReason(modules: string[], hint?: string): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found (${hint ?? aptInstall(modules)})`;
  if (modules.length === 0 || canImport(modules)) return null;
  const missing = modules.filter((m) => !canImport([m]));
  const named = missing.length > 0 ? missing : modules;
  return `${PYTHON} has no ${named.join('/')} (${hint ?? aptInstall(named)})`;
}

/** Options of {@link runPython}. */
export interface RunPythonOptions {
  /** Variables set for the script on top of this process's environment (e.g. `{ OMP_NUM_THREADS: '1' }`). */
  env?: Record<string, string>;
  /** Milliseconds before the script is killed (SIGTERM); no limit when not given. */
  timeout?: number;
  /** What the script does, for the error message; by default the script's file name or `python3 -c`. */
  what?: string;
}

/** The last `max` characters of `s`, trimmed, marked when cut. */
function tail(s: string, max = 4000): string {
  const t = s.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

/** `make_fixtures.py`, `python3 -c`, `python3 -m torch.distributed.run`: the script of an argument list. */
function scriptOf(args: string[]): string {
  if (args[0] === '-c') return 'python3 -c';
  if (args[0] === '-m') return `python3 -m ${args[1]}`;
  return path.basename(args[0] ?? PYTHON);
}

/**
 * Runs `PYTHON ...args` (e.g. `['-c', code, dir]` or `[script, '--out', dir]`) and returns its stdout
 * (UTF-8). Throws when it does not exit with status 0: the message names the script, the exit status
 * or signal (and a spawn error such as ETIMEDOUT), and the tail of its stderr.
 */
export function runPython(args: string[], options: RunPythonOptions = {}): string {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...options.env }, timeout: options.timeout });
  if (r.status === 0) return r.stdout;
  const how = [r.status !== null ? `exit status ${r.status}` : r.signal && `killed by ${r.signal}`, r.error?.message]
    .filter(Boolean)
    .join(', ');
  throw new Error(`${options.what ?? scriptOf(args)} failed (${how}): ${tail(r.stderr ?? '') || '(nothing on stderr)'}`);
}
