/**
 * The schema of a resnet-ts checkpoint's metadata fields (`spec`, `classes`, `preprocessing`,
 * `training`), checked when a file is read so that a hand-edited or foreign file fails with one line
 * naming the file and the field, never later inside the model builder or tfjs.
 */
import { FormatError, StateDictError } from '../errors.js';
import type { ResNetSpec } from '../resnet.js';

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Throws the one-line error of a metadata field: `<file>: metadata "<field>" <problem>`. */
function fail(source: string, field: string, problem: string): never {
  throw new FormatError(`${source}: metadata "${field}" ${problem}.`);
}

function checkPair(source: string, field: string, v: unknown): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length !== 2 || !v.every(isPositiveInt))
    fail(source, field, `must be [height, width] of positive integers; got ${show(v)}`);
}

/** Checks a stored architecture spec: types and ranges of every field the model builder reads. */
export function checkSpecSchema(spec: unknown, source: string): asserts spec is ResNetSpec {
  if (!isObject(spec)) fail(source, 'spec', `must be a JSON object; got ${show(spec)}`);
  if (spec.stem !== 'imagenet' && spec.stem !== 'cifar') fail(source, 'spec.stem', `must be "imagenet" or "cifar"; got ${show(spec.stem)}`);
  if (!Array.isArray(spec.stages) || spec.stages.length === 0) fail(source, 'spec.stages', `must be a non-empty list; got ${show(spec.stages)}`);
  spec.stages.forEach((stage: unknown, i: number) => {
    const at = `spec.stages[${i}]`;
    if (!isObject(stage)) fail(source, at, `must be an object {block, width, depth, stride}; got ${show(stage)}`);
    if (typeof stage.block !== 'string' || !stage.block) fail(source, `${at}.block`, `must be a block name; got ${show(stage.block)}`);
    for (const k of ['width', 'depth', 'stride'] as const)
      if (!isPositiveInt(stage[k])) fail(source, `${at}.${k}`, `must be a positive integer; got ${show(stage[k])}`);
  });
  if (typeof spec.shortcut !== 'string') fail(source, 'spec.shortcut', `must be a shortcut option name such as "A"; got ${show(spec.shortcut)}`);
  if (!isPositiveInt(spec.numClasses)) fail(source, 'spec.numClasses', `must be a positive integer; got ${show(spec.numClasses)}`);
  for (const k of ['inChannels', 'stemWidth'] as const)
    if (spec[k] !== undefined && !isPositiveInt(spec[k])) fail(source, `spec.${k}`, `must be a positive integer; got ${show(spec[k])}`);
  for (const k of ['residual', 'zeroInitResidual', 'batchNorm'] as const)
    if (spec[k] !== undefined && typeof spec[k] !== 'boolean') fail(source, `spec.${k}`, `must be true or false; got ${show(spec[k])}`);
  if (spec.strideMode !== undefined && spec.strideMode !== 'v1' && spec.strideMode !== 'v1.5')
    fail(source, 'spec.strideMode', `must be "v1" or "v1.5"; got ${show(spec.strideMode)}`);
  for (const k of ['stemNorm', 'finalNorm'] as const)
    if (spec[k] !== undefined && spec[k] !== 'bn-relu' && spec[k] !== 'none') fail(source, `spec.${k}`, `must be "bn-relu" or "none"; got ${show(spec[k])}`);
  if (spec.seed !== undefined && !Number.isInteger(spec.seed)) fail(source, 'spec.seed', `must be an integer; got ${show(spec.seed)}`);
  checkPair(source, 'spec.inputSize', spec.inputSize);
  if (spec.shortcutParams !== undefined && !isObject(spec.shortcutParams))
    fail(source, 'spec.shortcutParams', `must be a JSON object; got ${show(spec.shortcutParams)}`);
}

/** Checks a stored class-name list, and that it names every output of the head when the spec is known. */
export function checkClassesSchema(classes: unknown, spec: ResNetSpec | undefined, source: string): asserts classes is string[] {
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string'))
    fail(source, 'classes', `must be a JSON list of class names (strings); got ${show(classes).slice(0, 80)}`);
  if (spec && classes.length !== spec.numClasses)
    fail(source, 'classes', `lists ${classes.length} names but the model's head has ${spec.numClasses} outputs (spec.numClasses)`);
}

/**
 * Checks the preprocessing fields resnet-ts reads: `mean`/`std` (one per channel), `inputSize`,
 * `imageSize`, `padTo`, `crop` ([height, width]), `resize` (shorter side, or [height, width]) and
 * `channels` (1 or 3). Other keys are left to their readers.
 */
export function checkPreprocessingSchema(prep: unknown, source: string): void {
  if (!isObject(prep)) fail(source, 'preprocessing', `must be a JSON object; got ${show(prep)}`);
  const lists: Partial<Record<'mean' | 'std', unknown[]>> = {};
  for (const k of ['mean', 'std'] as const) {
    const v = prep[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      fail(source, `preprocessing.${k}`, `must be a non-empty list of finite numbers (one per channel); got ${show(v)}`);
    lists[k] = v;
  }
  if (lists.std?.some((x) => (x as number) <= 0)) fail(source, 'preprocessing.std', `must hold positive numbers; got ${show(lists.std)}`);
  if (lists.mean && lists.std && lists.mean.length !== lists.std.length)
    fail(source, 'preprocessing', `has ${lists.mean.length} means but ${lists.std.length} standard deviations`);
  for (const k of ['inputSize', 'imageSize', 'padTo', 'crop']) checkPair(source, `preprocessing.${k}`, prep[k]);
  // How decoded images are resized: the shorter side to a number, or exactly to [height, width].
  if (prep.resize !== undefined && !isPositiveInt(prep.resize)) checkPair(source, 'preprocessing.resize', prep.resize);
  if (prep.channels !== undefined && prep.channels !== 1 && prep.channels !== 3)
    fail(source, 'preprocessing.channels', `must be 1 or 3; got ${show(prep.channels)}`);
  if (lists.mean && typeof prep.channels === 'number' && lists.mean.length !== prep.channels)
    fail(source, 'preprocessing', `has ${lists.mean.length} means for ${prep.channels} channel(s)`);
}

/**
 * Checks the training state's counters: `step`, `epoch` non-negative integers; `totalSteps`,
 * `stepsPerEpoch`, `batchSize`, `trainSize` positive integers; `step <= totalSteps`; and `epoch`
 * consistent with `step / stepsPerEpoch` (a checkpoint at an epoch's end still names that epoch).
 */
export function checkTrainingSchema(training: unknown, source: string): void {
  if (!isObject(training)) fail(source, 'training', `must be a JSON object; got ${show(training)}`);
  for (const k of ['step', 'epoch'])
    if (training[k] !== undefined && !isCount(training[k]))
      fail(source, `training.${k}`, `must be a non-negative integer; got ${show(training[k])}`);
  for (const k of ['totalSteps', 'stepsPerEpoch', 'batchSize', 'trainSize'])
    if (training[k] !== undefined && !isPositiveInt(training[k]))
      fail(source, `training.${k}`, `must be a positive integer; got ${show(training[k])}`);
  const { step, epoch, totalSteps, stepsPerEpoch } = training as { step?: number; epoch?: number; totalSteps?: number; stepsPerEpoch?: number };
  if (step !== undefined && totalSteps !== undefined && step > totalSteps)
    fail(source, 'training.step', `is ${step}, beyond training.totalSteps (${totalSteps})`);
  if (step !== undefined && epoch !== undefined && stepsPerEpoch !== undefined) {
    const current = Math.floor(step / stepsPerEpoch);
    const ok = epoch === current || (step % stepsPerEpoch === 0 && epoch === current - 1);
    if (!ok) fail(source, 'training.step', `(${step}) does not fall in training.epoch ${epoch} at ${stepsPerEpoch} steps per epoch`);
  }
}

/** The fields that decide a model's layers and what its weights mean, with the builder's defaults. */
export function architectureOf(spec: ResNetSpec): Record<string, unknown> {
  const residual = spec.residual ?? true;
  return {
    stem: spec.stem,
    stemWidth: spec.stemWidth ?? (spec.stem === 'imagenet' ? 64 : 16),
    stages: spec.stages.map((s) => `${s.block} x${s.depth} width ${s.width} stride ${s.stride}`).join(', '),
    residual,
    shortcut: residual ? spec.shortcut : '(none: plain net)',
    // e.g. option A's zero-padding placement ('after' | 'split'): same weights, different outputs.
    shortcutParams: JSON.stringify(residual ? Object.fromEntries(Object.entries(spec.shortcutParams ?? {}).sort()) : {}),
    numClasses: spec.numClasses,
    inChannels: spec.inChannels ?? 3,
    strideMode: spec.stages.some((s) => s.block.includes('bottleneck')) ? (spec.strideMode ?? 'v1.5') : 'n/a',
    batchNorm: spec.batchNorm ?? true,
    stemNorm: spec.stemNorm ?? 'bn-relu',
    finalNorm: spec.finalNorm ?? 'none',
  };
}

/**
 * How the architecture of `model` differs from `stored` (the spec saved with a weights file), as
 * `field: stored X, model Y` phrases; empty when they agree. Initialisation-only fields (seed,
 * zeroInitResidual) and the summary input size are not compared.
 */
export function specDifferences(stored: ResNetSpec, model: ResNetSpec): string[] {
  const a = architectureOf(stored);
  const b = architectureOf(model);
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k}: file ${JSON.stringify(a[k])}, model ${JSON.stringify(b[k])}`);
}

/**
 * Refuses weights whose stored spec describes another architecture than the model's (e.g. a
 * plain-20 model given ResNet-20 weights: the keys match, the meaning does not). Strict loads call
 * this after the keys and shapes have been found to fit.
 */
export function assertSameArchitecture(stored: ResNetSpec | undefined, model: ResNetSpec | undefined, source: string): void {
  if (!stored || !model) return;
  const diff = specDifferences(stored, model);
  if (diff.length === 0) return;
  throw new StateDictError(
    `Weights in '${source}' were saved from another architecture than this model (${diff.join('; ')}). ` +
      "Build the model from the file's own spec (in the CLI: leave out --model), or pick the matching one.",
    [],
    [],
    [],
  );
}
