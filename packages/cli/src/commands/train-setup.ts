/**
 * What `resnet train` trains on and from: the data (loaded, limited, brought to --image-size and
 * --channels), the model (from --model, or --init's pretrained weights with a head for the data's
 * classes) and the preprocessing (--init's normalisation, padding for CIFAR stems).
 */
import type { ResNet } from '@resnet-ts/core';
import {
  Dataset,
  Preprocessing,
  adaptPretrained,
  cifarPadTo,
  fitDataset,
  folderProgressReporter,
  limitImages,
  loadData,
  requireImages,
} from '@resnet-ts/train';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { UserError, loadClassifier, loadModel } from '../util.js';
import { preprocessingOverride } from '../preprocessing-options.js';
import type { TrainCliOptions } from './train.js';

/** The model, data and preprocessing of a run. */
export interface TrainSetup {
  model: ResNet;
  trainSet: Dataset;
  valSet?: Dataset;
  testSet?: Dataset;
  /** The data set's kind ('fashion-mnist', 'folder', ...). */
  kind: string;
  /** Whether mirror images keep their class. */
  flip: boolean;
  preprocessing: Partial<Preprocessing>;
}

/** The square input size a source's preprocessing implies (its crop, else its resize). */
function sourceSize(p: ImagePreprocessing): number | undefined {
  if (p.crop) return p.crop[0];
  return Array.isArray(p.resize) ? p.resize[0] : p.resize;
}

/** Loads the data and the model of `resnet train` (see the module comment). */
export async function prepareTraining(opts: TrainCliOptions, note: (m: string) => void): Promise<TrainSetup> {
  const clf = opts.init
    ? await loadClassifier({ weights: opts.init, timeout: opts.timeout, preprocessing: preprocessingOverride(opts) })
    : undefined;
  try {
    const size = opts.imageSize ?? (clf ? sourceSize(clf.preprocessing) : undefined);
    const channels = opts.channels ?? clf?.preprocessing.channels;
    const pair = await loadData(opts.data, {
      imageSize: size ? [size, size] : undefined,
      channels: channels as 1 | 3 | undefined,
      val: opts.val,
      seed: opts.seed,
      log: note,
      onFolderProgress: folderProgressReporter(),
      // An image folder decodes only the images --limit and --test-limit take.
      limits:
        opts.limit === undefined && opts.testLimit === undefined ? undefined : { train: opts.limit, eval: opts.testLimit, seed: opts.seed },
    });
    const folder = pair.kind === 'folder';
    const fit = (d: Dataset | undefined) =>
      d && !folder && (size || channels) ? fitDataset(d, [size ?? d.shape[0], size ?? d.shape[1]], channels ?? d.shape[2]) : d;
    // --limit n: the first n images, or a seeded mix of every class for image folders (sorted by class).
    const limited = (d: Dataset, n: number | undefined, flag: string, what: string) => {
      const how = { mix: folder, seed: opts.seed, flag, what: `${what} images of ${pair.kind}` };
      if (n !== undefined && pair.limited) return (requireImages(d, n, how), d);
      return limitImages(d, n, how);
    };
    const trainSet = fit(limited(pair.train, opts.limit, '--limit', 'training'))!;
    const evalLimit = (d: Dataset | undefined, what: string) => (d ? limited(d, opts.testLimit, '--test-limit', what) : undefined);
    const valSet = fit(evalLimit(pair.val, 'validation'));
    const testSet = fit(evalLimit(pair.test, 'test'));
    const K = trainSet.classes.length;
    if (opts.classes !== undefined && opts.classes !== K)
      throw new UserError(
        `--classes ${opts.classes} does not match the data: ${pair.kind} has ${K} classes (${trainSet.classes.slice(0, 6).join(', ')}${K > 6 ? ', ...' : ''}).`,
      );
    const [h, w, c] = trainSet.shape;
    if (clf) {
      const init = adaptPretrained(clf, { classes: trainSet.classes, channels: c, seed: opts.seed, log: note });
      const p = init.preprocessing;
      const padTo = p.padTo && p.padTo[0] >= h && p.padTo[1] >= w ? p.padTo : undefined;
      return {
        model: init.model,
        trainSet,
        valSet,
        testSet,
        kind: pair.kind,
        flip: pair.flip,
        preprocessing: { mean: p.mean, std: p.std, ...(padTo ? { padTo } : {}) },
      };
    }
    const model = loadModel(opts.model, { inChannels: c, numClasses: K });
    const padTo = opts.pad ? cifarPadTo(model.spec.stem, [h, w]) : undefined;
    return { model, trainSet, valSet, testSet, kind: pair.kind, flip: pair.flip, preprocessing: padTo ? { padTo } : {} };
  } catch (e) {
    clf?.dispose();
    throw e;
  }
}
