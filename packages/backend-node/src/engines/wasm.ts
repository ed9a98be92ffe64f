import { BackendAvailability, BackendPlugin } from '@resnet-ts/core';
import { registerMissingKernels } from '@resnet-ts/core';
import { silenceCpuBanner } from '../quiet.js';
import { isInstalled, setTfBackend } from './util.js';

// A wasm module using a SIMD instruction (i8x16.splat of 0): validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/**
 * tfjs's wasm backend (XNNPACK, SIMD). In Node it runs on one thread: tfjs turns wasm threads off
 * in Node (see BENCHMARKS.md, "wasm threads in Node"). We add the Conv2DBackpropFilter kernel it
 * lacks, so it trains.
 */
export const wasmPlugin: BackendPlugin = {
  name: 'wasm',
  priority: 30,
  description: 'tfjs wasm backend: XNNPACK, SIMD, one thread in Node',
  capabilities: { training: true },
  isAvailable: async (): Promise<BackendAvailability> => {
    if (!isInstalled('@tensorflow/tfjs-backend-wasm')) {
      return {
        available: false,
        reason: '@tensorflow/tfjs-backend-wasm is not installed',
        install: 'npm install @tensorflow/tfjs-backend-wasm@^4.22.0',
      };
    }
    if (typeof WebAssembly !== 'object')
      return { available: false, reason: 'this JavaScript runtime has no WebAssembly', install: 'use Node >= 20' };
    const simd = WebAssembly.validate(SIMD_PROBE);
    return { available: true, reason: simd ? 'SIMD, 1 thread' : 'no SIMD: the plain wasm build (slower)' };
  },
  setup: async () => {
    require('@tensorflow/tfjs-backend-wasm');
    // The kernels added here compute NaN/Inf cases on the cpu backend: its first use must not print tfjs's Node banner.
    registerMissingKernels('wasm');
    silenceCpuBanner();
    await setTfBackend('wasm', 'wasm');
  },
};
