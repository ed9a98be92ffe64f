/**
 * What a resumed run must repeat: every setting its checkpoint stores (data, batch size, training
 * set, seed, frozen part, learning-rate schedule, optimizer, augmentation, normalisation). A resume
 * that changes one would not continue the run but silently start another from its weights, so each
 * difference is named with this run's value and the run's ({@link resumeDifferences}).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Augmentation } from './batches.js';
import type { FreezeSpec } from './finetune.js';
import { type ScheduleSpec, baseLearningRate, describeSchedule } from './schedule.js';

/** The optimizer settings a checkpoint stores under `training.optimizer`. */
export interface StoredOptimizer {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  decay: string;
  lrScale?: Record<string, number>;
  /** The head's learning rate as given (`--head-lr`); older checkpoints have only `lrScale`. */
  headLr?: number;
}

/** The settings of a run that a resume compares (this run's; the checkpoint's are read untyped). */
export interface RunSettings {
  batchSize: number;
  trainSize: number;
  seed: number;
  /** This run's length in steps (the scaled multistep and cosine schedules follow it). */
  totalSteps: number;
  freeze?: FreezeSpec;
  schedule?: ScheduleSpec;
  optimizer?: StoredOptimizer;
  augment?: Augmentation | false;
  /** Where the training images come from (`Dataset.source`, see {@link dataSourceKey}). */
  data?: string;
  classes?: string[];
  /** The training images' height and width (what `--image-size` or the source's preprocessing gave). */
  imageSize?: [number, number];
  /** What the training set holds (`datasetFingerprint`): images and labels, in order. */
  dataFingerprint?: string;
  /** The image decoder that made the pixels fingerprinted (`Dataset.decoder`). */
  decoder?: string;
  preprocessing?: { mean?: number[]; std?: number[]; padTo?: [number, number] };
}

/** The settings a resume refusal names by the option that sets them (see {@link ResumeFlags}). */
export type ResumeSetting =
  | 'data'
  | 'trainSize'
  | 'classes'
  | 'imageSize'
  | 'batch'
  | 'seed'
  | 'freeze'
  | 'lr'
  | 'schedule'
  | 'warmup'
  | 'length'
  | 'momentum'
  | 'wd'
  | 'nesterov'
  | 'headLr'
  | 'augment'
  | 'architecture'
  | 'restart'
  | 'out';

/**
 * The options of the command that started a run, by the setting they set, for its resume refusals
 * to say what to give: e.g. `trainSize: '--limit'`, `length: '--epochs'`, `architecture: '--depth'`
 * (what makes the network), `restart` (the option that starts the run afresh in its folder, e.g.
 * `--no-resume`) and `out` (its output folder). A setting the command has no option for is left out
 * and named in words (`the batch size 8 differs ...`), never by another command's option.
 */
export type ResumeFlags = Partial<Record<ResumeSetting, string>>;

/** `resnet train`'s options: the names of every refusal of a caller that gives no {@link ResumeFlags}. */
export const TRAIN_COMMAND_FLAGS: Readonly<ResumeFlags> = Object.freeze({
  data: '--data',
  trainSize: '--limit, --val',
  imageSize: '--image-size',
  batch: '--batch',
  seed: '--seed',
  freeze: '--freeze',
  lr: '--lr',
  schedule: '--schedule',
  warmup: '--warmup',
  length: '--epochs/--iterations',
  momentum: '--momentum',
  wd: '--wd',
  nesterov: '--nesterov',
  headLr: '--head-lr',
  augment: '--no-augment',
  architecture: '--model or --init (and --classes)',
  out: '--out',
});

/** The words for a setting whose command has no option for it. */
const IN_WORDS: Partial<Record<ResumeSetting, string>> = {
  data: 'the data',
  imageSize: 'the image size',
  batch: 'the batch size',
  seed: 'the seed',
  freeze: 'the frozen part',
  lr: 'the learning rate',
  schedule: 'the learning-rate schedule',
  warmup: 'the warm-up steps',
  momentum: 'the momentum',
  wd: 'the weight decay',
  nesterov: 'Nesterov momentum',
  headLr: "the head's learning rate",
};

/** The option that sets `key`, else its words. */
const label = (flags: ResumeFlags, key: ResumeSetting): string => flags[key] ?? IN_WORDS[key] ?? key;

/** How to start the run afresh as a caller's `flags` name it (the lab's `--no-resume`), else in another folder. */
export function restartWay(flags: ResumeFlags): string {
  return flags.restart ?? newRunWay(flags);
}

/** How to start a new run instead: `--no-resume or another --out`, as `flags` name them (`another --out` for `resnet train`). */
export function newRunWay(flags: ResumeFlags): string {
  const folder = flags.out ? `another ${flags.out}` : 'another output folder';
  return flags.restart ? `${flags.restart} or ${folder}` : folder;
}

/** A checkpoint's stored settings: `training.*` plus the metadata's classes and preprocessing, unchecked. */
export type StoredSettings = Record<string, unknown> & { classes?: unknown; preprocessing?: unknown };

/** A data set's source as stored with a run: its files or folder as absolute paths (a name that is no path stays as it is). */
export function dataSourceKey(source: string | undefined): string | undefined {
  if (source === undefined) return undefined;
  return source
    .split(', ')
    .map((p) => (fs.existsSync(p) ? path.resolve(p) : p))
    .join(', ');
}

/** JSON with sorted keys: settings written in another key order are the same settings. */
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v && typeof v === 'object'
      ? `{${Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
const closeLists = (a: unknown, b: unknown, tol = 1e-5) =>
  Array.isArray(a) &&
  Array.isArray(b) &&
  a.length === b.length &&
  a.every((x, i) => typeof x === 'number' && Math.abs(x - b[i]) <= tol * Math.max(1, Math.abs(b[i])));
/** `label given differs from the run's stored`, the one phrasing of every difference. */
const differs = (label: string, given: unknown, stored: unknown) => `${label} ${text(given)} differs from the run's ${text(stored)}`;

function text(v: unknown): string {
  if (v === undefined || v === null || v === false) return 'none';
  if (Array.isArray(v)) return v.length > 6 ? `${v.slice(0, 6).join(', ')}, ... (${v.length})` : v.join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function augmentText(a: unknown, flags: ResumeFlags): string {
  if (!a || typeof a !== 'object') return flags.augment ? `off (${flags.augment})` : 'off';
  const { pad, flip, resizedCrop } = a as Partial<Augmentation>;
  return `${resizedCrop ? 'random-resized-crop' : `pad ${pad} + crop`}${flip ? ' + flip' : ''}`;
}

/** The schedule's parts a user sets: its kind (`resnet train --schedule`), base rate (`--lr`) and warm-up steps (`--warmup`). */
function scheduleParts(s: ScheduleSpec): { kind: string; lr: number; warmup: number } {
  const inner = s.type === 'warmup' ? s.then : s;
  return { kind: inner.type, lr: baseLearningRate(s), warmup: s.type === 'warmup' ? s.iterations : 0 };
}

/** The differences of two schedules: by part where a part differs, else the whole (e.g. milestones moved by another run length). */
function scheduleDifferences(
  given: ScheduleSpec,
  stored: unknown,
  steps: { given: number; stored: unknown; explained: boolean },
  flags: ResumeFlags,
): string[] {
  if (!stored || typeof stored !== 'object' || same(given, stored)) return [];
  let s: ReturnType<typeof scheduleParts>;
  try {
    s = scheduleParts(stored as ScheduleSpec);
  } catch {
    return [`the learning-rate schedule differs from the run's (${JSON.stringify(stored)})`];
  }
  const g = scheduleParts(given);
  const out = [
    ...(g.lr !== s.lr ? [differs(label(flags, 'lr'), g.lr, s.lr)] : []),
    ...(g.kind !== s.kind ? [differs(label(flags, 'schedule'), g.kind, s.kind)] : []),
    ...(g.warmup !== s.warmup ? [differs(label(flags, 'warmup'), g.warmup, s.warmup)] : []),
  ];
  // Another run length moves the scaled milestones or the cosine's end; another training set or batch (named already) makes one.
  if (out.length || (steps.explained && steps.given !== steps.stored)) return out;
  const length =
    steps.given !== steps.stored
      ? ` because the run's length does (${text(steps.stored)} steps; this run ${steps.given}${flags.length ? `: give the run's ${flags.length}` : ''})`
      : '';
  return [
    `the learning-rate schedule (${describeSchedule(given)}) differs from the run's (${describeSchedule(stored as ScheduleSpec)})${length}`,
  ];
}

/** The head's learning rate of an optimizer under `schedule` (`--head-lr`), when it has its own. */
function headLr(opt: { lrScale?: unknown; headLr?: unknown } | undefined, schedule: unknown): number | undefined {
  if (typeof opt?.headLr === 'number') return opt.headLr;
  const scale = opt?.lrScale && typeof opt.lrScale === 'object' ? Object.values(opt.lrScale)[0] : undefined;
  if (typeof scale !== 'number' || !schedule || typeof schedule !== 'object') return undefined;
  try {
    return scale * baseLearningRate(schedule as ScheduleSpec);
  } catch {
    return undefined;
  }
}

function optimizerDifferences(given: RunSettings, stored: StoredSettings, flags: ResumeFlags): string[] {
  const s = stored.optimizer as Partial<StoredOptimizer> | undefined;
  const g = given.optimizer;
  if (!g || !s || typeof s !== 'object') return [];
  const out: string[] = [];
  if (typeof s.momentum === 'number' && s.momentum !== g.momentum) out.push(differs(label(flags, 'momentum'), g.momentum, s.momentum));
  if (typeof s.weightDecay === 'number' && s.weightDecay !== g.weightDecay)
    out.push(differs(label(flags, 'wd'), g.weightDecay, s.weightDecay));
  if (typeof s.nesterov === 'boolean' && s.nesterov !== g.nesterov)
    out.push(differs(label(flags, 'nesterov'), g.nesterov ? 'on' : 'off', s.nesterov ? 'on' : 'off'));
  if (typeof s.decay === 'string' && s.decay !== g.decay) out.push(differs('weight decay on', g.decay, s.decay));
  const [gh, sh] = [headLr(g, given.schedule), headLr(s, stored.schedule)];
  if ((gh === undefined) !== (sh === undefined) || (gh !== undefined && sh !== undefined && !close(gh, sh)))
    out.push(differs(label(flags, 'headLr'), gh, sh));
  return out;
}

/** The difference of a training set with the run's size, classes and statistics but other contents. */
const OTHER_IMAGES =
  "the training images differ from the run's (same number, classes and size; other pixels or labels: images edited, replaced or moved between class folders)";

/** How {@link otherDecoder}'s difference starts. */
const OTHER_DECODER = 'the training images decode to other pixels than in the run';

/**
 * The images' fingerprint differs and so does the decoder that made their pixels: a decoder update
 * (another sharp or libvips) changes a JPEG's pixels slightly, so the images may well be the run's.
 */
const otherDecoder = (now: string, then: string) => `${OTHER_DECODER}, and the image decoder is another (${now} here, ${then} in the run)`;

/**
 * What to do about `differences` (of {@link resumeDifferences}): other images alone are brought back
 * by no option (nor another decoder), so the run's images or sharp version, else the run's options.
 */
export function resumeFix(differences: readonly string[]): string {
  const only = differences.length === 1 ? differences[0] : undefined;
  if (only === OTHER_IMAGES) return "put the run's images back";
  if (only?.startsWith(OTHER_DECODER)) return "if the images are the run's, install the run's sharp version to resume; else put them back";
  return "give the run's options";
}

/** Whether a stored data source is files or folders (absolute paths), not a data set's name. */
const isPath = (source: string): boolean => source.split(', ').every((p) => path.isAbsolute(p));

/**
 * What this run's data gives that the run's does not: another named data set, else its size,
 * classes and normalisation. Files or folders are compared by what they hold, not where: a data set
 * moved to another folder resumes, while other images change the normalisation (their statistics).
 */
function dataDifferences(given: RunSettings, stored: StoredSettings, flags: ResumeFlags): string[] {
  const moved = typeof stored.data === 'string' && given.data !== undefined && isPath(stored.data) && isPath(given.data);
  if (typeof stored.data === 'string' && given.data !== undefined && stored.data !== given.data && !moved)
    return [differs(label(flags, 'data'), given.data, stored.data)];
  const out: string[] = [];
  const by = (key: ResumeSetting) => (flags[key] ? ` (${flags[key]})` : '');
  // Of files or folders, a count changes with the images there too, not only with the options.
  const files = typeof stored.data === 'string' && isPath(stored.data);
  const causes = [flags.trainSize, files ? 'images added or removed' : undefined].filter(Boolean).join(', or ');
  if (stored.trainSize !== given.trainSize)
    out.push(
      `the training set of ${given.trainSize} images differs from the run's ${text(stored.trainSize)}${causes ? ` (${causes})` : ''}`,
    );
  if (Array.isArray(stored.classes) && given.classes && !same(stored.classes, given.classes))
    out.push(`the classes (${text(given.classes)}) differ from the run's (${text(stored.classes)})${by('classes')}`);
  const sp = stored.preprocessing as (RunSettings['preprocessing'] & { crop?: unknown }) | undefined;
  const gp = given.preprocessing;
  // The images' size as the run stored it; an older checkpoint's from its preprocessing's crop (image files).
  const storedSize = Array.isArray(stored.imageSize)
    ? (stored.imageSize as number[])
    : sp && typeof sp === 'object' && Array.isArray(sp.crop)
      ? (sp.crop as number[])
      : undefined;
  const resized = storedSize !== undefined && given.imageSize !== undefined && !same(storedSize, given.imageSize);
  if (resized) out.push(differs(label(flags, 'imageSize'), given.imageSize!.join('x'), storedSize.join('x')));
  let renormalised = false;
  if (sp && gp && typeof sp === 'object') {
    // Normalisation computed from other training images differs as a matter of course: the size or the image size says it.
    renormalised =
      stored.trainSize === given.trainSize &&
      !resized &&
      Array.isArray(sp.mean) &&
      (!closeLists(gp.mean, sp.mean) || !closeLists(gp.std, sp.std));
    if (renormalised)
      out.push(
        `the normalisation (mean ${text(gp.mean)}, std ${text(gp.std)}) differs from the run's (mean ${text(sp.mean)}, std ${text(sp.std)})`,
      );
    const pad = (p: unknown) => (Array.isArray(p) ? `to ${p.join('x')}` : 'none');
    if (!same(sp.padTo ?? null, gp.padTo ?? null)) out.push(differs('the padding', pad(gp.padTo), pad(sp.padTo)));
  }
  // Same size and classes, other contents (images swapped between class folders, edited, replaced):
  // said as such, also when their statistics moved (no option brings those back).
  const changed = typeof stored.dataFingerprint === 'string' && given.dataFingerprint && stored.dataFingerprint !== given.dataFingerprint;
  if (changed && out.length === (renormalised ? 1 : 0)) {
    const decoderChanged = typeof stored.decoder === 'string' && given.decoder !== undefined && stored.decoder !== given.decoder;
    return [decoderChanged ? otherDecoder(given.decoder!, stored.decoder as string) : OTHER_IMAGES];
  }
  return out;
}

/**
 * Each setting of `given` (this run) that differs from the checkpoint's `stored` ones, as
 * `--lr 0.5 differs from the run's 0.05`, in the order the user reads the options; empty when the
 * run can continue. Settings that the checkpoint does not store (an older version's) are not compared.
 * Each is named by the option `flags` gives for it (default `resnet train`'s), else in words.
 */
export function resumeDifferences(given: RunSettings, stored: StoredSettings, flags: ResumeFlags = TRAIN_COMMAND_FLAGS): string[] {
  const out = dataDifferences(given, stored, flags);
  if (stored.batchSize !== given.batchSize) out.push(differs(label(flags, 'batch'), given.batchSize, stored.batchSize));
  if (stored.seed !== given.seed) out.push(differs(label(flags, 'seed'), given.seed, stored.seed));
  const [wasFrozen, frozen] = [stored.freeze ?? 'none', given.freeze ?? 'none'];
  if (wasFrozen !== frozen) out.push(differs(label(flags, 'freeze'), frozen, wasFrozen));
  const explained = stored.trainSize !== given.trainSize || stored.batchSize !== given.batchSize;
  if (given.schedule)
    out.push(
      ...scheduleDifferences(given.schedule, stored.schedule, { given: given.totalSteps, stored: stored.totalSteps, explained }, flags),
    );
  out.push(...optimizerDifferences(given, stored, flags));
  if (given.augment !== undefined && stored.augment !== undefined && !same(given.augment, stored.augment))
    out.push(`augmentation ${augmentText(given.augment, flags)} differs from the run's ${augmentText(stored.augment, flags)}`);
  return out;
}
