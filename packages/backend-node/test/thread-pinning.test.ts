/**
 * The native engine pins its OpenMP worker threads, one per usable CPU, and leaves the calling
 * thread free (native/threads.cc says why): checked in a child process through /proc, with the
 * ways to turn it off.
 */
import { spawnSync } from 'node:child_process';
import { shouldPinWorkers } from '../src/native/addon.js';
import { describeNative } from './plan-helpers.js';

test('pinning is on by default and off with RESNET_TS_PIN_THREADS=0 or when the user placed the threads', () => {
  expect(shouldPinWorkers({})).toBe(true);
  expect(shouldPinWorkers({ RESNET_TS_PIN_THREADS: '1' })).toBe(true);
  expect(shouldPinWorkers({ RESNET_TS_PIN_THREADS: '0' })).toBe(false);
  expect(shouldPinWorkers({ OMP_PROC_BIND: 'false' })).toBe(false);
  expect(shouldPinWorkers({ OMP_PLACES: 'cores' })).toBe(false);
  expect(shouldPinWorkers({ GOMP_CPU_AFFINITY: '0-1' })).toBe(false);
});

interface Threads {
  /** pinnedWorkerCpus() after the native engine loaded. */
  pinned: number[];
  /** The CPUs this process may use. */
  allowed: number[];
  /** Cpus_allowed_list of every thread of the process. */
  masks: string[];
}

/** Loads the native engine in a fresh Node process with `env` and reports where its threads may run. */
function threadsWith(env: Record<string, string>): Threads {
  const script = `
    const fs = require('fs');
    (async () => {
      const backend = require('@resnet-ts/backend-node');
      await require('@resnet-ts/core').useBackend('native');
      const mask = (t) => fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8').match(/Cpus_allowed_list:\\s*(\\S+)/)[1];
      const expand = (list) => list.split(',').flatMap((r) => { const [a, b = a] = r.split('-').map(Number); return Array.from({ length: b - a + 1 }, (_, i) => a + i); });
      process.stdout.write(JSON.stringify({ pinned: backend.pinnedWorkerCpus(), allowed: expand(mask(process.pid)), masks: fs.readdirSync('/proc/self/task').map(mask) }));
    })();`;
  const base = { ...process.env };
  for (const k of ['OMP_NUM_THREADS', 'OMP_PROC_BIND', 'OMP_PLACES', 'GOMP_CPU_AFFINITY', 'RESNET_TS_PIN_THREADS']) delete base[k];
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, cwd: __dirname, env: { ...base, ...env } });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Threads;
}

const onLinux = process.platform === 'linux' ? describeNative : describe.skip;

onLinux('OpenMP worker threads of the native engine (Linux)', () => {
  test('each worker is pinned to its own usable CPU; the calling thread and the others stay free', () => {
    const t = threadsWith({});
    if (t.allowed.length < 2) {
      expect(t.pinned).toEqual([]); // one CPU: nothing to spread
      return;
    }
    expect(t.pinned).toHaveLength(t.allowed.length);
    expect(t.pinned[0]).toBe(-1);
    const workers = t.pinned.slice(1);
    expect(new Set(workers).size).toBe(workers.length);
    for (const cpu of workers) expect(t.allowed).toContain(cpu);
    const single = t.masks
      .filter((m) => !/[-,]/.test(m))
      .map(Number)
      .sort((a, b) => a - b);
    expect(single).toEqual([...workers].sort((a, b) => a - b));
  }, 60_000);

  test('RESNET_TS_PIN_THREADS=0 and a team smaller than the CPUs leave every thread free', () => {
    for (const env of [{ RESNET_TS_PIN_THREADS: '0' }, { OMP_NUM_THREADS: '1' }]) {
      const t = threadsWith(env);
      expect(t.pinned).toEqual([]);
      if (t.allowed.length > 1) expect(t.masks.every((m) => /[-,]/.test(m))).toBe(true);
    }
  }, 60_000);
});
