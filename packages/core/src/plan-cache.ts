/**
 * The cache behind compiled plans (inference-plan.ts, training-plan.ts): per model, one plan per
 * backend and input shape (the most recent few), all dropped and rebuilt when the model's key (what
 * the plans were built from) changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module.js';
import { ResidualBlock } from './block.js';

/** Plans kept per model (one per input shape, the most recent few). */
const MAX_SHAPES = 4;

/** The module tree and every block's lesion switches: what any plan of `model` depends on. */
export function structureKey(model: Module): unknown[] {
  const key: unknown[] = [];
  for (const [, m] of model.namedModules()) {
    key.push(m);
    if (m instanceof ResidualBlock) key.push(m.branchEnabled, m.branchScale);
  }
  return key;
}

const sameKey = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/** Plans of one kind, cached per model and input shape and keyed by `keyOf(model)`. */
export class PlanCache<P extends { dispose(): void }> {
  private readonly caches = new WeakMap<Module, { key: unknown[]; byShape: Map<string, P | null> }>();

  constructor(private readonly keyOf: (model: Module) => unknown[]) {}

  /** Frees the plans cached for `model`. */
  clear(model: Module): void {
    const cache = this.caches.get(model);
    if (!cache) return;
    this.caches.delete(model);
    for (const plan of cache.byShape.values()) plan?.dispose();
  }

  /** The plan for `model` and `shape` on the current backend, built by `build` (null: none applies) when needed. */
  get(model: Module, shape: number[], build: () => P | null): P | null {
    const key = this.keyOf(model);
    let cache = this.caches.get(model);
    if (cache && !sameKey(cache.key, key)) {
      this.clear(model);
      cache = undefined;
    }
    if (!cache) {
      cache = { key, byShape: new Map() };
      this.caches.set(model, cache);
    }
    const shapeKey = `${tf.getBackend()}:${shape.join('x')}`;
    if (!cache.byShape.has(shapeKey)) {
      if (cache.byShape.size >= MAX_SHAPES) {
        const [oldest, plan] = cache.byShape.entries().next().value as [string, P | null];
        plan?.dispose();
        cache.byShape.delete(oldest);
      }
      cache.byShape.set(shapeKey, build());
    }
    return cache.byShape.get(shapeKey) ?? null;
  }
}
