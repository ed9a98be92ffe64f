import { Command } from 'commander';
import { ResNet } from '@resnet-ts/core';
import { channelStats, evaluate, formatEvalReport, loadData, loadWeights, readWeightsInfo } from '@resnet-ts/train';
import { UserError, loadModel, selectBackend, withShippedWeights } from '../util.js';
import { integer, opt, text } from '../options.js';

/** `resnet eval`: top-1/top-5, per-class accuracy and confusion matrix of trained weights. */
export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate weights on a test set: top-1, top-5, loss, per-class accuracy, confusion matrix')
    .addOption(opt('--model <name>', 'zoo name or JSON spec file (default: the spec stored in the weights)', text()))
    .addOption(
      opt(
        '--weights <file>',
        'safetensors weights (model.safetensors or checkpoint.safetensors from `resnet train`); default: the shipped weights of --model',
        text('a file'),
      ),
    )
    .addOption(opt('--data <name|dir>', 'fashion-mnist | mnist | cifar10 | cifar100 | a folder', text(), 'fashion-mnist'))
    .addOption(opt('--batch <n>', 'batch size', integer(1, 65536), 256))
    .addOption(opt('--limit <n>', 'evaluate only the first n test images', integer(1, 1e9)))
    .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
    .option('--json', 'print JSON')
    .action(
      async (given: { model?: string; weights?: string; data: string; batch: number; limit?: number; backend?: string; json?: boolean }) => {
        const opts = withShippedWeights(given);
        if (!opts.weights) throw new UserError('Give --weights <file>, or --model with shipped weights (see `resnet models`).');
        const weights = opts.weights;
        await selectBackend(opts.backend ?? 'auto');
        const info = readWeightsInfo(weights);
        const pair = await loadData(opts.data, { imageSize: info.preprocessing?.imageSize, channels: info.spec?.inChannels === 1 ? 1 : 3 });
        const test = pair.test ?? pair.train;
        if (opts.limit !== undefined && opts.limit > test.labels.length)
          throw new UserError(`--limit ${opts.limit} is more than the ${test.labels.length} test images of ${pair.kind}.`);
        const overrides = { inChannels: test.shape[2], numClasses: info.spec?.numClasses ?? test.classes.length };
        let model: ResNet;
        if (opts.model) model = loadModel(opts.model, overrides);
        else if (info.spec) model = new ResNet(info.spec);
        else throw new UserError(`${weights} does not say which architecture it holds: give --model.`);
        try {
          loadWeights(weights, model);
          const stats = info.preprocessing?.mean
            ? { mean: info.preprocessing.mean, std: info.preprocessing.std }
            : channelStats(pair.train);
          const padTo =
            info.preprocessing?.padTo ?? (model.spec.stem === 'cifar' && test.shape[0] < 32 ? ([32, 32] as [number, number]) : undefined);
          const r = evaluate(
            model,
            { ...test, classes: info.classes ?? test.classes },
            { batchSize: opts.batch, limit: opts.limit, preprocessing: { ...stats, padTo } },
          );
          if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          else process.stdout.write(`${weights} on ${pair.kind} test set\n` + formatEvalReport(r) + '\n');
        } finally {
          model.dispose();
        }
      },
    );
}
