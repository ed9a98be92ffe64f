/**
 * The native engine's buffer pool drops buffers that wait unused for its idle time, so that what a
 * finished training run left behind does not stay held for the life of the process, while a loop that
 * reuses its buffers keeps them.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BufferPool } from '../src/native/pool.js';

const N = 1 << 16; // elements: above the pool's minimum length
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a buffer left unused for the idle time is dropped; one reused within it is kept', async () => {
  const pool = new BufferPool({ cap: 1 << 30, idleMs: 1000 });
  const kept = pool.alloc(N);
  const left = pool.alloc(2 * N);
  pool.onStore(kept);
  pool.onStore(left);
  pool.release(kept);
  pool.release(left);
  expect(pool.stats().pooledBytes).toBe(3 * N * 4);
  // Reuse `kept`'s length every 100 ms for 2.2 s (over two idle times): the same buffer comes back each
  // time. The idle time is 10 pauses long, so a loaded machine that stretches a pause does not drop it.
  for (let i = 0; i < 22; i++) {
    await sleep(100);
    const again = pool.alloc(N);
    expect(again).toBe(kept);
    pool.onStore(again);
    pool.release(again);
  }
  expect(pool.stats()).toMatchObject({ pooledBytes: N * 4, dropped: 1 });
  // Left alone, `kept` goes too.
  await sleep(2500);
  expect(pool.stats()).toMatchObject({ pooledBytes: 0, dropped: 2 });
  expect(pool.alloc(N)).not.toBe(kept);
});

test('dropIdle drops only the buffers released at least the idle time ago, oldest first', () => {
  const pool = new BufferPool({ cap: 1 << 30, idleMs: 1000 });
  const arrays = [pool.alloc(N), pool.alloc(N)];
  for (const a of arrays) pool.onStore(a);
  // Times are taken around the releases, never between them and the check, so a slow machine cannot
  // make a buffer look older than it is.
  const beforeBoth = performance.now();
  pool.release(arrays[0]);
  const afterFirst = performance.now();
  while (performance.now() < afterFirst + 5); // the second release comes measurably later
  const beforeSecond = performance.now();
  pool.release(arrays[1]);
  pool.dropIdle(beforeBoth + 999); // neither has waited 1000 ms at that time
  expect(pool.stats()).toMatchObject({ pooledBytes: 2 * N * 4, dropped: 0 });
  pool.dropIdle(beforeSecond - 1 + 1000); // the first has waited 1000 ms, the second not yet
  expect(pool.stats()).toMatchObject({ pooledBytes: N * 4, dropped: 1 });
  expect(pool.alloc(N)).toBe(arrays[1]); // the one left is the one released last
  pool.onStore(arrays[1]);
  pool.release(arrays[1]);
  pool.dropIdle(performance.now() + 1000);
  expect(pool.stats()).toMatchObject({ pooledBytes: 0, dropped: 2 });
});

/** Runs `body` in a fresh Node process on the native engine with the pool's idle time `idleS`; its last stdout line, parsed. */
function inFreshProcess(idleS: string, body: string): { status: number | null; stderr: string; out: Record<string, number> } {
  const dist = path.join(__dirname, '..', 'dist');
  const script = `
    const tf = require('@tensorflow/tfjs-core');
    require(${JSON.stringify(path.join(dist, 'index.js'))}); // registers the engines
    const { pool: nativeBufferPool } = require(${JSON.stringify(path.join(dist, 'native', 'pool.js'))});
    (async () => {
      await require('@resnet-ts/core').useBackend('native');
      for (let i = 0; i < 3; i++) tf.dispose(tf.relu(tf.fill([1 << 20], -1)));
      ${body}
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, RESNET_TS_NATIVE_POOL_IDLE_S: idleS },
  });
  return { status: r.status, stderr: r.stderr, out: JSON.parse(r.stdout.trim().split('\n').pop() || '{}') };
}

test('on the native engine, disposed outputs leave the pool after the idle time', () => {
  const r = inFreshProcess(
    '0.3',
    `const before = nativeBufferPool.stats().pooledBytes;
      await new Promise((r) => setTimeout(r, 800));
      console.log(JSON.stringify({ before, after: nativeBufferPool.stats().pooledBytes }));`,
  );
  expect(r.stderr).toBe('');
  expect(r.out.before).toBeGreaterThanOrEqual(4 << 20);
  expect(r.out.after).toBe(0);
  expect(r.status).toBe(0);
});

test('a pending sweep does not keep the process alive', () => {
  const t0 = performance.now();
  const r = inFreshProcess('300', `console.log(JSON.stringify({ pooled: nativeBufferPool.stats().pooledBytes }));`);
  expect(r.stderr).toBe('');
  expect(r.out.pooled).toBeGreaterThan(0); // buffers wait, a sweep is due in 300 s
  expect(r.status).toBe(0);
  expect(performance.now() - t0).toBeLessThan(60_000);
});
