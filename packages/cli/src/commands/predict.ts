import { Command } from 'commander';
import { ResNet } from '@resnet-ts/core';
import { loadWeights, predict, readWeightsInfo, WeightsInfo } from '@resnet-ts/train';
import { UserError, loadModel, selectBackend, withShippedWeights } from '../util.js';
import { integer, opt, text } from '../options.js';

/** `resnet predict`: top-k labels with probabilities for image files. */
export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify image files (JPEG/PNG): top-k labels with probabilities')
    .argument('<images...>', 'image files')
    .addOption(
      opt(
        '--model <name>',
        'zoo name (e.g. resnet20-fashion-mnist: shipped trained weights), or JSON spec file (default: the spec stored in the weights)',
        text(),
      ),
    )
    .addOption(opt('--weights <file>', 'safetensors weights from `resnet train`', text('a file')))
    .addOption(opt('--top <k>', "how many labels per image (at most the model's classes)", integer(1, 100000), 5))
    .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
    .option('--json', 'print JSON')
    .action(async (images: string[], given: { model?: string; weights?: string; top: number; backend?: string; json?: boolean }) => {
      const opts = withShippedWeights(given);
      await selectBackend(opts.backend ?? 'auto');
      const info: WeightsInfo = opts.weights ? readWeightsInfo(opts.weights) : { metadata: {} };
      let model: ResNet;
      if (opts.model)
        model = loadModel(opts.model, info.spec ? { inChannels: info.spec.inChannels, numClasses: info.spec.numClasses } : {});
      else if (info.spec) model = new ResNet(info.spec);
      else throw new UserError('Give --model (and --weights for a trained model).');
      try {
        if (opts.weights) loadWeights(opts.weights, model);
        else process.stderr.write('resnet: warning: no --weights given: the model is untrained and its predictions are random.\n');
        const channels = model.spec.inChannels === 1 ? 1 : 3;
        if (model.spec.inChannels !== 1 && model.spec.inChannels !== 3)
          throw new UserError(`predict supports 1- or 3-channel models; this one takes ${model.spec.inChannels}.`);
        if (opts.top > model.spec.numClasses)
          throw new UserError(`--top ${opts.top} is more than the model's ${model.spec.numClasses} classes; give at most ${model.spec.numClasses}.`);
        const prep: NonNullable<WeightsInfo['preprocessing']> = info.preprocessing ?? {
          mean: new Array<number>(channels).fill(0.5),
          std: new Array<number>(channels).fill(0.5),
        };
        const imageSize = prep.imageSize ?? prep.inputSize ?? model.spec.inputSize;
        const preds = await predict(model, images, {
          preprocessing: { mean: prep.mean, std: prep.std, padTo: prep.padTo },
          imageSize,
          channels,
          classes: info.classes,
          k: opts.top,
        });
        if (opts.json) {
          process.stdout.write(JSON.stringify(preds, null, 2) + '\n');
          return;
        }
        for (const p of preds) {
          process.stdout.write(`${p.source}\n`);
          for (const t of p.top) process.stdout.write(`  ${(100 * t.probability).toFixed(2).padStart(6)} %  ${t.label}\n`);
        }
      } finally {
        model.dispose();
      }
    });
}
