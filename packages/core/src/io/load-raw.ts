/**
 * The one loader that puts a {@link RawStateDict} (torchvision names, PyTorch layouts) into a model:
 * tensors are made, checked by `Module.loadStateDict` (strict key/shape check, `num_batches_tracked`
 * tolerated) and freed. Keys under a resnet-ts checkpoint's `extra_prefixes` (optimizer state) are
 * not model weights and are skipped. NaN/Inf in the weights are counted and handled by the
 * non-finite policy (core's `io/finite`), as every loader does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { StateDictError } from '../errors.js';
import type { LoadReport } from '../module.js';
import type { ResNet } from '../resnet.js';
import type { RawStateDict } from './weights.js';
import { NonFinitePolicy, NonFiniteTally, nonFinitePolicy } from './finite.js';

/** Options of {@link loadRawStateDict}. */
export interface LoadRawOptions {
  /** Throw on missing, unexpected or mis-shaped keys, before anything changes (default true). */
  strict?: boolean;
  /** Names the weights in error messages (a file name or URL). */
  source?: string;
  /**
   * Weights holding NaN or ±Inf: `'warn'` (one line), `'error'` (a `NonFiniteWeightsError`, before
   * anything changes) or `'ignore'`. Default: `nonFinitePolicy()` (`'warn'`).
   */
  nonFinite?: NonFinitePolicy;
  /** Where a non-finite warning goes (default `console.warn`). */
  warn?: (message: string) => void;
}

/** First name segments of extra (non-model) tensors, from resnet-ts checkpoint metadata. */
function extraPrefixes(metadata: Record<string, string>): string[] {
  try {
    const p = JSON.parse(metadata.extra_prefixes ?? '[]') as unknown;
    return Array.isArray(p) ? p.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Loads `sd` into `model`. With `strict` (default) a mismatch is one {@link StateDictError} line
 * listing the first missing, unexpected and mis-shaped keys, and the model is left unchanged.
 */
export function loadRawStateDict(model: ResNet, sd: RawStateDict, options: LoadRawOptions = {}): LoadReport {
  const extra = extraPrefixes(sd.metadata);
  const source = options.source ?? 'weights';
  const tally = new NonFiniteTally(source, options.nonFinite ?? nonFinitePolicy());
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, t] of sd.tensors) {
      if (extra.includes(name.split('.')[0])) continue;
      if (t.dtype === 'float32') tally.add(name, t.data);
      tensors.set(name, tf.tensor(t.data, t.shape, t.dtype));
    }
    // 'error' refuses before the model changes; 'warn' says it once the weights are in.
    if (tally.policy === 'error') tally.check(options.warn);
    const report = model.loadStateDict(tensors, { strict: options.strict ?? true, layout: 'torch' });
    if (tally.policy === 'warn') tally.check(options.warn);
    return report;
  } catch (e) {
    if (e instanceof StateDictError && options.source) {
      throw new StateDictError(`${options.source}: ${e.message}`, e.missing, e.unexpected, e.mismatched);
    }
    throw e;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
