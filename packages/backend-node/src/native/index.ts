/**
 * The `native` backend plug-in: tfjs kernels in oneDNN through a Node-API addon
 * (native/*.cc, built by scripts/build-native.mjs when libdnnl-dev is installed).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendAvailability, BackendPlugin } from '@resnet-ts/core';
import '@resnet-ts/core';
import { loadAddon, requireAddon } from './addon.js';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';

export { NativeBackend, NATIVE_BACKEND_NAME, registerNativeBackend } from './backend.js';
export { NATIVE_KERNELS, kernelStats, setKernelStats, nativeDisabled } from './kernels.js';
export {
  addonPath,
  loadAddon,
  pinnedWorkerCpus,
  shouldPinWorkers,
  type NativeAddon,
  type NativePlanHandle,
  type NativePlanInfo,
} from './addon.js';
export { NativePlan, compileNativePlan, lastPlanFallback, setNativeWinograd } from './plan.js';
export { pool as nativeBufferPool } from './pool.js';
export { NativeTrainingPlan, compileTrainingPlan, lastTrainingPlanFallback, trainingPlanRuns } from './train-plan.js';

export const NATIVE_PRIORITY = 40;
export const NATIVE_INSTALL_HINT = 'apt-get install libdnnl-dev, then npm rebuild @resnet-ts/backend-node';

/** Whether the oneDNN addon is built and loads. */
export function isNativeAvailable(): boolean {
  return loadAddon().addon != null;
}

export const nativePlugin: BackendPlugin = {
  name: NATIVE_BACKEND_NAME,
  priority: NATIVE_PRIORITY,
  description: 'oneDNN kernels (conv, matmul, pooling, batch norm, elementwise) in a Node-API addon; other ops run the tfjs cpu code',
  capabilities: { training: true },
  async isAvailable(): Promise<BackendAvailability> {
    const { addon, error } = loadAddon();
    if (!addon) return { available: false, reason: error, install: NATIVE_INSTALL_HINT };
    return { available: true, reason: `oneDNN ${addon.version()}` };
  },
  async setup(): Promise<void> {
    registerNativeBackend(requireAddon(), NATIVE_PRIORITY);
    const ok = await tf.setBackend(NATIVE_BACKEND_NAME);
    if (!ok) throw new Error('tfjs could not initialise the native backend');
    await tf.ready();
  },
};
