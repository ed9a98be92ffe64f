/**
 * Checks of the options a JS caller gives the library (`SGD`, `train`, `evaluate`, `predict`): each
 * refusal is one {@link TrainError} line saying what was given, what is allowed and what to do.
 */
import { fmtValue } from '@resnet-ts/core';
import type { Augmentation } from './batches.js';
import { TrainError } from './errors.js';
import type { SGDOptions } from './optimizer.js';

/** An allowed value, as a caller writes it in JS (`'linear'`, `false`), for the "it must be ..." of a message. */
function literal(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/** What a number must be. */
interface NumberRule {
  /** Lowest allowed value (inclusive unless `above`). */
  min?: number;
  /** Lowest value, exclusive. */
  above?: number;
  max?: number;
  integer?: boolean;
}

function ruleText(r: NumberRule): string {
  const parts = [
    r.min !== undefined ? `>= ${r.min}` : '',
    r.above !== undefined ? `> ${r.above}` : '',
    r.max !== undefined ? `<= ${r.max}` : '',
  ];
  const range = parts.filter(Boolean).join(' and ');
  return `${r.integer ? 'a whole number' : 'a finite number'}${range ? ` ${range}` : ''}`;
}

/** Whether `v` is a number that `r` allows. */
export function allowed(v: unknown, r: NumberRule): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (r.integer && !Number.isInteger(v))) return false;
  return !(r.min !== undefined && v < r.min) && !(r.above !== undefined && v <= r.above) && !(r.max !== undefined && v > r.max);
}

/** Throws when the option `name` is given (not undefined) and is not a number `r` allows; `fix` says what to do. */
export function checkNumber(name: string, v: unknown, r: NumberRule, fix: string): void {
  if (v === undefined || allowed(v, r)) return;
  throw new TrainError(`${name} is ${fmtValue(v)}; it must be ${ruleText(r)}: ${fix}.`, 'OPTIONS');
}

/** Throws when the option `name` is given and is none of `values`. */
export function checkChoice(name: string, v: unknown, values: readonly unknown[], fix: string): void {
  if (v === undefined || values.includes(v)) return;
  throw new TrainError(`${name} is ${fmtValue(v)}; it must be ${values.map(literal).join(' or ')}: ${fix}.`, 'OPTIONS');
}

/**
 * The options `torch.optim.SGD` refuses, and the ones it has no use for: `lr`, `momentum` and
 * `weightDecay` finite and >= 0, `dampening` in [0, 1], `nesterov` a boolean (with momentum > 0 and no
 * dampening), `decay` 'all' or 'no-bn-bias'. The names of `lrScale` are checked by `SGD` itself.
 */
export function checkSGDOptions(o: Pick<SGDOptions, 'lr' | 'momentum' | 'dampening' | 'weightDecay' | 'nesterov' | 'decay'>): void {
  checkNumber('lr', o.lr, { min: 0 }, 'give e.g. 0.1 (a negative rate climbs the loss)');
  checkNumber('momentum', o.momentum, { min: 0 }, 'give e.g. 0.9, or 0 for none (as torch.optim.SGD)');
  checkNumber('dampening', o.dampening, { min: 0, max: 1 }, 'give 0 (the default) or a fraction');
  checkNumber('weightDecay', o.weightDecay, { min: 0 }, 'give e.g. 1e-4, or 0 for none (as torch.optim.SGD)');
  checkChoice('nesterov', o.nesterov, [true, false], 'give true or false');
  checkChoice('decay', o.decay, ['all', 'no-bn-bias'], "give 'all' (every parameter) or 'no-bn-bias' (not batch norms and biases)");
  if (o.nesterov && !((o.momentum ?? 0) > 0 && (o.dampening ?? 0) === 0))
    throw new TrainError(
      `nesterov is true with momentum ${o.momentum ?? 0} and dampening ${o.dampening ?? 0}; Nesterov momentum needs a momentum > 0 and dampening 0 (as PyTorch): give a momentum such as 0.9, or nesterov false.`,
      'OPTIONS',
    );
}

/**
 * The augmentation `train` can apply: `pad` a whole number of pixels >= 0, `flip` a boolean, and a
 * `resizedCrop` with `scale` in (0, 1] and `ratio` > 0, each [low, high] with low <= high.
 */
export function checkAugmentation(a: Augmentation | false | undefined): void {
  if (a === undefined || a === false) return;
  if (!a || typeof a !== 'object')
    throw new TrainError(
      `augment is ${fmtValue(a)}; it must be false or { pad, flip, resizedCrop? }: give e.g. { pad: 4, flip: true }.`,
      'OPTIONS',
    );
  checkNumber('augment.pad', a.pad, { min: 0, integer: true }, 'give the pixels of padding before the random crop, e.g. 4, or 0 for none');
  if (a.pad === undefined)
    throw new TrainError('augment.pad is missing; it must be a whole number >= 0: give e.g. 4, or 0 for none.', 'OPTIONS');
  checkChoice('augment.flip', a.flip, [true, false], 'give true (random horizontal flips) or false (e.g. for digits)');
  if (a.flip === undefined)
    throw new TrainError('augment.flip is missing; it must be true or false: give true, or false for digits.', 'OPTIONS');
  if (a.resizedCrop === undefined) return;
  const pair = (name: string, v: unknown, r: NumberRule, fix: string) => {
    const ok = Array.isArray(v) && v.length === 2 && allowed(v[0], r) && allowed(v[1], r) && v[0] <= v[1];
    if (!ok)
      throw new TrainError(
        `augment.resizedCrop.${name} is ${fmtValue(v)}; it must be [low, high] with low <= high, each ${ruleText(r)}: ${fix}.`,
        'OPTIONS',
      );
  };
  pair('scale', a.resizedCrop?.scale, { above: 0, max: 1 }, 'give e.g. [0.08, 1] (fractions of the area)');
  pair('ratio', a.resizedCrop?.ratio, { above: 0 }, 'give e.g. [0.75, 1.3333] (width/height)');
  if (a.resizedCrop && a.pad !== 0)
    throw new TrainError(
      `augment.pad is ${a.pad} with resizedCrop; a random-resized crop takes no padding: give pad 0, or leave out resizedCrop.`,
      'OPTIONS',
    );
}
