import { Command } from 'commander';
import { ResNetError } from '@resnet-ts/core';
import type { Classifier } from '@resnet-ts/zoo';
import { exifOrientation } from '@resnet-ts/zoo/node';
import { UserError, WeightsSourceOptions, errorLine, imageFileProblem, loadClassifier, selectBackend } from '../util.js';
import { integer, number, opt, text } from '../options.js';
import { PreprocessingFlags, addPreprocessingOptions, preprocessingOverride } from '../preprocessing-options.js';
import { assumedPreprocessingNote } from '../preprocessing-note.js';

interface PredictOptions extends WeightsSourceOptions, PreprocessingFlags {
  top?: number;
  backend?: string;
  json?: boolean;
}

/** One image's answer: its top labels, or why it has none. */
interface Prediction {
  source: string;
  top?: { index: number; label: string; probability: number }[];
  error?: string;
}

/** Prints the answers (JSON, or a block per image) on stdout and each image's error as one line on stderr. */
function printPredictions(preds: Prediction[], json: boolean): void {
  for (const p of preds) if (p.error !== undefined) process.stderr.write(`resnet: ${p.error}\n`);
  if (json) {
    process.stdout.write(JSON.stringify(preds, null, 2) + '\n');
    return;
  }
  for (const p of preds) {
    if (!p.top) continue;
    process.stdout.write(`${p.source}\n`);
    for (const t of p.top) process.stdout.write(`  ${(100 * t.probability).toFixed(2).padStart(6)} %  ${t.label}\n`);
  }
}

/**
 * The note for an image that the decoder turned or mirrored by its EXIF orientation (photo viewers
 * do the same; torchvision's PIL pipeline does not), or null for orientation 1.
 */
export function orientationNote(image: string, orientation: number): string | null {
  if (orientation < 2 || orientation > 8) return null;
  const [done, undone] = [3, 6, 8].includes(orientation)
    ? ['turned upright', 'turn']
    : [2, 4].includes(orientation)
      ? ['mirrored', 'mirror']
      : ['turned and mirrored', 'turn or mirror'];
  return (
    `note: ${image}: ${done} by its EXIF orientation (${orientation}), as photo viewers show it; ` +
    `torchvision's PIL pipeline would not ${undone} it`
  );
}

/**
 * Each image's top labels. One image that cannot be read or decoded, or whose logits are NaN/Inf,
 * does not cost the others their answers: it gets an `error` instead (printed as one line). An image
 * turned by its EXIF orientation gets a note on stderr ({@link orientationNote}).
 */
async function classifyEach(clf: Classifier, images: string[], problems: Map<string, Error>, topk: number): Promise<Prediction[]> {
  const preds: Prediction[] = [];
  for (const image of images) {
    const problem = problems.get(image);
    if (problem) {
      preds.push({ source: image, error: problem.message });
      continue;
    }
    try {
      const top = await clf.classify(image, { topk });
      const note = orientationNote(image, await exifOrientation(image));
      if (note) process.stderr.write(note + '\n');
      preds.push({ source: image, top: top.map((t) => ({ index: t.index, label: t.label, probability: t.probability })) });
    } catch (e) {
      if (!(e instanceof ResNetError)) throw e;
      preds.push({ source: image, error: errorLine(e) });
    }
  }
  return preds;
}

/** `resnet predict`: top-k labels with probabilities for image files. */
export function registerPredict(program: Command): void {
  const command = program
    .command('predict')
    .description('classify image files (JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM, PBM): top-k labels with probabilities')
    .argument('<images...>', 'image files')
    .addOption(
      opt(
        '--model <name>',
        'shipped model (e.g. resnet20-fashion-mnist), or the architecture of --weights: zoo name (e.g. resnet50) or JSON spec file (default: the spec stored in the weights, else inferred)',
        text(),
      ),
    )
    .addOption(
      opt(
        '--weights <source>',
        'weights: a file (resnet-ts checkpoint, safetensors or PyTorch .pth), an http(s) URL or hf:owner/name',
        text('a file, URL or name'),
      ),
    )
    .addOption(opt('--classes <n>', 'number of classes of the head (default: from the weights)', integer(1, 1000000)))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: source (default 30)', number({ above: 0 })))
    .addOption(
      opt(
        '--top <k>',
        "how many labels per image, at most the model's classes (default: 5, or all when there are fewer)",
        integer(1, 100000),
      ),
    )
    .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
    .option('--json', 'print JSON');
  addPreprocessingOptions(command, true);
  command.action(async (images: string[], opts: PredictOptions) => {
    // Paths that cannot be images (missing, a folder, empty) are known before any model loads.
    const problems = new Map<string, Error>();
    for (const image of images) {
      const problem = imageFileProblem(image);
      if (problem) problems.set(image, problem);
    }
    if (problems.size === images.length) {
      printPredictions(
        images.map((source) => ({ source, error: problems.get(source)!.message })),
        opts.json ?? false,
      );
      process.exitCode = 1;
      return;
    }
    await selectBackend(opts.backend ?? 'auto');
    // Weights are required, as for eval/forward/export-onnx: an architecture alone would answer at random.
    const clf = await loadClassifier({ ...opts, preprocessing: preprocessingOverride(opts) });
    try {
      const classes = clf.model.spec.numClasses;
      if (opts.top !== undefined && opts.top > classes)
        throw new UserError(`--top ${opts.top} is more than the model's ${classes} classes; give at most ${classes}.`);
      const topk = opts.top ?? Math.min(5, classes);
      // Weights that store no preprocessing, and no --mean/--std for them: say what was assumed (not for ImageNet weights).
      const note = assumedPreprocessingNote(clf);
      if (note) process.stderr.write(note + '\n');
      const preds = await classifyEach(clf, images, problems, topk);
      printPredictions(preds, opts.json ?? false);
      if (preds.some((p) => p.error !== undefined)) process.exitCode = 1;
    } finally {
      clf.dispose();
    }
  });
}
