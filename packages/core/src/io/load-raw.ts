/**
 * The one loader that puts weights read from a file (a {@link RawStateDict}: torchvision names,
 * PyTorch layouts) into a model. Keys and shapes are checked by `Module.checkStateDict` before
 * anything changes; NaN/Inf are counted and handled by the non-finite policy (`io/finite`); then
 * `Module.loadStateDict` copies them in. Keys under a resnet-ts checkpoint's `extra_prefixes`
 * (optimizer state) are not model weights and are skipped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SpecError, StateDictError, fmtShape } from '../errors.js';
import type { LoadReport } from '../module.js';
import type { ResNet, ResNetSpec } from '../resnet.js';
import { hintConflicts } from './conventions.js';
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
  /**
   * The naming convention's `hints` (from `adaptStateDict`). With `strict`, architecture options
   * they imply that the model contradicts (e.g. option A 'split' vs 'after': same keys and shapes,
   * other outputs) are a SpecError before anything changes.
   */
  hints?: Partial<ResNetSpec>;
  /** The convention's name, for that error. */
  convention?: string;
  /**
   * Runs after the key and shape check and before anything changes; throw to refuse (the Node
   * loader checks a stored spec's architecture against the model's here).
   */
  beforeLoad?: () => void;
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

function list(xs: string[]): string {
  return xs.slice(0, 12).join(', ') + (xs.length > 12 ? `, ... (${xs.length} in all)` : '');
}

/** The one-line error of weights that do not fit a model: the first missing, unexpected and mis-shaped keys. */
export function weightsMismatchError(source: string | undefined, r: LoadReport): StateDictError {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing keys: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected keys: ${list(r.unexpected)}`);
  if (r.mismatched.length) {
    parts.push(
      'mis-shaped keys: ' +
        r.mismatched
          .slice(0, 12)
          .map((m) => `${m.key} (model ${fmtShape(m.expected)}, file ${fmtShape(m.found)})`)
          .join(', ') +
        (r.mismatched.length > 12 ? `, ... (${r.mismatched.length} in all)` : ''),
    );
  }
  return new StateDictError(
    `${source ? `The state dict in '${source}'` : 'The state dict'} does not match the model: ${parts.join('; ')}. Check that the file is for this architecture ` +
      '(block, depth, shortcut option, classes: --model and --classes on the command line, the model and classes options in the JS API), ' +
      'or take only what matches with { strict: false } in loadWeightsInto or loadRawStateDict (JS API only).',
    r.missing,
    r.unexpected,
    r.mismatched,
  );
}

/**
 * Loads `sd` into `model`. With `strict` (default) a mismatch is one {@link StateDictError} line
 * listing the first missing, unexpected and mis-shaped keys, and the model is left unchanged.
 */
export function loadRawStateDict(model: ResNet, sd: RawStateDict, options: LoadRawOptions = {}): LoadReport {
  const source = options.source;
  const extra = extraPrefixes(sd.metadata);
  const own = [...sd.tensors].filter(([name]) => !extra.includes(name.split('.')[0]));
  const check = model.checkStateDict(new Map(own.map(([name, t]) => [name, t.shape])), { layout: 'torch' });
  const problems = check.missing.length + check.unexpected.length + check.mismatched.length;
  if ((options.strict ?? true) && problems > 0) throw weightsMismatchError(source, check);
  const conflicts = (options.strict ?? true) ? hintConflicts(options.hints ?? {}, model.spec) : [];
  if (conflicts.length) {
    const who = `${source ? `'${source}'` : 'weights'}${options.convention ? ` (${options.convention} convention)` : ''}`;
    throw new SpecError(
      `${who}: the weights were trained with other architecture options than the model: ${conflicts.join('; ')}. ` +
        'Build the model with those options (inferSpec(stateDict, hints) does).',
    );
  }
  options.beforeLoad?.();
  const fits = new Set(check.loaded);
  const tally = new NonFiniteTally(source ?? 'weights', options.nonFinite ?? nonFinitePolicy());
  for (const [name, t] of own) if (fits.has(name) && t.dtype === 'float32') tally.add(name, t.data);
  // 'error' refuses before the model changes; 'warn' says it once the weights are in.
  if (tally.policy === 'error') tally.check(options.warn);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, t] of own) if (fits.has(name)) tensors.set(name, tf.tensor(t.data, t.shape, t.dtype));
    const report = model.loadStateDict(tensors, { strict: false, layout: 'torch' });
    if (tally.policy === 'warn') tally.check(options.warn);
    return { ...check, loaded: report.loaded };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
