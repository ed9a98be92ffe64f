/**
 * Naming conventions: how other ResNet code names its state-dict entries, mapped to torchvision's
 * names (the names resnet-ts modules use). Each convention is a plug-in that registers itself;
 * {@link adaptStateDict} picks the one that fits a state dict's keys best, renames, and returns the
 * architecture options the convention implies (e.g. option A's zero-padding placement).
 */
import { FormatError, RegistryError } from '../errors.js';
import type { ResNetSpec } from '../resnet.js';
import type { RawStateDict, RawTensor } from './weights.js';

/** A naming convention plug-in. */
export interface WeightsConvention {
  /** Registry name, e.g. `torchvision`, `timm`, `cifar`, `hf-transformers`. */
  name: string;
  /** One line for listings: whose code names weights this way. */
  description?: string;
  /** How well these keys fit, from 0 (not at all) to 1 (every key is one this convention names). */
  match(keys: string[]): number;
  /** The same tensors under torchvision names and layouts (OIHW conv, [out, in] linear). */
  toTorchvision(sd: RawStateDict): RawStateDict;
  /** Architecture options the checkpoint implies beyond what its shapes say. */
  hints?(sd: RawStateDict): Partial<ResNetSpec>;
}

/** What {@link adaptStateDict} returns. */
export interface AdaptedStateDict {
  /** The convention that was applied. */
  convention: string;
  /** Tensors under torchvision names. */
  stateDict: RawStateDict;
  /** Architecture options for `inferSpec` (empty when the convention implies none). */
  hints: Partial<ResNetSpec>;
}

const conventions = new Map<string, WeightsConvention>();

/** Registers a naming convention (a plug-in calls this when imported). Re-registering replaces. */
export function registerConvention(c: WeightsConvention): void {
  conventions.set(c.name, c);
}

/** The registered conventions, in registration order. */
export function listConventions(): WeightsConvention[] {
  return [...conventions.values()];
}

function getConvention(name: string): WeightsConvention {
  const c = conventions.get(name);
  if (!c) {
    throw new RegistryError(
      `Unknown weights convention '${name}'. Registered conventions: ${[...conventions.keys()].join(', ') || 'none'}.`,
      'UNKNOWN_CONVENTION',
    );
  }
  return c;
}

/**
 * Renames the keys of `sd` to torchvision's names. `convention` forces one; otherwise the best
 * match wins (ties go to the one registered first: torchvision). Keys no convention recognises
 * are a FormatError that lists a few of them.
 */
export function adaptStateDict(sd: RawStateDict, options: { convention?: string } = {}): AdaptedStateDict {
  const keys = [...sd.tensors.keys()];
  let chosen: WeightsConvention | undefined;
  if (options.convention) chosen = getConvention(options.convention);
  else {
    let best = 0;
    for (const c of conventions.values()) {
      const score = c.match(keys);
      if (score > best) [best, chosen] = [score, c];
    }
  }
  if (!chosen) {
    throw new FormatError(
      `The weights' names fit none of the known ResNet conventions (${[...conventions.keys()].join(', ')}); ` +
        `first keys: ${keys.slice(0, 5).join(', ')}. Save the state dict under torchvision's names (conv1, bn1, layerN.M.convK/bnK/downsample, fc); ` +
        'in the JS API, { convention } forces one of these conventions (the command line has no such option).',
    );
  }
  return { convention: chosen.name, stateDict: chosen.toTorchvision(sd), hints: chosen.hints?.(sd) ?? {} };
}

/** How well `keys` fit the registered convention that fits them best (0: none fits at all, 1: one names every key). */
export function bestConventionFit(keys: string[]): number {
  let best = 0;
  for (const c of conventions.values()) best = Math.max(best, c.match(keys));
  return best;
}

/** The fraction of `keys` that `pattern` matches (0 for no keys). */
export function fractionMatching(keys: string[], pattern: RegExp): number {
  return keys.length ? keys.filter((k) => pattern.test(k)).length / keys.length : 0;
}

/**
 * `sd` with every key passed through `rename` (which returns the new name, or throws a FormatError
 * for a key it cannot map). Two keys mapping to one name is an error.
 */
export function renameKeys(sd: RawStateDict, rename: (key: string) => string): RawStateDict {
  const tensors = new Map<string, RawTensor>();
  for (const [k, t] of sd.tensors) {
    const name = rename(k);
    if (tensors.has(name)) throw new FormatError(`Two weights map to the name '${name}' (one of them is '${k}').`);
    tensors.set(name, t);
  }
  return { ...sd, tensors };
}

/**
 * Torchvision's ResNet state-dict names (the names resnet-ts modules use), with resnet-ts's additions:
 * option D's `downsample.0/1/2` (timm's names) and the pre-activation nets' final norm `bn`.
 */
export const TORCHVISION_KEY =
  /^(conv1\.(weight|bias)|bn1\.(weight|bias|running_mean|running_var|num_batches_tracked)|layer\d+\.\d+\.(conv\d|bn\d)\.(weight|bias|running_mean|running_var|num_batches_tracked)|layer\d+\.\d+\.downsample\.[012]\.(weight|bias|running_mean|running_var|num_batches_tracked)|bn\.(weight|bias|running_mean|running_var|num_batches_tracked)|fc\.(weight|bias))$/;

/** A value in a canonical JSON form (object keys sorted), for comparing spec fields. */
function canonical(v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

/**
 * The architecture options a convention's `hints` imply that a model built otherwise contradicts,
 * as `field: weights X, model Y` phrases (empty when they agree). Loading such weights would run
 * without error and give other outputs (e.g. option A padded 'split' vs 'after'), so loaders refuse.
 * `model` is the model's resolved spec.
 */
export function hintConflicts(hints: Partial<ResNetSpec>, model: ResNetSpec): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(hints)) {
    if (want === undefined || ['seed', 'inputSize', 'zeroInitResidual'].includes(key)) continue;
    // Stride placement only changes bottleneck blocks.
    if (key === 'strideMode' && !model.stages.some((s) => s.block.includes('bottleneck'))) continue;
    const have = (model as unknown as Record<string, unknown>)[key];
    if (canonical(want) !== canonical(have ?? (key === 'shortcutParams' ? {} : undefined))) {
      out.push(`${key}: weights ${canonical(want)}, model ${canonical(have)}`);
    }
  }
  return out;
}
