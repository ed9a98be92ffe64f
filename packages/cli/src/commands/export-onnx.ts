import { Command } from 'commander';
import { ONNX_OPSETS, saveOnnx } from '@resnet-ts/onnx';
import { loadModelWithWeights, selectBackend } from '../util.js';
import { choice, integer, opt, requiredOpt, text } from '../options.js';

interface ExportOnnxOptions {
  model?: string;
  weights: string;
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
    .addOption(requiredOpt('--weights <file>', 'weights: a resnet-ts checkpoint or a torchvision state dict (.safetensors)', text('a file')))
    .addOption(requiredOpt('--out <file>', 'the .onnx file to write', text('a file')))
    .addOption(opt('--model <name|spec.json>', 'zoo name or spec file (default: the spec stored in a resnet-ts checkpoint)', text()))
    .option('--no-fold-bn', 'keep BatchNormalization nodes instead of folding them into the convolutions')
    .addOption(opt('--opset <n>', `ONNX opset (${ONNX_OPSETS.min} to ${ONNX_OPSETS.max})`, integer(ONNX_OPSETS.min, ONNX_OPSETS.max), 13))
    .addOption(opt('--layout <nchw|nhwc>', 'input layout of the exported graph', choice(['nchw', 'nhwc'] as const), 'nchw'))
    .action(async (opts: ExportOnnxOptions) => {
      const opset = opts.opset;
      await selectBackend('auto');
      const model = loadModelWithWeights(opts.model, opts.weights);
      try {
        await saveOnnx(opts.out, model, { foldBatchNorm: opts.foldBn, opset, layout: opts.layout });
      } finally {
        model.dispose();
      }
      process.stdout.write(`wrote ${opts.out} (opset ${opset}, batch norm ${opts.foldBn ? 'folded' : 'kept'}, ${opts.layout} input)\n`);
    });
}
