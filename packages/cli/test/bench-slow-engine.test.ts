/**
 * `resnet bench` on the slow cpu engine: its row is timed after a warm-up run and takes --repeats
 * when given (it was one cold run shown as "ms (median)", --repeats ignored), says so in its note,
 * and names the --compare peers it was not timed next to. Duplicates in --engines / --works are
 * refused in one line, like every other list option. The built binary runs as a user runs it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { slowNote } from '../src/commands/bench';

const bin = path.join(__dirname, '..', 'dist', 'bin.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 240_000 });

test('the cpu row takes --repeats after a warm-up run, and its JSON says how it was timed', () => {
  const r = run('bench', '--engines', 'cpu', '--works', 'resnet20-forward:1', '--repeats', '3', '--json');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as { rows: { engine: string; repeats: number; warmup: number; ms: number; note: string }[] };
  expect(out.rows).toHaveLength(1);
  expect(out.rows[0]).toMatchObject({ engine: 'cpu', repeats: 3, warmup: 1 });
  expect(out.rows[0].ms).toBeGreaterThan(0);
  expect(out.rows[0].note).toBe('slow engine: median of 3 timed runs after 1 warm-up run');
}, 240_000);

test('without --repeats the cpu row is one timed run after a warm-up, and the table says it is not a median', () => {
  const r = run('bench', '--engines', 'cpu', '--works', 'resnet20-forward:1');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/note: cpu resnet20 forward 32x32 batch 1: slow engine: 1 timed run after 1 warm-up run, not a median/);
}, 240_000);

test('a slow row names the compared peers it was not timed next to', () => {
  expect(slowNote(1, [{ id: 'pytorch' }])).toMatch(/not a median .*; not timed next to PyTorch .*\(too slow to interleave\)$/);
  expect(slowNote(2, [])).toBe('slow engine: median of 2 timed runs after 1 warm-up run');
});

test.each([
  [['--engines', 'cpu,cpu'], 'resnet: --engines lists cpu twice: give each value once; got cpu,cpu'],
  [
    ['--works', 'resnet20-forward:1,resnet20-forward:1'],
    'resnet: --works lists resnet20-forward:1 twice: give each value once; got resnet20-forward:1,resnet20-forward:1',
  ],
])('bench %j is refused in one line', (args, line) => {
  const r = run('bench', ...args);
  expect(r.status).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toEqual([line]);
});
