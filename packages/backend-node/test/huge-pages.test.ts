/**
 * Large kernel outputs on transparent huge pages (native/huge_pages.cc, the buffer pool's large
 * allocator): backed by 2 MiB pages where Linux offers them on request, and freed when collected.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isNativeAvailable, loadAddon } from '../src/native/index.js';

const MiB = 1 << 20;
const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
/** Whether this machine gives huge pages to a process that asks (`always` or `madvise`). */
const thpOnRequest = fs.existsSync(THP) && !/\[never\]/.test(fs.readFileSync(THP, 'utf8'));
const describeNative = isNativeAvailable() ? describe : describe.skip;

/** Runs `body` in a fresh Node process on the native engine; its last stdout line, parsed. */
function inFreshProcess(body: string, env: Record<string, string> = {}, nodeArgs: string[] = []) {
  const dist = path.join(__dirname, '..', 'dist');
  const script = `
    const tf = require('@tensorflow/tfjs-core');
    const fs = require('node:fs');
    require(${JSON.stringify(path.join(dist, 'index.js'))}); // registers the engines
    const { loadAddon } = require(${JSON.stringify(path.join(dist, 'native', 'addon.js'))});
    const huge = () => Number(/AnonHugePages:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]) * 1024;
    (async () => {
      await require('@resnet-ts/core').useBackend('native');
      ${body}
    })();`;
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stderr: r.stderr, out: JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, number> };
}

describeNative('huge pages for large buffers', () => {
  test('adviseHugePages returns the offset of the first 2 MiB boundary in a buffer, where a Float32Array can start', () => {
    const addon = loadAddon().addon!;
    const buffer = Buffer.allocUnsafeSlow(6 * MiB).buffer;
    const offset = addon.adviseHugePages(buffer, 4 * MiB);
    expect(offset % 4).toBe(0); // malloc's alignment (16) at least: a Float32Array may start there
    expect(offset).toBeLessThan(2 * MiB);
    expect(addon.adviseHugePages(new ArrayBuffer(64), 64)).toBe(0); // no boundary in it
  });

  (thpOnRequest ? test : test.skip)('an 8 MiB kernel output lies on huge pages; with RESNET_TS_HUGE_PAGES=0 it does not', () => {
    const body = `
      const before = huge();
      const y = tf.relu(tf.fill([2 * (1 << 20)], -1)); // 8 MiB, written by the kernel
      console.log(JSON.stringify({ grown: huge() - before }));`;
    const on = inFreshProcess(body);
    const off = inFreshProcess(body, { RESNET_TS_HUGE_PAGES: '0' });
    expect(on.stderr + off.stderr).toBe('');
    expect(on.out.grown).toBeGreaterThanOrEqual(4 * MiB);
    expect(off.out.grown).toBeLessThan(on.out.grown);
  });

  test('large outputs are freed as soon as they are collected, even in a loop that never yields', () => {
    const r = inFreshProcess(
      `const rss0 = process.memoryUsage().rss;
      for (let i = 0; i < 40; i++) {
        tf.dispose(tf.relu(tf.fill([8 * (1 << 20)], -1))); // 32 MiB in, 32 MiB out
        if (i % 4 === 3) global.gc();
      }
      global.gc();
      console.log(JSON.stringify({ grown: process.memoryUsage().rss - rss0 }));`,
      { RESNET_TS_NATIVE_POOL_MB: '0' }, // nothing kept for reuse
      ['--expose-gc'],
    );
    expect(r.stderr).toBe('');
    // 80 x 32 MiB were written; at most a few may still be held.
    expect(r.out.grown).toBeLessThan(300 * MiB);
  });
});
