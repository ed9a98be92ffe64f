import { Command } from 'commander';
import { saveOnnx } from '@resnet-ts/onnx';
import { UserError, loadModelWithWeights, selectBackend } from '../util.js';

interface ExportOnnxOptions {
  model?: string;
  weights: string;
  out: string;
  foldBn: boolean;
  opset: string;
  layout: string;
}

/** `resnet export-onnx`: an ONNX model (eval mode, dynamic batch) from weights. */
export function registerExportOnnx(program: Command): void {
  program
    .command('export-onnx')
    .description('export a model with its weights to ONNX (eval mode, dynamic batch, NCHW input like PyTorch)')
    .requiredOption('--weights <file>', 'weights: a resnet-ts checkpoint or a torchvision state dict (.safetensors)')
    .requiredOption('--out <file>', 'the .onnx file to write')
    .option('--model <name|spec.json>', 'zoo name or spec file (default: the spec stored in a resnet-ts checkpoint)')
    .option('--no-fold-bn', 'keep BatchNormalization nodes instead of folding them into the convolutions')
    .option('--opset <n>', 'ONNX opset (>= 13)', '13')
    .option('--layout <nchw|nhwc>', 'input layout of the exported graph', 'nchw')
    .action(async (opts: ExportOnnxOptions) => {
      const opset = Number(opts.opset);
      if (!Number.isInteger(opset) || opset < 13) throw new UserError(`--opset must be an integer >= 13; got '${opts.opset}'.`);
      if (opts.layout !== 'nchw' && opts.layout !== 'nhwc') throw new UserError(`--layout must be nchw or nhwc; got '${opts.layout}'.`);
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
