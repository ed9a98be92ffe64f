import { SpecError, closestNames } from '@resnet-ts/core';
import {
  ARCHITECTURES,
  EMPTY_IMAGE_FILE,
  Classifier,
  ImageDecodeError,
  ImagePreprocessing,
  PRETRAINED,
  PretrainedOptions,
  createModel,
  SpecOverrides,
  findPretrained,
  NotAnImageModelError,
} from '@resnet-ts/zoo';
import { NodeImageInput, fromPretrained, modelFromPretrained, pretrainedWeightsPath } from '@resnet-ts/zoo/node';
import { ResNet, ResNetSpec } from '@resnet-ts/core';
import { fileError } from '@resnet-ts/core/node';
import fs from 'node:fs';
import path from 'node:path';
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
 * An error's message as a `resnet:` line says it: the zoo's image decode errors without their advice
 * to give a tensor instead, which no command takes (`ImageDecodeError.fileMessage`); others as they are.
 */
export function errorLine(e: Error): string {
  return e instanceof ImageDecodeError ? e.fileMessage : e.message;
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
  if (!isArchitectureArg(nameOrFile)) throw unknownModel(nameOrFile);
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
  /** Fields of the preprocessing to use instead of the stored or default ones (see preprocessing-options.ts). */
  preprocessing?: Partial<ImagePreprocessing>;
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
  return fromPretrained(...pretrainedArguments(opts)).catch((e: unknown) => {
    throw (opts.preprocessing && channelCountError(e)) || e;
  });
}

/**
 * The weights as a classifier where images can feed them, else their network alone (2, 4 or more
 * input channels), for commands that take both kinds (`export-onnx`, `summary`). Preprocessing flags
 * for a network that images cannot feed are refused.
 */
export async function loadClassifierOrNetwork(
  opts: WeightsSourceOptions,
): Promise<{ model: ResNet; classifier?: Classifier<NodeImageInput> }> {
  try {
    const classifier = await loadClassifier(opts);
    return { model: classifier.model, classifier };
  } catch (e) {
    if (!(e instanceof NotAnImageModelError)) throw e;
    if (opts.preprocessing) {
      const given = Object.keys(opts.preprocessing).map((k) => `--${k}`);
      throw new UserError(
        `${given.join(', ')} describe images, and images cannot feed this model (its input is not 1 or 3 channels): leave them out.`,
      );
    }
    return { model: await loadModelWithWeights(opts.model, opts.weights, { classes: opts.classes, timeout: opts.timeout }) };
  }
}

/** `fromPretrained`'s source and options for `--model`/`--weights` (see {@link loadClassifier}), after the checks of both. */
function pretrainedArguments(opts: WeightsSourceOptions): [string, PretrainedOptions] {
  if (opts.weights && opts.model) checkArchitectureWithWeights(opts.model);
  const source = opts.weights ?? (opts.model && isWeightsSource(opts.model) ? opts.model : undefined);
  if (!source && opts.model && !isArchitectureArg(opts.model)) throw unknownModel(opts.model);
  if (!source) {
    throw new UserError(
      opts.model
        ? `'${opts.model}' is an architecture without weights: add --weights <file|URL|hf:owner/name>, or use a shipped model (see \`resnet models\`).`
        : 'Give --weights <file|URL|hf:owner/name>, or --model with shipped weights (see `resnet models`).',
    );
  }
  const model = opts.weights && opts.model ? (opts.model.endsWith('.json') ? loadSpec(opts.model) : opts.model) : undefined;
  return [
    source,
    {
      model,
      classes: opts.classes,
      timeoutMs: opts.timeout !== undefined ? opts.timeout * 1000 : undefined,
      onProgress: progressPrinter(),
      preprocessing: opts.preprocessing,
    },
  ];
}

/** The zoo's "preprocessing.mean must list 1 ..." for --mean/--std values that do not fit the model's channels, in the flags' words. */
function channelCountError(e: unknown): UserError | undefined {
  const m = /^preprocessing\.(mean|std) must list (\d+) finite numbers.*; got (.*)\.$/.exec(e instanceof Error ? e.message : '');
  if (!m) return undefined;
  const [, which, n, got] = m;
  const values = (JSON.parse(got) as number[]).join(',');
  return new UserError(
    `--${which} ${values} has ${values.split(',').length} values, but the model takes ${n === '1' ? '1-channel (grayscale)' : `${n}-channel`} images: give ${n === '1' ? 'one value' : `1 or ${n} values`}.`,
  );
}

/** `--model` next to `--weights` must name an architecture: refuses a shipped model (it has its own weights), weights and unknown names. */
function checkArchitectureWithWeights(model: string): void {
  if (isArchitectureArg(model)) return;
  if (findPretrained(model)) {
    throw new UserError(
      `'${model}' is a shipped model with its own weights, so --weights conflicts with it: drop --weights to use them, ` +
        'or give --model the architecture of the --weights file (e.g. resnet18; without --model it is inferred from the weights).',
    );
  }
  if (isWeightsSource(model)) {
    throw new UserError(
      `--model must name an architecture (a zoo name such as resnet18, or a JSON spec file) when --weights is given; '${model}' is weights.`,
    );
  }
  throw unknownModel(model);
}

/**
 * The model of `--model`/`--weights` in eval mode, as {@link loadClassifier} finds it but without the
 * image side (for tensors: any number of input channels); the caller disposes it.
 */
export async function loadModelWithWeights(
  modelArg: string | undefined,
  weights: string | undefined,
  options: Omit<WeightsSourceOptions, 'model' | 'weights' | 'preprocessing'> = {},
): Promise<ResNet> {
  return modelFromPretrained(...pretrainedArguments({ ...options, model: modelArg, weights }));
}

/**
 * `--model resnet20-fashion-mnist` (a zoo name with shipped weights) and no `--weights`: use the
 * shipped weights file, whose stored spec builds the model. Returns the options to use.
 */
export function withShippedWeights<O extends { model?: string; weights?: string }>(opts: O): O {
  if (!opts.model || opts.weights || !findPretrained(opts.model)) return opts;
  return { ...opts, model: undefined, weights: pretrainedWeightsPath(opts.model) };
}

/** Extensions of weight and tensor files that name their format (for messages about what a command reads or writes). */
const FORMAT_OF_EXTENSION: Record<string, string> = {
  '.safetensors': 'safetensors',
  '.onnx': 'ONNX',
  '.pth': 'a PyTorch pickle',
  '.pt': 'a PyTorch pickle',
  '.th': 'a PyTorch pickle',
  '.bin': 'a PyTorch pickle',
  '.ckpt': 'a PyTorch pickle',
  '.tar': 'a PyTorch pickle',
  '.pkl': 'a Python pickle',
  '.npy': 'NumPy .npy',
  '.npz': 'NumPy .npz',
  '.json': 'JSON',
  '.h5': 'HDF5 (Keras)',
  '.keras': 'Keras',
  '.pb': 'a TensorFlow graph',
  '.tflite': 'TensorFlow Lite',
};

const extensionOf = (file: string) => path.extname(file).toLowerCase();

/**
 * Refuses an output file whose extension names another format than the one a command writes
 * (`convert` writes safetensors, `export-onnx` ONNX, `forward` NumPy .npy), pointing to the command
 * that writes that one for `weights`. For safetensors and ONNX, names without a known extension are
 * taken as given (as torch.onnx.export and safetensors' save_file take them): the returned
 * `note: ...` line, for the command to print with what it wrote, says so. A .npy file must be named
 * .npy (NumPy's np.save adds the extension to any other name, so np.load would not find it).
 * Undefined for the format's own extension.
 */
export function checkOutputFormat(
  file: string,
  writes: 'safetensors' | 'ONNX' | 'NumPy .npy',
  command: string,
  weights: string,
): string | undefined {
  const ext = extensionOf(file);
  const named = FORMAT_OF_EXTENSION[ext];
  const usual = writes === 'ONNX' ? '.onnx' : writes === 'safetensors' ? '.safetensors' : '.npy';
  if (named === writes) return undefined;
  if (writes === 'NumPy .npy') {
    const under = ext ? `a ${ext} name` : 'a name without an extension';
    const renamed = ext ? file.slice(0, -ext.length) + usual : file + usual;
    throw new UserError(
      `${command} writes NumPy .npy${named ? `, not ${named}` : ''}: '${file}' would hold .npy bytes under ${under}. Name it .npy (e.g. '${renamed}').`,
    );
  }
  if (!named) return `note: writing ${writes} to ${file}; ${writes} files usually end in ${usual}`;
  const hint =
    named === 'ONNX'
      ? `, or write ONNX with \`resnet export-onnx --weights ${weights} --out ${file}\``
      : named === 'safetensors'
        ? `, or write a safetensors checkpoint with \`resnet convert ${weights} ${file}\``
        : writes === 'safetensors' && named.includes('PyTorch')
          ? ' (PyTorch reads it with safetensors.torch.load_file)'
          : '';
  throw new UserError(
    `${command} writes ${writes}, not ${named}: '${file}' would hold ${writes} under a ${ext} name. Name it ${usual}${hint}.`,
  );
}

/**
 * Refuses an output file that is one of the command's input files (the same path once resolved, or
 * the same file through a link), before anything is written: writing it would destroy the input.
 * `flag` and `inputFlag` name them in the message (`--out`, `--input`).
 */
export function checkNotInput(out: string, input: string, flag: string, inputFlag: string): void {
  let same = path.resolve(out) === path.resolve(input);
  if (!same) {
    try {
      const [a, b] = [fs.statSync(out), fs.statSync(input)];
      same = a.dev === b.dev && a.ino === b.ino;
    } catch {
      // One of them does not exist (yet): they are different files.
    }
  }
  if (same) throw new UserError(`${flag} '${out}' is ${inputFlag} itself: writing it would replace the input. Give another ${flag}.`);
}

/** Why `file` cannot be an image (missing, a folder, empty), as a one-line error; undefined when it may be one. */
export function imageFileProblem(file: string): Error | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new UserError(`No such file: '${file}'.`);
    return fileError(e, file, 'read');
  }
  if (st.isDirectory())
    return new UserError(`'${file}' is a directory, not an image file: give the images in it (e.g. '${path.join(file, '*.jpg')}').`);
  if (st.isFile() && st.size === 0) return new UserError(`'${file}' is ${EMPTY_IMAGE_FILE}.`);
  return undefined;
}

/**
 * The error for a `--model` (or `summary` argument) that names nothing: a path that does not exist
 * is "No such file"; a name lists the architectures and the shipped models, with the closest ones.
 */
export function unknownModel(arg: string): UserError {
  const looksLikePath = /[\\/]/.test(arg) || extensionOf(arg) in FORMAT_OF_EXTENSION;
  if (looksLikePath) return new UserError(`No such file: '${arg}'.`);
  const architectures = ARCHITECTURES.map((e) => e.name);
  const shipped = PRETRAINED.map((e) => e.name);
  const close = closestNames(arg, [...architectures, ...shipped]);
  return new UserError(
    `Unknown model '${arg}'. Known models: ${architectures.join(', ')}; with shipped weights: ${shipped.join(', ')} (see \`resnet models\`). ` +
      `For another depth give a JSON spec file.${close.length ? ` Did you mean ${close.map((n) => `'${n}'`).join(' or ')}?` : ''}`,
  );
}
