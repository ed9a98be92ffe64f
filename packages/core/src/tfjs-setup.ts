/**
 * Makes `tf.grad` and chained tensor methods work in every environment, once, for every user of
 * resnet-ts. See scripts/bundle-tfjs-gradients.mjs for why a generated bundle is needed.
 */
import * as tf from '@tensorflow/tfjs-core';

const MARK = '__resnetTsGradientsRegistered';

export function ensureGradientsRegistered(): void {
  const g = globalThis as Record<string, unknown>;
  if (g[MARK]) return;
  // RealDiv is the canary ENVIRONMENT.md names: absent on tfjs-core's Node entry.
  if (!tf.getGradient('RealDiv')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../generated/tfjs-gradients.cjs');
  }
  g[MARK] = true;
}

ensureGradientsRegistered();
