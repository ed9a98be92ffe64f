/**
 * Silences tfjs's one-time "Hi, looks like you are running TensorFlow.js in Node.js" banner: the cpu
 * backend prints it (console.warn) on its first tensor write when `firstUse` is still true. We
 * re-register the cpu backend factory so that every instance starts with `firstUse = false`.
 */
import * as tf from '@tensorflow/tfjs-core';

const MARK = '__resnetTsCpuBannerSilenced';

/**
 * Stops tfjs's cpu backend from printing its "looks like you are running TensorFlow.js in Node.js"
 * banner: marks an already created cpu backend as used, or re-registers the cpu backend factory
 * (same priority) so new instances start with `firstUse = false`. Idempotent (runs once per process).
 */
export function silenceCpuBanner(): void {
  const g = globalThis as Record<string, unknown>;
  if (g[MARK]) return;
  g[MARK] = true;
  const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu') as typeof import('@tensorflow/tfjs-backend-cpu');
  const engine = tf.engine() as unknown as { registry: Record<string, unknown>; registryFactory: Record<string, { priority: number }> };
  const existing = engine.registry['cpu'] as { firstUse?: boolean } | undefined;
  if (existing) {
    existing.firstUse = false;
    return;
  }
  const priority = engine.registryFactory['cpu']?.priority ?? 1;
  tf.removeBackend('cpu');
  tf.registerBackend(
    'cpu',
    () => {
      const backend = new MathBackendCPU();
      (backend as unknown as { firstUse: boolean }).firstUse = false;
      return backend;
    },
    priority,
  );
}
