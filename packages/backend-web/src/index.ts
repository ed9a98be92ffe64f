/**
 * @resnet-ts/backend-web: backend plug-ins for browsers, registered with core on import.
 * `useBackend('auto')` picks, of those that really run in this browser:
 *
 *   webgpu on a GPU (50) > webgl on a GPU (40) > wasm (30) > webgpu/webgl on a software
 *   rasteriser such as SwiftShader (20/15) > cpu (10, the reference)
 *
 * wasm needs its .wasm files served: call `configureBackendWeb({wasmPaths: '/static/tfjs-wasm/'})`
 * (a URL prefix, or a map from file name to URL) before `useBackend`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { BackendAvailability, BackendPlugin, registerBackend } from '@resnet-ts/core';
import { registerMissingKernels } from '@resnet-ts/core';

export {
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeFastTile,
  makeMaxPoolGrad,
  registerMissingKernels,
} from '@resnet-ts/core';

/** Options of {@link configureBackendWeb}. */
export interface BackendWebOptions {
  /**
   * Where the tfjs wasm binaries are served: a URL prefix ending in '/' (the files are
   * tfjs-backend-wasm.wasm, tfjs-backend-wasm-simd.wasm, tfjs-backend-wasm-threaded-simd.wasm from
   * @tensorflow/tfjs-backend-wasm/dist/), or a map from those names to URLs.
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * Threads for wasm (needs a cross-origin-isolated page; default: tfjs decides, which is half the
   * logical cores). The count asked for is honoured up to 8 (tfjs's worker pool).
   */
  wasmThreads?: number;
}

const options: BackendWebOptions = {};

/** Sets options; call before `useBackend`. */
export function configureBackendWeb(opts: BackendWebOptions): void {
  Object.assign(options, opts);
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

async function tfSetBackend(name: string): Promise<void> {
  if (await tf.setBackend(name)) return;
  // The usual cause for wasm: its .wasm files are not served where wasmPaths says (a 404 in the console).
  const wasm =
    name === 'wasm'
      ? ` Are the .wasm files of @tensorflow/tfjs-backend-wasm/dist/ served at ${JSON.stringify(options.wasmPaths ?? "the page's folder")}? Set configureBackendWeb({ wasmPaths }) to where they are.`
      : '';
  throw new Error(`tfjs could not initialise its '${name}' backend in this browser (see the console).${wasm}`);
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: Record<string, unknown>; isFallbackAdapter?: boolean } | null>;
}

let webgpuProbe: Promise<BackendAvailability> | undefined;

/** WebGPU through tfjs-backend-webgpu. */
export const webgpuPlugin: BackendPlugin = {
  name: 'webgpu',
  priority: 50,
  description: 'tfjs WebGPU backend',
  capabilities: { training: true },
  isAvailable: () =>
    (webgpuProbe ??= (async (): Promise<BackendAvailability> => {
      const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
      const install =
        'a browser with WebGPU (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu) on a secure origin (https or localhost)';
      if (!gpu)
        return { available: false, reason: 'navigator.gpu is missing (no WebGPU in this browser or not a secure context)', install };
      const adapter = await gpu.requestAdapter().catch(() => null);
      if (!adapter) return { available: false, reason: 'the browser offers no WebGPU adapter', install };
      const info = adapter.info ?? {};
      const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.trim();
      const software = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || SOFTWARE.test(text);
      return software
        ? { available: true, priority: 20, reason: `software adapter (${text || 'fallback'}): ranked below wasm` }
        : { available: true, reason: `GPU adapter: ${text || 'unknown'}` };
    })()),
  setup: () => tfSetBackend('webgpu'),
};

/** WebGL 2/1 through tfjs-backend-webgl. */
export const webglPlugin: BackendPlugin = {
  name: 'webgl',
  priority: 40,
  description: 'tfjs WebGL backend',
  capabilities: { training: true },
  isAvailable: async (): Promise<BackendAvailability> => {
    const doc = (globalThis as { document?: { createElement(t: string): unknown } }).document;
    const canvas =
      typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : (doc?.createElement('canvas') as OffscreenCanvas | undefined);
    if (!canvas) return { available: false, reason: 'no canvas here (not a browser)', install: 'run in a browser with WebGL' };
    const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    if (!gl)
      return {
        available: false,
        reason: 'WebGL is disabled or unsupported in this browser',
        install: 'enable hardware acceleration / WebGL',
      };
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    return SOFTWARE.test(renderer)
      ? { available: true, priority: 15, reason: `software renderer (${renderer}): ranked below wasm` }
      : { available: true, reason: `renderer: ${renderer}` };
  },
  setup: () => tfSetBackend('webgl'),
};

/**
 * Runs `init` (the wasm backend starting) so that tfjs honours a thread count of `threads`. tfjs 4.22
 * caps XNNPACK's pool at half of `navigator.hardwareConcurrency` (it assumes two hyper-threads per
 * core), read once as the backend starts: on a 2-core machine that is one thread whatever
 * `setThreadsCount` says. While `init` runs, navigator reports twice the threads asked for, so the cap
 * is the count asked for; afterwards it reports the truth again.
 */
async function liftingThreadCap<T>(threads: number | undefined, init: () => Promise<T>): Promise<T> {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (!threads || !nav) return init();
  const own = Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency');
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { configurable: true, get: () => 2 * threads });
  } catch {
    return init(); // a navigator that cannot be patched: tfjs's own cap applies
  }
  try {
    return await init();
  } finally {
    if (own) Object.defineProperty(nav, 'hardwareConcurrency', own);
    else delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/** wasm (XNNPACK, SIMD, threads where the page is cross-origin isolated). */
export const wasmPlugin: BackendPlugin = {
  name: 'wasm',
  priority: 30,
  description: 'tfjs wasm backend (XNNPACK)',
  capabilities: { training: true },
  isAvailable: async () =>
    typeof WebAssembly === 'object'
      ? {
          available: true,
          reason: options.wasmPaths
            ? `wasm files from ${typeof options.wasmPaths === 'string' ? options.wasmPaths : 'a file map'}`
            : 'wasm files next to the bundle (set wasmPaths otherwise)',
        }
      : { available: false, reason: 'this browser has no WebAssembly', install: 'a browser with WebAssembly' },
  setup: async () => {
    if (options.wasmPaths) setWasmPaths(options.wasmPaths as string);
    if (options.wasmThreads) setThreadsCount(options.wasmThreads);
    registerMissingKernels('wasm');
    await liftingThreadCap(options.wasmThreads, () => tfSetBackend('wasm'));
  },
};

/** The tfjs cpu backend: plain JavaScript, the reference. */
export const cpuPlugin: BackendPlugin = {
  name: 'cpu',
  priority: 10,
  description: 'tfjs cpu backend: plain JavaScript, the reference (slow)',
  capabilities: { training: true },
  isAvailable: async () => ({ available: true, reason: 'always available (reference)' }),
  setup: () => tfSetBackend('cpu'),
};

/** Every browser engine, in priority order. */
export const webPlugins: readonly BackendPlugin[] = [webgpuPlugin, webglPlugin, wasmPlugin, cpuPlugin];

for (const plugin of webPlugins) registerBackend(plugin);
