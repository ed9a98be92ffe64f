import { SpecError } from '@resnet-ts/core';
import { ARCHITECTURES, Classifier, PretrainedOptions, defaultPreprocessing, createModel, getEntry, SpecOverrides, findPretrained } from '@resnet-ts/zoo';
import { NodeImageInput, decodeImageNode, fromPretrained, pretrainedWeightsPath } from '@resnet-ts/zoo/node';
import { ResNet, ResNetSpec } from '@resnet-ts/core';
import fs from 'node:fs';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';

/** Makes `name` ('auto' or an engine) the tfjs backend; returns the engine's name. */
export async function selectBackend(name = 'auto', training = false): Promise<string> {
  return useBackend(name, { training });
}

/** A mistake in how the command was called: printed without a stack trace. */
export class UserError extends Error {
  readonly isUserError = true;
}

/**
 * A model from a zoo name or a JSON spec file (`{"stem": "cifar", "stages": [...], ...}` or
 * `{"model": "resnet20", "overrides": {...}}`).
 */
export function loadModel(nameOrFile: string, overrides: SpecOverrides = {}): ResNet {
  if (nameOrFile.endsWith('.json') || fs.existsSync(nameOrFile)) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(nameOrFile, 'utf8'));
    } catch (e) {
      throw new UserError(`Cannot read spec file '${nameOrFile}': ${(e as Error).message}`);
    }
    const obj = json as { model?: string; overrides?: SpecOverrides } & Partial<ResNetSpec>;
    if (typeof obj.model === 'string') return createModel(obj.model, { ...obj.overrides, ...overrides });
    if (!obj.stages) throw new SpecError(`Spec file '${nameOrFile}' has neither "model" nor "stages".`);
    return new ResNet({ ...(obj as ResNetSpec), ...overrides });
  }
  getEntry(nameOrFile);
  return createModel(nameOrFile, overrides);
}

/** A spec from a zoo name or a JSON spec file (see {@link loadModel}), without building the model. */
export function loadSpec(nameOrFile: string, overrides: SpecOverrides = {}): ResNetSpec {
  const model = loadModel(nameOrFile, overrides);
  const spec = model.spec;
  model.dispose();
  return spec;
}

/** Whether `--model` names an architecture (zoo name or spec file) rather than weights. */
export function isArchitectureArg(arg: string): boolean {
  return arg.endsWith('.json') || ARCHITECTURES.some((e) => e.name === arg);
}

/** Whether `arg` names weights rather than an architecture: a shipped model, a URL, hf:owner/name or an existing non-JSON file. */
export function isWeightsSource(arg: string): boolean {
  if (findPretrained(arg) || /^(https?:\/\/|hf:)/i.test(arg)) return true;
  return !isArchitectureArg(arg) && fs.existsSync(arg);
}

/** How commands name a model and its weights: `--model`, `--weights`, `--classes`, `--timeout`. */
export interface WeightsSourceOptions {
  /** Zoo architecture, spec file, or (without `--weights`) a source: shipped name, file, URL, hf:owner/name. */
  model?: string;
  /** Weights source: file (safetensors, resnet-ts checkpoint, .pth), URL, hf:owner/name or shipped name. */
  weights?: string;
  /** Number of classes of the head (default: from the weights). */
  classes?: number;
  /** Download time limit in seconds (default 30). */
  timeout?: number;
}

function progressPrinter(): PretrainedOptions['onProgress'] {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return (e) => {
    if (!/^https?:/.test(e.source)) return;
    const pct = e.total ? Math.floor((100 * e.loaded) / e.total) : -1;
    if (pct === last && e.loaded !== e.total) return;
    last = pct;
    const done = e.total !== undefined && e.loaded >= e.total;
    process.stderr.write(`\rdownloading ${e.source}: ${pct >= 0 ? `${pct} %` : `${(e.loaded / 1e6).toFixed(1)} MB`}${done ? '\n' : ''}`);
  };
}

/**
 * The one way commands get a model with weights, its preprocessing and labels: `fromPretrained`
 * of @resnet-ts/zoo/node on `--weights` (any source) with `--model` as the architecture, or on
 * `--model` alone when it names weights (e.g. a shipped model). The model is in eval mode.
 */
export async function loadClassifier(opts: WeightsSourceOptions): Promise<Classifier<NodeImageInput>> {
  const source = opts.weights ?? (opts.model && isWeightsSource(opts.model) ? opts.model : undefined);
  if (!source && opts.model && !isArchitectureArg(opts.model)) getEntry(opts.model); // unknown name: the zoo's error lists the known ones
  if (!source) {
    throw new UserError(
      opts.model
        ? `'${opts.model}' is an architecture without weights: add --weights <file|URL|hf:owner/name>, or use a shipped model (resnet models).`
        : 'Give --weights <file|URL|hf:owner/name>, or --model with shipped weights (see `resnet models`).',
    );
  }
  const model = opts.weights && opts.model ? (opts.model.endsWith('.json') ? loadSpec(opts.model) : opts.model) : undefined;
  return fromPretrained(source, {
    model,
    classes: opts.classes,
    timeoutMs: opts.timeout !== undefined ? opts.timeout * 1000 : undefined,
    onProgress: progressPrinter(),
  });
}

/**
 * A classifier with random weights for `--model <architecture>` without weights (predict's smoke
 * test): warns on stderr that its predictions are random.
 */
export function untrainedClassifier(modelArg: string, classes?: number): Classifier<NodeImageInput> {
  process.stderr.write('resnet: warning: no --weights given: the model is untrained and its predictions are random.\n');
  const model = loadModel(modelArg, classes ? { numClasses: classes } : {}).eval();
  const labels = Array.from({ length: model.spec.numClasses }, (_, i) => String(i));
  return new Classifier(model, defaultPreprocessing(model.spec), labels, modelArg, decodeImageNode);
}

/**
 * The model of `--model`/`--weights` in eval mode (see {@link loadClassifier}); the caller disposes it.
 */
export async function loadModelWithWeights(modelArg: string | undefined, weights: string | undefined, options: Omit<WeightsSourceOptions, 'model' | 'weights'> = {}): Promise<ResNet> {
  return (await loadClassifier({ ...options, model: modelArg, weights })).model;
}

/**
 * `--model resnet20-fashion-mnist` (a zoo name with shipped weights) and no `--weights`: use the
 * shipped weights file, whose stored spec builds the model. Returns the options to use.
 */
export function withShippedWeights<O extends { model?: string; weights?: string }>(opts: O): O {
  if (!opts.model || opts.weights || !findPretrained(opts.model)) return opts;
  return { ...opts, model: undefined, weights: pretrainedWeightsPath(opts.model) };
}

