import { Command } from 'commander';
import { ONNX_OPSETS, saveOnnx } from '@resnet-ts/onnx';
import { checkOutputFormat, loadModelWithWeights, selectBackend } from '../util.js';
import { choice, integer, number, opt, requiredOpt, text } from '../options.js';

interface ExportOnnxOptions {
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
  program
    .command('export-onnx')
    .description('export a model with its weights to ONNX (eval mode, dynamic batch, NCHW input like PyTorch)')
    .addOption(
      requiredOpt('--weights <source>', 'weights: a file (resnet-ts checkpoint, safetensors or PyTorch .pth state dict), an http(s) URL, hf:owner/name or a shipped model', text('a file, URL or name')),
    )
    .addOption(requiredOpt('--out <file>', 'the .onnx file to write (another name: written as given, with a note)', text('a file')))
    .addOption(opt('--model <name|spec.json>', 'zoo name or spec file (default: the spec stored in a resnet-ts checkpoint, else inferred from the weights)', text()))
    .addOption(opt('--classes <n>', 'number of classes of the head (default: from the weights)', integer(1, 1000000)))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: source (default 30)', number({ above: 0 })))
    .option('--no-fold-bn', 'keep BatchNormalization nodes instead of folding them into the convolutions')
    .addOption(opt('--opset <n>', `ONNX opset (${ONNX_OPSETS.min} to ${ONNX_OPSETS.max})`, integer(ONNX_OPSETS.min, ONNX_OPSETS.max), 13))
    .addOption(opt('--layout <nchw|nhwc>', 'input layout of the exported graph', choice(['nchw', 'nhwc'] as const), 'nchw'))
    .action(async (opts: ExportOnnxOptions) => {
      const nameNote = checkOutputFormat(opts.out, 'ONNX', 'export-onnx', opts.weights);
      const opset = opts.opset;
      await selectBackend('auto');
      const model = await loadModelWithWeights(opts.model, opts.weights, { classes: opts.classes, timeout: opts.timeout });
      try {
        await saveOnnx(opts.out, model, { foldBatchNorm: opts.foldBn, opset, layout: opts.layout });
      } finally {
        model.dispose();
      }
      // With what was written (as convert does): a write that fails (a folder, EISDIR) is its one line alone.
      if (nameNote) process.stderr.write(`${nameNote}\n`);
      process.stdout.write(`wrote ${opts.out} (opset ${opset}, batch norm ${opts.foldBn ? 'folded' : 'kept'}, ${opts.layout} input)\n`);
    });
}
