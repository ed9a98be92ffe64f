/** The `native` tfjs backend: the cpu backend's tensor storage and kernels, hot kernels in oneDNN. */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { DataId, DataType, backend_util } from '@tensorflow/tfjs-core';
import { pool } from './pool.js';
import type { NativeAddon } from './addon.js';
import { nativeCoreKernelConfigs, nativeKernelConfigs } from './kernels.js';
import { nativeGradKernelConfigs, registerNativeGradients } from './gradients.js';
import { optimizerKernelConfigs } from './kernels-optim.js';
import { registerInferenceCompiler, registerTrainingCompiler } from '@resnet-ts/core';
import { compileNativePlan } from './plan.js';
import { compileTrainingPlan } from './train-plan.js';
import { DeferredTransposeValues, deferredTransposeKernelConfigs } from './deferred-transpose.js';

export const NATIVE_BACKEND_NAME = 'native';

/**
 * Tensors live in the JS heap exactly as in the cpu backend (`data.get(id).values`), so the addon
 * reads and writes them in place and every kernel without a native version runs the cpu code.
 */
export class NativeBackend extends MathBackendCPU {
  constructor() {
    super();
    // No "install tfjs-node" banner: this backend is the native one.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  // Buffer recycling hooks (pool.ts): know when values are stored, read out and freed.
  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    pool.onStore(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: backend_util.BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    pool.onStore(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: DataId): backend_util.BackendValues {
    const v = super.readSync(dataId);
    pool.onRead(v);
    return v;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const entry = this.data.has(dataId) ? (this.data.get(dataId) as unknown) : undefined;
    // A deferred transpose's values are not pooled: reading them here would run the transpose.
    const values = entry && !(entry instanceof DeferredTransposeValues) ? (entry as { values: unknown }).values : undefined;
    const freed = super.disposeData(dataId, force);
    if (values !== undefined && !this.data.has(dataId)) pool.release(values);
    return freed;
  }

  override dispose(): void {
    pool.clear();
    super.dispose();
  }
}

const HUGE_PAGE = 2 * 1024 * 1024;

/**
 * `bytes` on transparent huge pages where the system gives them: a buffer 2 MiB larger than asked,
 * used from its first 2 MiB boundary, the whole 2 MiB pages of the array advised as huge
 * (native/huge_pages.cc; its tail stays on 4 KiB pages). The stretch before the array and after it is
 * never written, so it costs address space, not memory.
 * Measured: 3 % off a ResNet-20 training step at batch 128 (BENCHMARKS.md).
 */
function onHugePages(addon: NativeAddon, bytes: number): { buffer: ArrayBuffer; offset: number } {
  const buffer = Buffer.allocUnsafeSlow(bytes + HUGE_PAGE).buffer;
  return { buffer, offset: addon.adviseHugePages(buffer, bytes) };
}

let kernelsRegistered = false;

/** Registers the backend and its kernels with tfjs (once); returns false if it was already there. */
export function registerNativeBackend(addon: NativeAddon, priority: number): boolean {
  if (!kernelsRegistered) {
    for (const config of [
      ...nativeKernelConfigs(NATIVE_BACKEND_NAME, addon),
      ...nativeGradKernelConfigs(NATIVE_BACKEND_NAME, addon),
      ...nativeCoreKernelConfigs(NATIVE_BACKEND_NAME, addon),
      ...optimizerKernelConfigs(NATIVE_BACKEND_NAME, addon),
      ...deferredTransposeKernelConfigs(NATIVE_BACKEND_NAME, addon),
    ]) {
      if (tf.getKernel(config.kernelName, NATIVE_BACKEND_NAME) == null) tf.registerKernel(config);
    }
    // Fused backward passes for batch norm, relu, square and mean; other backends keep tfjs's own.
    registerNativeGradients(NATIVE_BACKEND_NAME);
    // Eval-mode ResNet forwards run as one compiled oneDNN plan (plan.ts); core falls back to the kernels.
    registerInferenceCompiler(NATIVE_BACKEND_NAME, (model, shape) => compileNativePlan(addon, model, shape));
    // Train-mode ResNet forwards (and their backward passes) run as one op over the same kernels (train-plan.ts).
    registerTrainingCompiler(NATIVE_BACKEND_NAME, (model, shape) => compileTrainingPlan(addon, model, shape));
    kernelsRegistered = true;
  }
  // Large kernel outputs on huge pages (native/huge_pages.cc) unless RESNET_TS_HUGE_PAGES=0.
  if (process.env.RESNET_TS_HUGE_PAGES !== '0') pool.largeAllocator = (bytes) => onHugePages(addon, bytes);
  if (tf.findBackendFactory(NATIVE_BACKEND_NAME) != null) return false;
  return tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(), priority);
}
