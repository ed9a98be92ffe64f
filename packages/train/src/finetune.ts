/**
 * Fine-tuning: a model started from pretrained weights (any source `fromPretrained` accepts: a
 * shipped zoo name, a file, an http(s) URL, `hf:owner/name`) with its head replaced for the new
 * classes, and parts of it frozen (excluded from the gradient and the optimizer, their batch norms
 * kept in eval mode so their running statistics never change).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, ResNet, fmtValue } from '@resnet-ts/core';
import type { Module } from '@resnet-ts/core';
import type { Classifier, ImagePreprocessing } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { TrainError } from './errors.js';
import { classKey, hasClassNames } from './data/classes.js';

/**
 * Which part of a ResNet is frozen: `none`; `stem` (what comes before layer1: conv1, bn1);
 * `up-to:layerK` (the stem and stages layer1 to layerK); `backbone` (everything but the classifier
 * head `fc`, a pre-activation net's final batch norm included).
 */
export type FreezeSpec = 'none' | 'stem' | 'backbone' | `up-to:layer${number}`;

const FREEZE_SYNTAX = /^(none|stem|backbone|up-to:layer([1-9]\d*))$/;

/** Whether `text` is a {@link FreezeSpec} (syntax only; {@link applyFreeze} checks the stage exists). */
export function isFreezeSpec(text: string): text is FreezeSpec {
  return FREEZE_SYNTAX.test(text);
}

/** The module-name prefixes `freeze` covers in `model` (torchvision names: conv1, bn1, layerN, fc). */
export function frozenPrefixes(model: Module, freeze: FreezeSpec): string[] {
  if (!isFreezeSpec(freeze)) throw new TrainError(`freeze must be none, stem, up-to:layerK or backbone; got '${freeze}'.`, 'OPTIONS');
  const top = model.children().map(([name]) => name);
  const stages = top.filter((n) => /^layer\d+$/.test(n));
  if (freeze === 'none') return [];
  if (freeze === 'backbone') return top.filter((n) => n !== 'fc');
  // The stem is what comes before the first stage: a pre-activation net's final batch norm (`bn`,
  // after the last stage) is not part of it, nor of up-to:layerK; only `backbone` freezes it.
  const first = top.findIndex((n) => /^layer\d+$/.test(n));
  const stem = (first < 0 ? top : top.slice(0, first)).filter((n) => n !== 'fc' && n !== 'avgpool');
  if (freeze === 'stem') return stem;
  const k = Number(FREEZE_SYNTAX.exec(freeze)![2]);
  if (k > stages.length)
    throw new TrainError(`freeze up-to:layer${k}: the model has ${stages.length} stages (layer1 to layer${stages.length}).`, 'OPTIONS');
  return [...stem, ...stages.slice(0, k)];
}

/** What {@link applyFreeze} did. */
export interface FrozenParts {
  /** The parameters left to train (named as in the state dict): give these to the gradient and the optimizer. */
  trainable: [string, tf.Variable][];
  /** Names of the frozen parameters. */
  frozen: string[];
  /** Number of batch-norm layers whose statistics are frozen. */
  frozenBatchNorms: number;
}

const under = (name: string, prefixes: string[]) => prefixes.some((p) => name === p || name.startsWith(`${p}.`));

/**
 * Freezes the part of `model` that `freeze` names: its batch norms get `frozenStatistics` (eval mode
 * inside a training step: running statistics used, never updated) and its parameters are left out of
 * the returned `trainable` list. `none` unfreezes every batch norm. Refuses to freeze everything.
 */
export function applyFreeze(model: Module, freeze: FreezeSpec = 'none'): FrozenParts {
  const prefixes = frozenPrefixes(model, freeze);
  let frozenBatchNorms = 0;
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    m.frozenStatistics = under(name, prefixes);
    if (m.frozenStatistics) frozenBatchNorms++;
  }
  const named = model.namedParameters();
  const trainable = named.filter(([name]) => !under(name, prefixes));
  if (trainable.length === 0) throw new TrainError(`freeze '${freeze}' leaves no parameter to train.`, 'OPTIONS');
  return { trainable, frozen: named.filter(([name]) => under(name, prefixes)).map(([n]) => n), frozenBatchNorms };
}

/** Options of {@link initFromPretrained}. */
export interface InitOptions {
  /**
   * The class names of the new task: the head gets one output per name. Or their number, as
   * `fromPretrained` takes it: the source's head and labels when it has that many outputs, else a new
   * head whose labels are the output numbers ('0', '1', ...).
   */
  classes: string[] | number;
  /** Input channels of the data (default: the source's). 3-channel weights adapt to 1 channel (see {@link initFromPretrained}). */
  channels?: number;
  /** Seed of the new head's initialisation (default 0). */
  seed?: number;
  /** Download time limit for URL and hf: sources, in ms. */
  timeoutMs?: number;
  /** Cancels the download of a URL or hf: source when aborted (see the zoo's `PretrainedOptions.signal`). */
  signal?: AbortSignal;
  /** Notes (head replaced, input conv adapted). */
  log?: (message: string) => void;
}

/** A model started from pretrained weights, ready to fine-tune. */
export interface InitializedModel {
  /** In train mode; the caller disposes it. */
  model: ResNet;
  /** The source's preprocessing (normalisation, input size), adapted to `channels`: train and store with it. */
  preprocessing: ImagePreprocessing;
  /**
   * Whether the classifier head was replaced by a freshly initialised one. It is kept when every class
   * of the data is one of the source's by name: as it is for the same classes in the same order, else
   * with the outputs for the data's classes picked in the data's order (a note says so).
   */
  headReplaced: boolean;
  /** The source's class names. */
  sourceLabels: string[];
}

/** Sums a 3-channel input conv over its input channels (timm's `adapt_input_conv` for 1 channel). */
function sumInputChannels(model: ResNet, spec: ResNet['spec']): ResNet {
  const gray = new ResNet({ ...spec, inChannels: 1 });
  const sd = model.stateDict();
  try {
    const w = sd.get('conv1.weight')!; // HWIO
    sd.set('conv1.weight', tf.sum(w, 2, true));
    w.dispose();
    gray.loadStateDict(sd, { strict: true });
  } finally {
    tf.dispose([...sd.values()]);
  }
  return gray;
}

/**
 * A model of `spec` with `numClasses` outputs and every weight from `model` but the head's: with
 * `rows`, the head keeps the source's outputs at those indices (in that order); without, it is new,
 * initialised as torchvision's nn.Linear.
 */
function newHead(model: ResNet, numClasses: number, seed: number, rows?: number[]): ResNet {
  const fresh = new ResNet({ ...model.spec, numClasses, seed });
  const sd = model.stateDict();
  try {
    for (const k of [...sd.keys()]) {
      if (!k.startsWith('fc.')) continue;
      const old = sd.get(k)!;
      // tfjs layout: fc.weight is [in, out], fc.bias [out].
      if (rows) sd.set(k, tf.tidy(() => tf.gather(old, tf.tensor1d(rows, 'int32'), old.rank - 1)));
      else sd.delete(k);
      old.dispose();
    }
    const r = fresh.loadStateDict(sd, { strict: false });
    const missing = r.missing.filter((k) => rows || !k.startsWith('fc.'));
    if (missing.length || r.unexpected.length || r.mismatched.length) {
      const keys = [...missing, ...r.unexpected, ...r.mismatched.map((m) => m.key)];
      throw new TrainError(`Cannot move the pretrained weights into a ${numClasses}-class model: ${keys.slice(0, 5).join(', ')} do not fit.`, 'OPTIONS');
    }
  } catch (e) {
    fresh.dispose();
    throw e;
  } finally {
    tf.dispose([...sd.values()]);
  }
  return fresh;
}

/**
 * Where each of `classes` is among `labels`, compared as `eval` pairs folders with outputs (ignoring
 * case and punctuation: folder `T-shirt_top` is label `T-shirt/top`), when every class is there, each
 * at its own output; else undefined. Labels that are output numbers ('0', '1', ...) name nothing.
 */
function outputsByName(labels: string[], classes: string[]): number[] | undefined {
  if (!hasClassNames(labels)) return undefined;
  const keys = labels.map(classKey);
  if (new Set(keys).size !== keys.length) return undefined;
  const rows = classes.map((c) => keys.indexOf(classKey(c)));
  return rows.every((r) => r >= 0) && new Set(rows).size === rows.length ? rows : undefined;
}

/** The class names `classes` gives (see `InitOptions.classes`); a {@link TrainError} for anything else. */
function classNames(classes: unknown, sourceLabels: string[]): string[] {
  if (Array.isArray(classes) && classes.every((c) => typeof c === 'string')) return classes as string[];
  if (typeof classes === 'number' && Number.isInteger(classes) && classes >= 2)
    return classes === sourceLabels.length ? sourceLabels : Array.from({ length: classes }, (_, i) => String(i));
  throw new TrainError(
    `classes must be the new task's class names (an array of strings) or their number (a whole number of at least 2); got ${fmtValue(classes)}.`,
    'OPTIONS',
  );
}

/** Options of {@link adaptPretrained}: {@link InitOptions} without the download's. */
export type AdaptOptions = Omit<InitOptions, 'timeoutMs' | 'signal'>;

/**
 * Makes a loaded classifier (from `fromPretrained`) a model for `options.classes` (see
 * {@link initFromPretrained}); takes ownership of `clf`'s model (disposed when replaced).
 */
export function adaptPretrained(clf: Classifier<unknown>, options: AdaptOptions): InitializedModel {
  const log = options.log ?? (() => {});
  const source = clf.source;
  let model = clf.model;
  let preprocessing: ImagePreprocessing = { ...clf.preprocessing };
  const sourceLabels = [...clf.labels];
  let classes: string[];
  try {
    classes = classNames(options.classes, sourceLabels);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const same = sourceLabels.length === classes.length && sourceLabels.every((l, i) => l === classes[i]);
  // The data's classes among the source's outputs by name (reordered, or a subset): that part of the head is kept.
  const rows = same ? undefined : outputsByName(sourceLabels, classes);
  const headReplaced = !same && !rows;
  try {
    if (classes.length < 2) throw new TrainError(`A classifier needs at least 2 classes; got ${classes.length}.`, 'OPTIONS');
    const have = model.spec.inChannels;
    const want = options.channels ?? have;
    if (want !== have) {
      if (!(have === 3 && want === 1))
        throw new TrainError(`'${source}' takes ${have}-channel images; the data has ${want} channel(s). Use --channels ${have}.`, 'OPTIONS');
      const gray = sumInputChannels(model, model.spec);
      model.dispose();
      model = gray;
      const avg = (xs: number[]) => [xs.reduce((a, b) => a + b, 0) / xs.length];
      preprocessing = { ...preprocessing, channels: 1, mean: avg(preprocessing.mean), std: avg(preprocessing.std) };
      log(`note: '${source}' takes RGB: its first conv is summed over the colour channels for 1-channel images (as timm)`);
    }
    if (headReplaced || rows) {
      const fresh = newHead(model, classes.length, options.seed ?? 0, rows);
      model.dispose();
      model = fresh;
      if (rows) {
        const which = classes.length === sourceLabels.length ? 'in the data\'s order' : `for the data's ${classes.length} of its ${sourceLabels.length} classes`;
        log(`note: kept the source's head, its outputs picked by class name ${which}`);
      } else {
        log(`note: new ${classes.length}-class head (the source has ${sourceLabels.length} outputs${sourceLabels.length === classes.length ? ' for other classes' : ''})`);
      }
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model: model.train(), preprocessing, headReplaced, sourceLabels };
}

/**
 * Loads `source` with `fromPretrained` and makes it a model for `options.classes`: the head is kept
 * when every class is one of the source's labels (its outputs picked by name, in the classes'
 * order), else replaced by a new `fc` initialised as torchvision's `nn.Linear` (uniform ±1/sqrt(in)). A 3-channel source used on
 * 1-channel data has its first conv summed over the input channels (as timm does) and the mean of
 * its per-channel means and standard deviations as normalisation; any other channel mismatch is an
 * error.
 */
export async function initFromPretrained(source: string, options: InitOptions): Promise<InitializedModel> {
  const clf = await fromPretrained(source, { timeoutMs: options.timeoutMs, signal: options.signal });
  return adaptPretrained(clf, options);
}
