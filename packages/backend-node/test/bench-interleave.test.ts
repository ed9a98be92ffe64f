/**
 * `bench.timeInterleaved`: every timed run of a work comes right after a run of the same work, so no
 * work is timed in another runtime's wake (BENCHMARKS.md, "Who ran just before"); alone, a work is
 * timed without extra runs.
 */
import { bench } from '../src/index.js';

/** Works that log each run in `log` and report the run's position in it as their own ms. */
function loggingWorks(names: string[], log: string[]): bench.PreparedWork[] {
  return names.map((name) => ({
    run: async () => {
      log.push(name);
      return log.length - 1;
    },
    dispose: () => {},
  }));
}

test('with several works, each timed run follows an untimed run of the same work', async () => {
  const log: string[] = [];
  const names = ['ours', 'onnxruntime', 'pytorch'];
  const times = await bench.timeInterleaved(loggingWorks(names, log), { repeats: 3, warmup: 1 });
  expect(times.map((t) => t.length)).toEqual([3, 3, 3]);
  names.forEach((name, w) => {
    for (const at of times[w]) {
      expect(log[at]).toBe(name);
      expect(log[at - 1]).toBe(name);
    }
  });
  // Rounds still rotate who goes first.
  const firsts = [0, 1, 2].map((r) => log[1 * names.length + r * 2 * names.length]);
  expect(new Set(firsts).size).toBe(3);
});

test('a work alone is timed run after run, without untimed runs in between', async () => {
  const log: string[] = [];
  const [times] = await bench.timeInterleaved(loggingWorks(['ours'], log), { repeats: 4, warmup: 2 });
  expect(times).toEqual([2, 3, 4, 5]);
  expect(log).toHaveLength(6);
});
