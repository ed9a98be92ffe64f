/**
 * The one resolver from a source (shipped zoo name, local file, http(s) URL, `hf:owner/name`) to a
 * ready classifier: weights + architecture + preprocessing + labels. The environment (Node or the
 * browser) supplies how bytes are read, cached and images decoded; everything else is here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, RawStateDict, ResNet, ResNetSpec, SpecError, listBackends, useBackend } from '@resnet-ts/core';
import { Classifier, ImageDecoder } from './classifier.js';
import { DownloadOptions, ProgressEvent, SourceError } from './download.js';
import { IMAGENET_CLASSES } from './imagenet-classes.js';
import {
  ImagePreprocessing,
  IMAGENET_V1,
  IMAGENET_V2,
  defaultPreprocessing,
  preprocessingFromMetadata,
  validatePreprocessing,
} from './preprocess.js';
import { ARCHITECTURES } from './architectures.js';
import { PRETRAINED, PretrainedEntry, findPretrained } from './pretrained.js';
import { LoadedStateDict, buildModel, readStateDict, specFor } from './weights.js';

/** Options of `fromPretrained`. */
export interface PretrainedOptions {
  /** Called as bytes arrive (downloads) or once per file read. */
  onProgress?: (e: ProgressEvent) => void;
  /** The number of classes of the head (default: from the weights), or the class names. */
  classes?: number | string[];
  /** Naming convention of the state dict (default: detected). */
  convention?: string;
  /** The architecture (zoo name or spec) for weights that do not store it, e.g. a torchvision `.pth`. */
  model?: string | ResNetSpec;
  /**
   * Override the preprocessing (default: stored with the weights, else by architecture): a preset, or
   * the fields to change, e.g. `{ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }` for weights trained
   * with `Normalize((0.5,) * 3, (0.5,) * 3)`; the fields not given keep the stored or default values.
   */
  preprocessing?: Partial<ImagePreprocessing> | 'imagenet-v1' | 'imagenet-v2';
  /** Expected SHA-256 (hex) of the weights file; a mismatch is an error and nothing is cached. */
  sha256?: string;
  /** Download time limit: abort when the server sends nothing for this long (ms, default 30000). */
  timeoutMs?: number;
  /** Cancels a download when aborted: the call rejects with the signal's reason (an `AbortError`, as `fetch`), nothing is cached. */
  signal?: AbortSignal;
}

/** Hugging Face `config.json` fields the resolver uses. */
export interface HubConfig {
  id2label?: Record<string, string>;
  [key: string]: unknown;
}

/** The weights a source names and what came with them. */
export interface ResolvedSource {
  /** The file's bytes, or its state dict where the environment read it already (Node: local safetensors files, tensor by tensor). */
  weights: Uint8Array | RawStateDict;
  /** For messages: the file, URL or name. */
  name: string;
  /** A shipped zoo entry, when the source named one. */
  shipped?: PretrainedEntry;
  config?: HubConfig;
}

/** How an environment reads and caches bytes and decodes images. */
export interface SourceEnvironment<I> {
  /** The bytes of a shipped zoo weights file (checked against `sha256` when given). */
  shipped(entry: PretrainedEntry, options: DownloadOptions & { sha256?: string }): Promise<Uint8Array>;
  /** A local file (Node: its bytes, or its state dict for safetensors) or a relative URL (browser: its bytes); checked against `sha256` when given. */
  file(path: string, options: DownloadOptions & { sha256?: string }): Promise<Uint8Array | RawStateDict>;
  /** The bytes of an http(s) URL, cached; undefined for a 404 with `optional`. */
  url(url: string, options: DownloadOptions & { sha256?: string }): Promise<Uint8Array | undefined>;
  /** Base URL of the Hugging Face-style hub, e.g. `https://huggingface.co`. */
  hubEndpoint(): string;
  decode: ImageDecoder<I>;
  /** What to import when no backend plug-in is registered. */
  backendPackage: string;
}

/** Parses `hf:owner/name` or `hf:owner/name@revision`; undefined when `source` is not an hf: id. */
export function parseHubId(source: string): { repo: string; revision: string } | undefined {
  if (!source.startsWith('hf:')) return undefined;
  const m = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(source);
  if (!m) throw new SourceError(`'${source}' is not a hub id: write hf:owner/name (optionally @revision).`);
  // '.', '..' or an empty segment would make the URL name another repo or path once normalised.
  const segments = [...m[1].split('/'), ...(m[2]?.split('/') ?? [])];
  if (segments.some((seg) => seg === '' || seg === '.' || seg === '..'))
    throw new SourceError(`'${source}' is not a hub id: its owner, name and revision may not hold '.', '..' or empty parts.`);
  return { repo: m[1], revision: m[2] ?? 'main' };
}

async function resolveHub(
  source: string,
  repo: string,
  revision: string,
  env: SourceEnvironment<unknown>,
  options: PretrainedOptions,
): Promise<ResolvedSource> {
  const base = `${env.hubEndpoint().replace(/\/+$/, '')}/${repo}/resolve/${revision}`;
  const dl = { onProgress: options.onProgress, timeoutMs: options.timeoutMs, signal: options.signal };
  const configBytes = await env.url(`${base}/config.json`, { ...dl, optional: true });
  let config: HubConfig | undefined;
  if (configBytes) {
    try {
      config = JSON.parse(new TextDecoder().decode(configBytes)) as HubConfig;
    } catch (e) {
      throw new SourceError(`${base}/config.json is not valid JSON (${(e as Error).message}).`);
    }
  }
  for (const file of ['model.safetensors', 'pytorch_model.bin']) {
    const bytes = await env.url(`${base}/${file}`, { ...dl, optional: true, sha256: options.sha256 });
    if (bytes) return { weights: bytes, name: `${source} (${file})`, config };
  }
  throw new SourceError(
    `${source}: the hub at ${env.hubEndpoint()} has neither model.safetensors nor pytorch_model.bin for ${repo}@${revision}. Check the repo id ` +
      "(in Node a file found absent is remembered in the disk cache as '<name>.absent': delete those to look again).",
  );
}

/** Reads the weights a source names. */
export async function resolveSource<I>(
  source: string,
  env: SourceEnvironment<I>,
  options: PretrainedOptions = {},
): Promise<ResolvedSource> {
  const dl = { onProgress: options.onProgress, timeoutMs: options.timeoutMs, signal: options.signal };
  const hub = parseHubId(source);
  if (hub) return resolveHub(source, hub.repo, hub.revision, env as SourceEnvironment<unknown>, options);
  if (/^https?:\/\//i.test(source)) {
    const bytes = await env.url(source, { ...dl, sha256: options.sha256 });
    if (!bytes) throw new SourceError(`${source}: not found.`);
    return { weights: bytes, name: source };
  }
  const shipped = findPretrained(source);
  if (shipped) return { weights: await env.shipped(shipped, { ...dl, sha256: options.sha256 }), name: source, shipped };
  if (ARCHITECTURES.some((a) => a.name === source)) {
    throw new SourceError(
      `'${source}' is an architecture without shipped weights: give the weights file as the source and the architecture as { model: '${source}' } ` +
        `(CLI: --model ${source} --weights <file>). Shipped weights: ${PRETRAINED.map((e) => e.name).join(', ')}.`,
    );
  }
  return { weights: await env.file(source, { ...dl, sha256: options.sha256 }), name: source };
}

/**
 * The hub config's `id2label` as n labels, when it names exactly outputs 0..n-1; otherwise undefined,
 * with a one-line note (`console.warn`, as the weights readers' notes) unless the caller gave names.
 */
function configLabels(resolved: ResolvedSource, n: number, given: boolean): string[] | undefined {
  const id2label = resolved.config?.id2label;
  if (!id2label) return undefined;
  const labels = Array.from({ length: n }, (_, i) => id2label[String(i)]);
  if (Object.keys(id2label).length === n && labels.every((l) => typeof l === 'string')) return labels;
  if (!given)
    console.warn(
      `note: ${resolved.name}: config.json's id2label names ${Object.keys(id2label).length} classes, not the model's ${n} outputs 0..${n - 1}; its labels are not used. Give classes to name them.`,
    );
  return undefined;
}

/**
 * The model's labels: given names, the hub config's `id2label`, the checkpoint's, ImageNet's for a
 * 1000-class head, else indices; and whether they are names (`named`) or the output numbers as text.
 */
function labelsFor(
  sd: LoadedStateDict,
  spec: ResNetSpec,
  resolved: ResolvedSource,
  classes?: number | string[],
): { labels: string[]; named: boolean } {
  const n = spec.numClasses ?? 1000;
  const fromConfig = configLabels(resolved, n, Array.isArray(classes));
  const candidates: (readonly (string | undefined)[] | undefined)[] = [
    Array.isArray(classes) ? classes : undefined,
    fromConfig,
    sd.info.classes,
    n === 1000 && !sd.info.classes ? IMAGENET_CLASSES : undefined,
  ];
  for (const c of candidates) if (c && c.length === n) return { labels: c as string[], named: true };
  if (Array.isArray(classes)) throw new SpecError(`classes lists ${classes.length} names but the model has ${n} outputs.`);
  return { labels: Array.from({ length: n }, (_, i) => String(i)), named: false };
}

function preprocessingFor(sd: LoadedStateDict, spec: ResNetSpec, given?: PretrainedOptions['preprocessing']): ImagePreprocessing {
  if (given === 'imagenet-v1') return IMAGENET_V1;
  if (given === 'imagenet-v2') return IMAGENET_V2;
  const base = sd.info.preprocessing ? preprocessingFromMetadata(sd.info.preprocessing, spec) : defaultPreprocessing(spec);
  if (given === undefined) return base;
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new SpecError(`preprocessing must be 'imagenet-v1', 'imagenet-v2' or an object of fields; got ${JSON.stringify(given)}.`);
  const merged: ImagePreprocessing = { ...base, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  // A resize given without a crop means no crop, as torchvision's Resize alone: the base's crop was made
  // for the base's resize (224 of 256), and after a smaller one it framed the image in black.
  if (given.resize !== undefined && given.crop === undefined) delete merged.crop;
  // One mean or std for every channel, as torchvision's Normalize broadcasts it.
  for (const k of ['mean', 'std'] as const) {
    const v = merged[k];
    if (Array.isArray(v) && v.length === 1 && merged.channels === 3) merged[k] = [v[0], v[0], v[0]];
  }
  return validatePreprocessing(merged);
}

/**
 * Whether how the images were normalised is known (see `ClassifierOrigin.normalisation`): stored with
 * the weights, given (a preset, or both mean and std), or torchvision's standard for ImageNet weights.
 */
function normalisationKnown(stored: 'weights' | 'default', spec: ResNetSpec, given: PretrainedOptions['preprocessing']): boolean {
  if (stored === 'weights' || typeof given === 'string' || (given?.mean && given?.std)) return true;
  return spec.numClasses === 1000 && (spec.inChannels ?? 3) === 3 && spec.stem !== 'cifar';
}

/** Makes the best registered backend current when the app has not chosen one. */
export async function ensureBackend(backendPackage: string): Promise<void> {
  if ((tf.engine() as unknown as { backendName: string | null }).backendName) return;
  if (listBackends().length === 0)
    throw new BackendError(`No backend: import '${backendPackage}' (or a tfjs backend) before fromPretrained or modelFromPretrained.`);
  await useBackend('auto');
}

/** A SourceError unless `source` is a non-empty string (`caller` names the function the user called). */
function requireSource(source: unknown, caller: string): void {
  if (typeof source !== 'string' || source === '')
    throw new SourceError(`${caller} needs a source: a zoo name, a file, an http(s) URL or hf:owner/name.`);
}

/** The network of resolved weights, with its weights loaded and in eval mode, and what was read. */
async function modelFrom<I>(
  resolved: ResolvedSource,
  env: SourceEnvironment<I>,
  options: PretrainedOptions,
): Promise<{ model: ResNet; sd: LoadedStateDict }> {
  await ensureBackend(env.backendPackage);
  const classes = options.classes;
  if (classes !== undefined && !Array.isArray(classes) && !(Number.isInteger(classes) && classes > 0)) {
    throw new SpecError(`classes must be a positive integer or a list of names; got ${JSON.stringify(classes)}.`);
  }
  const sd = readStateDict(resolved.weights, resolved.name, options.convention);
  const numClasses = Array.isArray(classes) ? classes.length : classes;
  const spec = specFor(sd, resolved.name, options.model, numClasses);
  return { model: buildModel(spec, sd, resolved.name), sd };
}

/**
 * The network of `source` alone (see `modelFromPretrained`): resolved and loaded as `fromPretrained`
 * does, without the image side (preprocessing, labels), so a model that images cannot feed (an input
 * of 2, 4 or more channels) loads too.
 */
export async function loadPretrainedModel<I>(source: string, env: SourceEnvironment<I>, options: PretrainedOptions = {}): Promise<ResNet> {
  requireSource(source, 'modelFromPretrained');
  // What only a classifier uses would be dropped without a word.
  if (options.preprocessing !== undefined || Array.isArray(options.classes)) {
    const what = options.preprocessing !== undefined ? 'preprocessing is' : 'class names are';
    throw new SpecError(
      `modelFromPretrained returns the network alone: ${what} for fromPretrained's classifier (give classes as a number of outputs).`,
    );
  }
  return (await modelFrom(await resolveSource(source, env, options), env, options)).model;
}

/** Turns resolved weights into a classifier (see `fromPretrained`). */
export async function classifierFrom<I>(
  resolved: ResolvedSource,
  env: SourceEnvironment<I>,
  options: PretrainedOptions = {},
): Promise<Classifier<I>> {
  const { model, sd } = await modelFrom(resolved, env, options);
  const classes = options.classes;
  try {
    const { labels, named } = labelsFor(sd, model.spec, resolved, classes);
    const preprocessing = preprocessingFor(sd, model.spec, options.preprocessing);
    const stored = sd.info.preprocessing ? 'weights' : 'default';
    const origin = {
      convention: sd.convention,
      preprocessing: options.preprocessing ? 'options' : stored,
      preprocessingBase: typeof options.preprocessing === 'string' ? undefined : stored,
      normalisation: normalisationKnown(stored, model.spec, options.preprocessing) ? 'known' : 'assumed',
      labels: named ? 'named' : 'numbers',
    } as const;
    return new Classifier(model, preprocessing, labels, resolved.name, env.decode, origin);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Resolves `source` and builds its classifier in `env`. */
export async function loadPretrained<I>(
  source: string,
  env: SourceEnvironment<I>,
  options: PretrainedOptions = {},
): Promise<Classifier<I>> {
  requireSource(source, 'fromPretrained');
  return classifierFrom(await resolveSource(source, env, options), env, options);
}
