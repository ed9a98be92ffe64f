/**
 * @resnet-ts/backend-node: backend plug-ins for Node, registered with core's backend registry on
 * import. `useBackend('auto')` then picks the highest-priority engine that really runs here:
 *
 *   tfjs-node-gpu (60) > tfjs-node (55) > webgpu on a GPU (50) > native oneDNN (40) > wasm (30)
 *   > webgpu on a software adapter (20) > cpu (10, the reference)
 */
import { registerBackend, BackendPlugin } from '@resnet-ts/core';
import { cpuPlugin } from './engines/cpu.js';
import { loadNativePlugin } from './engines/native.js';
import { tfjsNodeCpuPlugin, tfjsNodeGpuPlugin } from './engines/tfjs-node.js';
import { wasmPlugin } from './engines/wasm.js';
import { webgpuPlugin } from './engines/webgpu.js';

export { cpuPlugin } from './engines/cpu.js';
export { tfjsNodeCpuPlugin, tfjsNodeGpuPlugin } from './engines/tfjs-node.js';
export { wasmPlugin } from './engines/wasm.js';
export {
  webgpuPlugin,
  probeWebGpu,
  isSoftwareAdapter,
  WEBGPU_HARDWARE_PRIORITY,
  WEBGPU_SOFTWARE_PRIORITY,
  type WebGpuAdapterInfo,
} from './engines/webgpu.js';
export {
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeFastTile,
  makeMaxPoolGrad,
  registerMissingKernels,
} from '@resnet-ts/core';
export { silenceCpuBanner } from './quiet.js';
export { pinnedWorkerCpus } from './native/addon.js';
export { describeBackends, probeEngines, formatEngines, type EngineRow } from './describe.js';
export * as conformance from './conformance.js';
export * as bench from './bench.js';
export { PytorchPeer } from './bench-pytorch.js';

/** The oneDNN engine (or a stand-in saying why it could not load). */
export const nativePlugin: BackendPlugin = loadNativePlugin();

/** Every Node engine, in priority order. */
export const nodePlugins: readonly BackendPlugin[] = [
  tfjsNodeGpuPlugin,
  tfjsNodeCpuPlugin,
  webgpuPlugin,
  nativePlugin,
  wasmPlugin,
  cpuPlugin,
];

for (const plugin of nodePlugins) registerBackend(plugin);
