/**
 * Makes `tf.grad` and chained tensor methods work in every environment, once, for every user of
 * resnet-ts. See scripts/bundle-tfjs-gradients.mjs for why a generated bundle is needed.
 */
import * as tf from '@tensorflow/tfjs-core';

const MARK = '__resnetTsGradientsRegistered';

/**
 * Registers tfjs-core's gradients and chained tensor methods on the app's tfjs (once; a no-op if
 * they are already there). Runs when `@resnet-ts/core` is imported.
 */
export function ensureGradientsRegistered(): void {
  const g = globalThis as Record<string, unknown>;
  if (g[MARK]) return;
  // RealDiv is the canary ENVIRONMENT.md names: absent on tfjs-core's Node entry.
  if (!tf.getGradient('RealDiv')) {
    require('../generated/tfjs-gradients.cjs');
  }
  g[MARK] = true;
}

ensureGradientsRegistered();
