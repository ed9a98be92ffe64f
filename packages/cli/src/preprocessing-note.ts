/**
 * The note for weights that do not store how their images were prepared (`predict`, `eval` on image
 * folders): the answers depend on it, so the user sees what was assumed (the architecture's usual
 * transforms) rather than a silent guess.
 */
import type { Classifier } from '@resnet-ts/zoo';
import type { PreprocessingFlags } from './preprocessing-options.js';

/** Per-channel values as the notes show them: 0.485/0.456/0.406. */
const list = (v: number[]) => v.map((x) => +x.toFixed(4)).join('/');

/**
 * The `note: ...` line saying which preprocessing was assumed, or undefined when nothing was: the
 * weights store their preprocessing, --mean/--std were given, or they are ImageNet weights (1000
 * classes, RGB), which all use torchvision's standard transforms.
 */
export function assumedPreprocessingNote(clf: Classifier, flags: PreprocessingFlags): string | undefined {
  const p = clf.preprocessing;
  const imagenet = clf.model.spec.numClasses === 1000 && p.channels === 3;
  if (clf.origin.preprocessingBase !== 'default' || (flags.mean && flags.std) || imagenet) return undefined;
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
 * The `note: ...` line of `eval` on IDX or CIFAR data for weights that store no normalisation when
 * none was given: the data is normalised by its training set's statistics, as `resnet train`
 * normalised it (which `predict`, with no data set to measure, cannot do).
 */
export function dataStatisticsNote(clf: Classifier, data: string, stats: { mean: number[]; std: number[] }): string {
  return (
    `note: ${clf.source} does not store its preprocessing; normalised the ${data} images by the training set's statistics ` +
    `(mean ${list(stats.mean)}, std ${list(stats.std)}), as resnet train does. Give --mean and --std if the weights were trained otherwise.`
  );
}
