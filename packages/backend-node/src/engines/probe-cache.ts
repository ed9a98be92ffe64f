/**
 * A small on-disk memo for probes that cost a process start (the WebGPU adapter probe: ~0.3 s of
 * every `resnet` command that picks an engine automatically). An entry is used only when its key —
 * everything the probe's answer depends on that can change without notice: Node's version, the probed
 * native file (path, size, mtime), the GPU device nodes, the installed Vulkan drivers and the
 * driver-selecting environment — is
 * identical, and for at most a day. A stale "GPU found" costs nothing worse than today's path: when
 * setting the engine up fails, auto goes on to the next engine. Turned off by
 * RESNET_TS_PROBE_CACHE=0; a cache that cannot be read or written is ignored.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, ensureDir, writeFileAtomic } from '@resnet-ts/core/node';

/** How long an entry is trusted. */
const MAX_AGE_MS = 24 * 3600 * 1000;

/** Environment variables that pick or configure a GPU driver. */
const DRIVER_ENV = /^(VK_|MESA_|LIBGL_|DRI_|GALLIUM_|__GLX_|CUDA_VISIBLE|NVIDIA_|DISPLAY$|WAYLAND_DISPLAY$|XDG_RUNTIME_DIR$)/;

/** Device nodes through which drivers reach a GPU (their presence changes what a probe finds). */
function gpuDevices(): string[] {
  const list = (dir: string, keep: (n: string) => boolean) => {
    try {
      return fs
        .readdirSync(dir)
        .filter(keep)
        .map((n) => path.join(dir, n));
    } catch {
      return [];
    }
  };
  return [...list('/dev/dri', () => true), ...list('/dev', (n) => /^(nvidia|kfd$)/.test(n))].sort();
}

/**
 * The installed Vulkan drivers: every ICD manifest where the Vulkan loader looks for one (name,
 * size, mtime), so that installing or upgrading a driver (e.g. Mesa 22 -> 25, whose lavapipe is
 * the first to give Dawn an adapter) is a new key rather than a day of the old "no adapter".
 */
function vulkanDrivers(): string[] {
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':').filter(Boolean);
  const home = process.env.XDG_DATA_HOME || path.join(process.env.HOME ?? '', '.local', 'share');
  const dirs = ['/etc/vulkan/icd.d', ...[home, ...dataDirs].map((d) => path.join(d, 'vulkan', 'icd.d'))];
  return dirs.flatMap((dir) => {
    try {
      return fs
        .readdirSync(dir)
        .sort()
        .map((n) => {
          const s = fs.statSync(path.join(dir, n));
          return `${path.join(dir, n)}:${s.size}:${s.mtimeMs}`;
        });
    } catch {
      return [];
    }
  });
}

/** The key of a probe of `file`: a hash of everything its answer depends on. */
export function probeKey(name: string, file: string): string {
  let stat: string;
  try {
    const s = fs.statSync(file);
    stat = `${s.size}:${s.mtimeMs}`;
  } catch {
    stat = 'missing';
  }
  const env = Object.keys(process.env)
    .filter((k) => DRIVER_ENV.test(k))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  const parts = [name, process.versions.node, process.platform, process.arch, file, stat, ...gpuDevices(), ...vulkanDrivers(), ...env];
  return crypto.createHash('sha256').update(parts.join('\n')).digest('hex');
}

/** `<cache>/probes/<name>.json` in resnet-ts's cache folder (core's `cacheDir`). */
function cacheFile(name: string): string {
  return path.join(cacheDir(), 'probes', `${name}.json`);
}

function enabled(): boolean {
  return process.env.RESNET_TS_PROBE_CACHE !== '0';
}

/** The remembered answer of probe `name` for `key`, or undefined (none, stale, other key, unreadable). */
export function readProbe<T>(name: string, key: string): T | undefined {
  if (!enabled()) return undefined;
  try {
    const entry = JSON.parse(fs.readFileSync(cacheFile(name), 'utf8')) as { key?: string; at?: number; value?: T };
    if (entry.key !== key || typeof entry.at !== 'number' || !(Date.now() - entry.at < MAX_AGE_MS) || entry.at > Date.now())
      return undefined;
    return entry.value;
  } catch {
    return undefined;
  }
}

/** Remembers `value` as the answer of probe `name` for `key` (best effort: errors are ignored). */
export async function writeProbe<T>(name: string, key: string, value: T): Promise<void> {
  if (!enabled()) return;
  try {
    const file = cacheFile(name);
    ensureDir(path.dirname(file));
    const bytes = Buffer.from(JSON.stringify({ key, at: Date.now(), value }));
    await writeFileAtomic(file, (fd) => {
      fs.writeSync(fd, bytes);
    });
  } catch {
    // A cache that cannot be written only means the next command probes again.
  }
}
