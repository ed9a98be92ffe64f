import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackendAvailability, BackendPlugin } from '@resnet-ts/core';
import { isInstalled, setTfBackend } from './util.js';
import { probeKey, readProbe, writeProbe } from './probe-cache.js';

/** What Dawn reported about the adapter it found (GPUAdapterInfo, plus the fallback flag). */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** True for CPU rasterisers (lavapipe/llvmpipe, SwiftShader, ...): ranked below wasm. */
  software: boolean;
}

/** Effective priority of the webgpu engine on a hardware (GPU) adapter: above native (40) and wasm (30). */
export const WEBGPU_HARDWARE_PRIORITY = 50;
/**
 * Effective priority of the webgpu engine on a software (CPU) adapter such as lavapipe: below wasm
 * (30), since it is correct but slow.
 */
export const WEBGPU_SOFTWARE_PRIORITY = 20;

const MESA_HINT =
  'a Vulkan driver: a GPU driver, or on a CPU-only Debian 12 machine Mesa >= 25 (lavapipe): ' +
  "apt-get install -t bookworm-backports mesa-vulkan-drivers (bookworm's Mesa 22 gives no adapter)";

/** The little of WebGPU's API used here (no dependency on @webgpu/types). */
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info?: unknown;
  isFallbackAdapter?: boolean;
}

let probe: Promise<{ availability: BackendAvailability; adapter?: WebGpuAdapterInfo }> | undefined;

/** Whether an adapter looks like a CPU implementation. */
export function isSoftwareAdapter(info: Partial<WebGpuAdapterInfo>): boolean {
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return Boolean(info.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software|\bcpu\b/i.test(text);
}

/** Path of Dawn's `dawn.node` (the `webgpu` package is ES-module only; its native addon loads from CommonJS). */
function dawnFile(): string {
  const dir = path.dirname(require.resolve('webgpu'));
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  const file = path.join(dir, 'dist', `${process.platform}-${arch}`, 'dawn.node');
  if (!fs.existsSync(file)) throw new Error(`the webgpu package has no Dawn build for ${process.platform}-${arch} (${file})`);
  return file;
}

function loadDawn(): { create(flags: string[]): GpuLike; globals: Record<string, unknown> } {
  return require(dawnFile());
}

/**
 * Asks Dawn for an adapter in a short-lived child process. Dawn writes warnings straight to file
 * descriptor 2 (e.g. "maxDynamicUniformBuffersPerPipelineLayout artificially reduced") whenever it
 * creates an adapter; probing in a child keeps them out of every command that only asks which
 * engines exist. Dawn is loaded into this process only when webgpu is actually set up.
 */
function requestAdapterInChild(file: string): Promise<AdapterLike | null> {
  const script = `
    const dawn = require(process.argv[1]);
    const done = (v) => { process.stdout.write(JSON.stringify(v)); process.exit(0); };
    dawn.create([]).requestAdapter().then(
      (a) => done(a ? { info: Object.fromEntries(['vendor', 'architecture', 'device', 'description', 'isFallbackAdapter'].map((k) => [k, a.info?.[k]])), isFallbackAdapter: a.isFallbackAdapter } : null),
      (e) => done({ error: String(e && e.message) }),
    );`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, file], { timeout: 30_000, env: process.env }, (err, stdout) => {
      let out: (AdapterLike & { error?: string }) | null;
      try {
        out = JSON.parse(stdout);
      } catch {
        reject(new Error(err ? err.message : `unexpected answer from the adapter probe: ${stdout.slice(0, 200)}`));
        return;
      }
      if (out && out.error) reject(new Error(out.error));
      else resolve(out);
    });
  });
}

/**
 * {@link requestAdapterInChild}, remembered on disk (see probe-cache.ts) so that only the first
 * command on a machine pays for the child process. Only an answer is remembered (an adapter, or none);
 * a probe that failed is asked again next time.
 */
async function requestAdapterRemembered(file: string): Promise<AdapterLike | null> {
  const key = probeKey('webgpu-adapter', file);
  const known = readProbe<{ adapter: AdapterLike | null }>('webgpu-adapter', key);
  if (known) return known.adapter;
  const adapter = await requestAdapterInChild(file);
  await writeProbe('webgpu-adapter', key, { adapter });
  return adapter;
}

/** Dawn wants XDG_RUNTIME_DIR; give it a private one when the session has none. */
function ensureXdgRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = path.join(os.tmpdir(), `resnet-ts-xdg-${uid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/** Installs `navigator.gpu` (and Dawn's GPU* globals) so tfjs-backend-webgpu finds WebGPU. */
function installNavigatorGpu(gpu: GpuLike, globals: Record<string, unknown>): void {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(globals)) if (!(k in g)) g[k] = v;
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav && typeof nav === 'object') Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  else g.navigator = { gpu };
}

/** Finds the adapter once (cached): availability, effective priority and adapter info. */
export function probeWebGpu(): Promise<{ availability: BackendAvailability; adapter?: WebGpuAdapterInfo }> {
  probe ??= (async () => {
    if (!isInstalled('webgpu')) {
      return {
        availability: {
          available: false,
          reason: "the 'webgpu' package (Dawn for Node) is not installed",
          install: 'npm install webgpu@^0.6.2',
        },
      };
    }
    if (!isInstalled('@tensorflow/tfjs-backend-webgpu')) {
      return {
        availability: {
          available: false,
          reason: '@tensorflow/tfjs-backend-webgpu is not installed',
          install: 'npm install @tensorflow/tfjs-backend-webgpu@^4.22.0',
        },
      };
    }
    let adapter: AdapterLike | null;
    try {
      ensureXdgRuntimeDir();
      adapter = await requestAdapterRemembered(dawnFile());
    } catch (e) {
      return {
        availability: {
          available: false,
          reason: `Dawn failed to load: ${(e as Error).message.split('\n')[0]}`,
          install: `install ${MESA_HINT}`,
        },
      };
    }
    if (!adapter)
      return {
        availability: {
          available: false,
          reason: 'Dawn found no WebGPU adapter (no usable Vulkan driver)',
          install: `install ${MESA_HINT}`,
        },
      };
    const raw = (adapter.info ?? {}) as Record<string, unknown>;
    const info: WebGpuAdapterInfo = {
      vendor: String(raw.vendor ?? ''),
      architecture: String(raw.architecture ?? ''),
      device: String(raw.device ?? ''),
      description: String(raw.description ?? ''),
      isFallbackAdapter: Boolean(raw.isFallbackAdapter ?? adapter.isFallbackAdapter),
      software: false,
    };
    info.software = isSoftwareAdapter(info);
    const name = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ');
    return {
      adapter: info,
      availability: {
        available: true,
        priority: info.software ? WEBGPU_SOFTWARE_PRIORITY : WEBGPU_HARDWARE_PRIORITY,
        reason: info.software ? `software adapter (${name}): correct but slow, ranked below wasm` : `GPU adapter: ${name}`,
      },
    };
  })();
  return probe;
}

let dawnInstalled: Promise<void> | undefined;

/**
 * Loads Dawn into this process and installs `navigator.gpu`, once: the GPU instance must live as
 * long as tfjs's device (a second instance replacing it would let the first be garbage-collected
 * under the running backend).
 */
function installDawnOnce(): Promise<void> {
  dawnInstalled ??= (async () => {
    const dawn = loadDawn();
    const gpu = dawn.create([]);
    if (!(await gpu.requestAdapter())) throw new Error('Dawn found no WebGPU adapter (no usable Vulkan driver)');
    installNavigatorGpu(gpu, dawn.globals);
  })();
  return dawnInstalled;
}

/** tfjs's WebGPU backend over Dawn: real GPUs through Vulkan/Metal/D3D12, lavapipe on CPU-only Linux. */
export const webgpuPlugin: BackendPlugin = {
  name: 'webgpu',
  priority: WEBGPU_HARDWARE_PRIORITY,
  description: 'tfjs WebGPU backend over Dawn (webgpu npm package)',
  capabilities: { training: true },
  isAvailable: async () => (await probeWebGpu()).availability,
  setup: async () => {
    const { availability } = await probeWebGpu();
    if (!availability.available) throw new Error(availability.reason);
    await installDawnOnce();
    // Imported only now: on import it registers itself if navigator.gpu exists.
    require('@tensorflow/tfjs-backend-webgpu');
    await setTfBackend('webgpu', 'webgpu');
  },
};
