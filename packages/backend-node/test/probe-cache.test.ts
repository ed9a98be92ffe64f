/**
 * The on-disk probe memo that spares `resnet` commands the WebGPU adapter probe's process start: an
 * answer is reused only for the same key and for at most a day, a changed driver environment or
 * probed file is a different key, and RESNET_TS_PROBE_CACHE=0 turns it off.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeKey, readProbe, writeProbe } from '../src/engines/probe-cache';

let tmp: string;
let probed: string;
const saved = {
  cacheDir: process.env.RESNET_TS_CACHE,
  cache: process.env.RESNET_TS_PROBE_CACHE,
  vk: process.env.VK_ICD_FILENAMES,
  xdg: process.env.XDG_DATA_DIRS,
};

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-cache-'));
  process.env.RESNET_TS_CACHE = tmp;
  delete process.env.RESNET_TS_PROBE_CACHE;
  delete process.env.VK_ICD_FILENAMES;
  probed = path.join(tmp, 'dawn.node');
  fs.writeFileSync(probed, 'v1');
});
afterEach(() => {
  for (const [k, v] of [
    ['RESNET_TS_CACHE', saved.cacheDir],
    ['RESNET_TS_PROBE_CACHE', saved.cache],
    ['VK_ICD_FILENAMES', saved.vk],
    ['XDG_DATA_DIRS', saved.xdg],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('an answer is remembered for the same key, including "no adapter"', async () => {
  const key = probeKey('webgpu-adapter', probed);
  expect(readProbe('webgpu-adapter', key)).toBeUndefined();
  await writeProbe('webgpu-adapter', key, { adapter: null });
  expect(readProbe('webgpu-adapter', key)).toEqual({ adapter: null });
  await writeProbe('webgpu-adapter', key, { adapter: { info: { vendor: 'x' } } });
  expect(readProbe('webgpu-adapter', key)).toEqual({ adapter: { info: { vendor: 'x' } } });
  // Written by rename: no temporary file is left beside it.
  expect(fs.readdirSync(path.join(tmp, 'probes'))).toEqual(['webgpu-adapter.json']);
});

test('a changed driver environment or probed file is another key', async () => {
  const key = probeKey('webgpu-adapter', probed);
  await writeProbe('webgpu-adapter', key, { adapter: null });
  process.env.VK_ICD_FILENAMES = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
  const withDriver = probeKey('webgpu-adapter', probed);
  expect(withDriver).not.toBe(key);
  expect(readProbe('webgpu-adapter', withDriver)).toBeUndefined();
  delete process.env.VK_ICD_FILENAMES;
  fs.writeFileSync(probed, 'a newer build');
  expect(probeKey('webgpu-adapter', probed)).not.toBe(key);
});

test('installing or upgrading a Vulkan driver is another key (a cached "no adapter" is not kept)', () => {
  const share = path.join(tmp, 'share');
  fs.mkdirSync(path.join(share, 'vulkan', 'icd.d'), { recursive: true });
  process.env.XDG_DATA_DIRS = share;
  const none = probeKey('webgpu-adapter', probed);
  const manifest = path.join(share, 'vulkan', 'icd.d', 'lvp_icd.json');
  fs.writeFileSync(manifest, '{"ICD": {"api_version": "1.3.230"}}');
  const installed = probeKey('webgpu-adapter', probed);
  expect(installed).not.toBe(none);
  fs.writeFileSync(manifest, '{"ICD": {"api_version": "1.4.305", "library_arch": "64"}}');
  expect(probeKey('webgpu-adapter', probed)).not.toBe(installed);
});

test('an entry older than a day, from the future, or unreadable is ignored', async () => {
  const key = probeKey('webgpu-adapter', probed);
  await writeProbe('webgpu-adapter', key, { adapter: null });
  const file = path.join(tmp, 'probes', 'webgpu-adapter.json');
  const entry = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify({ ...entry, at: Date.now() - 25 * 3600 * 1000 }));
  expect(readProbe('webgpu-adapter', key)).toBeUndefined();
  fs.writeFileSync(file, JSON.stringify({ ...entry, at: Date.now() + 3600 * 1000 }));
  expect(readProbe('webgpu-adapter', key)).toBeUndefined();
  fs.writeFileSync(file, '{"key": "trunc');
  expect(readProbe('webgpu-adapter', key)).toBeUndefined();
});

test('RESNET_TS_PROBE_CACHE=0 neither reads nor writes', async () => {
  const key = probeKey('webgpu-adapter', probed);
  await writeProbe('webgpu-adapter', key, { adapter: null });
  process.env.RESNET_TS_PROBE_CACHE = '0';
  expect(readProbe('webgpu-adapter', key)).toBeUndefined();
  fs.rmSync(path.join(tmp, 'probes'), { recursive: true });
  await writeProbe('webgpu-adapter', key, { adapter: null });
  expect(fs.existsSync(path.join(tmp, 'probes'))).toBe(false);
});
