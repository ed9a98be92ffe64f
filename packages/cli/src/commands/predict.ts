import { Command } from 'commander';
import { UserError, WeightsSourceOptions, checkImageFiles, loadClassifier, selectBackend } from '../util.js';
import { integer, number, opt, text } from '../options.js';

interface PredictOptions extends WeightsSourceOptions {
  top?: number;
  backend?: string;
  json?: boolean;
}

/** `resnet predict`: top-k labels with probabilities for image files. */
export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify image files (JPEG/PNG): top-k labels with probabilities')
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
    .option('--json', 'print JSON')
    .action(async (images: string[], opts: PredictOptions) => {
      checkImageFiles(images);
      await selectBackend(opts.backend ?? 'auto');
      // Weights are required, as for eval/forward/export-onnx: an architecture alone would answer at random.
      const clf = await loadClassifier(opts);
      try {
        const classes = clf.model.spec.numClasses;
        if (opts.top !== undefined && opts.top > classes)
          throw new UserError(`--top ${opts.top} is more than the model's ${classes} classes; give at most ${classes}.`);
        const topk = opts.top ?? Math.min(5, classes);
        const preds: { source: string; top: { index: number; label: string; probability: number }[] }[] = [];
        for (const image of images) {
          // classify refuses an image whose logits hold NaN or Inf (one line, exit 1), as eval counts them wrong.
          const top = await clf.classify(image, { topk });
          preds.push({ source: image, top: top.map((t) => ({ index: t.index, label: t.label, probability: t.probability })) });
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify(preds, null, 2) + '\n');
          return;
        }
        for (const p of preds) {
          process.stdout.write(`${p.source}\n`);
          for (const t of p.top) process.stdout.write(`  ${(100 * t.probability).toFixed(2).padStart(6)} %  ${t.label}\n`);
        }
      } finally {
        clf.dispose();
      }
    });
}
