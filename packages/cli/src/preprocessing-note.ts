/**
 * The note for weights that do not store how their images were prepared (`predict`, `eval` on image
 * folders): the answers depend on it, so the user sees what was assumed (the architecture's usual
 * transforms) rather than a silent guess.
 */
import type { Preprocessing } from '@resnet-ts/core';
import type { Classifier } from '@resnet-ts/zoo';
import { PreprocessingFlags, preprocessingOverride } from './preprocessing-options.js';
import { UserError } from './util.js';

/** Per-channel values as the notes show them: 0.485/0.456/0.406. */
const list = (v: number[]) => v.map((x) => +x.toFixed(4)).join('/');

/**
 * The `note: ...` line saying which preprocessing was assumed, or undefined when nothing was: the
 * weights store their preprocessing, --mean/--std were given, or they are ImageNet weights (1000
 * classes, RGB), which all use torchvision's standard transforms.
 */
export function assumedPreprocessingNote(clf: Classifier): string | undefined {
  if (!normalisationAssumed(clf)) return undefined;
  const p = clf.preprocessing;
  const size = (s: number | [number, number]) => (Array.isArray(s) ? `${s[0]}x${s[1]}` : `short side ${s}`);
  const steps = [
    p.resize !== undefined ? `resize ${size(p.resize)}` : undefined,
    p.crop ? `centre crop ${size(p.crop)}` : undefined,
    p.padTo ? `pad to ${size(p.padTo)}` : undefined,
    `mean ${list(p.mean)}`,
    `std ${list(p.std)}`,
    `${p.channels} channel${p.channels === 1 ? '' : 's'}`,
  ].filter(Boolean);
  return (
    `note: ${clf.source} does not store its preprocessing; assumed the usual for its architecture: ${steps.join(', ')}. ` +
    `Answers are off if the weights were trained with other transforms: give them with --mean and --std (and --resize, --crop).`
  );
}

/**
 * Whether `clf`'s normalisation is a guess the user should be told of: the weights store no
 * preprocessing, --mean/--std were not given (they reach the classifier as its options), and they
 * are no ImageNet weights (1000 classes, RGB, an ImageNet stem), which all use torchvision's standard
 * transforms: the zoo's `origin.normalisation`. The one test behind the 'assumed' note and what
 * `convert` and `export-onnx` store.
 */
export function normalisationAssumed(clf: Classifier): boolean {
  return clf.origin.normalisation === 'assumed';
}

/**
 * The preprocessing a converted file stores: the weights' own (with the flags' fields over it), the
 * flags' over the architecture's usual, or undefined when the weights store none and no flag was
 * given (the file then stores none either, and readers assume, and say they assumed, as for the
 * source). Flags that leave the normalisation a guess (--resize or --crop without --mean and --std)
 * are refused: the file would store the guess as if it were known.
 */
export function preprocessingToStore(clf: Classifier, flags: PreprocessingFlags): Preprocessing | undefined {
  if (clf.origin.preprocessingBase === 'weights') return { ...clf.preprocessing };
  if (!preprocessingOverride(flags)) return undefined;
  if (normalisationAssumed(clf))
    throw new UserError(
      `${clf.source} does not store its preprocessing: give --mean and --std with --resize and --crop, or the file would store the architecture's usual normalisation as if it were known.`,
    );
  return { ...clf.preprocessing };
}

/**
 * The `note: ...` line of `eval` on IDX or CIFAR data for weights that store no normalisation when
 * none was given: the data is normalised by its training set's statistics, as `resnet train`
 * normalised it (which `predict`, with no data set to measure, cannot do); `testOnly`: by the test
 * images' own, for a folder that holds only the test files.
 */
export function dataStatisticsNote(clf: Classifier, data: string, stats: { mean: number[]; std: number[] }, testOnly = false): string {
  // A folder of the test files alone has no training set: its test images' own statistics stand in.
  const by = testOnly ? "the test images' own statistics (the folder holds no training files)" : "the training set's statistics";
  return (
    `note: ${clf.source} does not store its preprocessing; normalised the ${data} images by ${by} ` +
    `(mean ${list(stats.mean)}, std ${list(stats.std)}), as resnet train does. Give --mean and --std if the weights were trained otherwise.`
  );
}
