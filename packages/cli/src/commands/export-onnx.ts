import { Command } from 'commander';
import type { ResNet } from '@resnet-ts/core';
import { ONNX_OPSETS, OnnxPreprocessing, saveOnnx } from '@resnet-ts/onnx';
import { checkOutputFormat, loadClassifierOrNetwork, selectBackend } from '../util.js';
import { choice, integer, number, opt, requiredOpt, text } from '../options.js';
import { PreprocessingFlags, addPreprocessingOptions, preprocessingOverride } from '../preprocessing-options.js';
import { normalisationAssumed, preprocessingToStore } from '../preprocessing-note.js';

interface ExportOnnxOptions extends PreprocessingFlags {
  model?: string;
  weights: string;
  classes?: number;
  timeout?: number;
  out: string;
  foldBn: boolean;
  opset: number;
  layout: 'nchw' | 'nhwc';
}

/** `resnet export-onnx`: an ONNX model (eval mode, dynamic batch) from weights. */
export function registerExportOnnx(program: Command): void {
  const command = program
    .command('export-onnx')
    .description('export a model with its weights to ONNX (eval mode, dynamic batch, NCHW input like PyTorch)')
    .addOption(
      requiredOpt(
        '--weights <source>',
        'weights: a file (resnet-ts checkpoint, safetensors or PyTorch .pth state dict), an http(s) URL, hf:owner/name or a shipped model',
        text('a file, URL or name'),
      ),
    )
    .addOption(requiredOpt('--out <file>', 'the .onnx file to write (another name: written as given, with a note)', text('a file')))
    .addOption(
      opt(
        '--model <name|spec.json>',
        'zoo name or spec file (default: the spec stored in a resnet-ts checkpoint, else inferred from the weights)',
        text(),
      ),
    )
    .addOption(opt('--classes <n>', 'number of classes of the head (default: from the weights)', integer(1, 1000000)))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: source (default 30)', number({ above: 0 })))
    .option('--no-fold-bn', 'keep BatchNormalization nodes instead of folding them into the convolutions')
    .addOption(opt('--opset <n>', `ONNX opset (${ONNX_OPSETS.min} to ${ONNX_OPSETS.max})`, integer(ONNX_OPSETS.min, ONNX_OPSETS.max), 13))
    .addOption(opt('--layout <nchw|nhwc>', 'input layout of the exported graph', choice(['nchw', 'nhwc'] as const), 'nchw'));
  // Stored in the file's metadata with the class names, for whoever feeds it images.
  addPreprocessingOptions(command, true);
  command.action(async (opts: ExportOnnxOptions) => {
    const nameNote = checkOutputFormat(opts.out, 'ONNX', 'export-onnx', opts.weights);
    const opset = opts.opset;
    await selectBackend('auto');
    const { model, preprocessing, labels, note } = await loadForExport(opts);
    try {
      await saveOnnx(opts.out, model, { foldBatchNorm: opts.foldBn, opset, layout: opts.layout, preprocessing, labels });
    } finally {
      model.dispose();
    }
    // With what was written (as convert does): a write that fails (a folder, EISDIR) is its one line alone.
    for (const line of [nameNote, note]) if (line) process.stderr.write(`${line}\n`);
    const stored = [preprocessing && 'preprocessing', labels && 'class names'].filter(Boolean).join(' and ');
    process.stdout.write(
      `wrote ${opts.out} (opset ${opset}, batch norm ${opts.foldBn ? 'folded' : 'kept'}, ${opts.layout} input${stored ? `; ${stored} in its metadata` : ''})\n`,
    );
  });
}

/** What an export writes: the network, and what the file's metadata says about feeding it. */
interface Exportable {
  model: ResNet;
  preprocessing?: OnnxPreprocessing;
  labels?: string[];
  /** A `note:` line when the file states no preprocessing because nobody knows it. */
  note?: string;
}

/**
 * The weights as a classifier, for the preprocessing and class names to store: the weights' own or
 * the flags' (a guessed normalisation is not stored, as `convert` does not store one); a model that
 * images cannot feed (2, 4 or more input channels) is exported alone.
 */
async function loadForExport(opts: ExportOnnxOptions): Promise<Exportable> {
  const { model, classifier: clf } = await loadClassifierOrNetwork({
    model: opts.model,
    weights: opts.weights,
    classes: opts.classes,
    timeout: opts.timeout,
    preprocessing: preprocessingOverride(opts),
  });
  if (!clf) return { model };
  try {
    const assumed = normalisationAssumed(clf);
    const preprocessing = assumed ? preprocessingToStore(clf, opts) : { ...clf.preprocessing };
    const labels = clf.origin.labels === 'named' ? [...clf.labels] : undefined;
    const note = assumed
      ? `note: ${clf.source} does not store its preprocessing, so neither does ${opts.out}: give --mean and --std (and --resize, --crop) to store how its images were prepared.`
      : undefined;
    return { model, preprocessing: preprocessing as OnnxPreprocessing | undefined, labels, note };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
