import { Command } from 'commander';
import {
  type DataPair,
  type EvalResult,
  classifierEvaluation,
  defaultProgressBar,
  evaluate,
  fitDataset,
  folderProgressReporter,
  formatEvalReport,
  limitImages,
  loadData,
  matchClasses,
  progressBar,
  requireImages,
} from '@resnet-ts/train';
import { UserError, WeightsSourceOptions, loadClassifier, selectBackend } from '../util.js';
import { dataSet, integer, number, opt, text } from '../options.js';
import { PreprocessingFlags, addPreprocessingOptions, preprocessingOverride } from '../preprocessing-options.js';
import { assumedPreprocessingNote, dataStatisticsNote } from '../preprocessing-note.js';

interface EvalOptions extends WeightsSourceOptions, PreprocessingFlags {
  data: string;
  batch: number;
  limit?: number;
  backend?: string;
  json?: boolean;
}

/**
 * What eval scored, for its report's first line: `fashion-mnist test set`, `folder test/ split`,
 * `folder val/ split (no test/)`, `folder train/ split (no test/ or val/)`, or `folder (all its class folders)`.
 */
export function evaluatedData(pair: DataPair): string {
  if (pair.kind !== 'folder') return `${pair.kind} test set`;
  if (pair.split === 'test') return 'folder test/ split';
  if (pair.split === 'val') return 'folder val/ split (no test/)';
  if (pair.split === 'train') return 'folder train/ split (no test/ or val/)';
  return 'folder (all its class folders)';
}

/**
 * `resnet eval`: top-1/top-5, per-class accuracy and confusion matrix of trained weights. The data's
 * classes are paired with the model's outputs by `matchClasses` (by name where the weights store
 * class names; a class the model does not know is an error, never another output's score). An image
 * folder is scored image by image as `resnet predict` classifies it: the classifier's decoding,
 * resize, crop, pad and normalisation (stored, else the architecture's usual, with a note; --mean,
 * --std, --resize and --crop replace those fields, as for predict). IDX and CIFAR data keep their own
 * size (--resize and --crop are refused for them), padding and, for weights that store no
 * preprocessing, their training set's statistics.
 */
export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('evaluate weights on a test set: top-1, top-5, loss, per-class accuracy, confusion matrix')
    .addOption(opt('--model <name>', 'zoo name or JSON spec file (default: the spec stored in the weights, else inferred)', text()))
    .addOption(
      opt(
        '--weights <source>',
        'weights: a file (checkpoint from `resnet train`, safetensors or PyTorch .pth), an http(s) URL or hf:owner/name; default: the shipped weights of --model',
        text('a file, URL or name'),
      ),
    )
    .addOption(opt('--classes <n>', 'number of classes of the head (default: from the weights)', integer(1, 1000000)))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: source (default 30)', number({ above: 0 })))
    .addOption(opt('--data <name|dir>', 'fashion-mnist | mnist | cifar10 | cifar100 | a folder', dataSet(), 'fashion-mnist'))
    .addOption(opt('--batch <n>', 'batch size', integer(1, 65536), 256))
    .addOption(
      opt('--limit <n>', 'evaluate only n test images (the first n; a seeded mix of every class for image folders)', integer(1, 1e9)),
    )
    .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
    .option('--json', 'print JSON');
  addPreprocessingOptions(command, true);
  command.action(async (opts: EvalOptions) => {
    await selectBackend(opts.backend ?? 'auto');
    const clf = await loadClassifier({ ...opts, preprocessing: preprocessingOverride(opts) });
    try {
      const prep = clf.preprocessing;
      const imageSize = Array.isArray(prep.resize) ? prep.resize : prep.crop;
      // val: 0: a folder of class sub-folders is evaluated whole; of train/ val/ test/ only test/ (else val/) is read,
      // with its own class folders (train/'s classes do not constrain it: they are matched to the model's by name).
      // Image folders are decoded as the classifier prepares an image (predict's pixels, before normalising).
      const log = (m: string) => process.stderr.write(m + '\n');
      const pair = await loadData(opts.data, {
        imageSize,
        channels: prep.channels,
        val: 0,
        evaluatedSplitOnly: true,
        log,
        preprocessing: prep,
        onFolderProgress: folderProgressReporter(),
        // An image folder decodes only the images --limit takes (the split evaluated, or the whole folder).
        limits: opts.limit === undefined ? undefined : { train: opts.limit, eval: opts.limit, seed: 0 },
      });
      const loaded = pair.test ?? pair.val ?? pair.train;
      const folder = pair.kind === 'folder';
      if (!folder && (opts.resize !== undefined || opts.crop !== undefined))
        throw new UserError(
          `--resize and --crop apply to image folders (each file decoded as predict decodes it), not to ${pair.kind} data: leave them out.`,
        );
      const match = matchClasses(loaded.classes, clf.labels, { folders: folder, namedOutputs: clf.origin.labels === 'named' });
      if (match.note) process.stderr.write(match.note + '\n');
      // The same selection as train's --test-limit: the first n, or a seeded mix of every class for folders.
      const how = { mix: folder, seed: 0, what: `test images of ${pair.kind}` };
      const limited =
        pair.limited && opts.limit !== undefined ? (requireImages(loaded, opts.limit, how), loaded) : limitImages(loaded, opts.limit, how);
      // In-memory data (IDX, CIFAR) at the size and channels the weights were trained on (resnet train --image-size).
      const fit = !folder && clf.origin.preprocessingBase === 'weights' && imageSize !== undefined;
      const test = fit ? fitDataset(limited, imageSize, prep.channels) : limited;
      // A folder takes the classifier's preprocessing (as predict, with its note when assumed).
      const note = folder ? assumedPreprocessingNote(clf) : undefined;
      if (note) process.stderr.write(note + '\n');
      const given = opts.mean !== undefined || opts.std !== undefined;
      const preprocessing = classifierEvaluation(clf, pair, test, given);
      if (!folder && !given && clf.origin.preprocessingBase === 'default')
        process.stderr.write(dataStatisticsNote(clf, pair.kind, preprocessing, pair.split === 'test') + '\n');
      const bar = defaultProgressBar() ? progressBar('evaluating |{bar}| {value}/{total} images | ETA {eta_formatted}') : undefined;
      bar?.start(test.labels.length, 0);
      let r;
      try {
        r = evaluate(
          clf.model,
          { ...test, classes: match.names },
          { batchSize: opts.batch, outputs: match.outputs, preprocessing, onBatch: (done) => bar?.update(done) },
        );
      } finally {
        bar?.stop();
      }
      writeEvaluation(r, opts.json ? undefined : `${opts.weights ?? clf.source} on ${evaluatedData(pair)}`);
    } finally {
      clf.dispose();
    }
  });
}

/**
 * Prints an evaluation: the text report under `title`, or JSON when there is none. Top-5 of 5 outputs
 * or fewer is 100 % by construction: JSON says null, as the text leaves it out. Like predict, broken
 * weights (non-finite predictions) are then a failure a script must see.
 */
function writeEvaluation(r: EvalResult, title: string | undefined): void {
  if (title === undefined)
    process.stdout.write(JSON.stringify({ ...r, top5: (r.outputs ?? r.classes.length) > 5 ? r.top5 : null }, null, 2) + '\n');
  else process.stdout.write(`${title}\n` + formatEvalReport(r) + '\n');
  if (r.nonFinite > 0)
    throw new UserError(
      `${r.nonFinite} of ${r.n} predictions are not finite (NaN or Inf logits): the weights are broken; the report above counts them wrong.`,
    );
}
