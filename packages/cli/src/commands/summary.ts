import { Command } from 'commander';
import { ResNet, formatSummary } from '@resnet-ts/core';
import { isWeightsSource, loadClassifier, loadModel, selectBackend } from '../util.js';
import { inputSize, integer, opt } from '../options.js';

/** `resnet summary <model>`: layer table, parameters and multiply-adds, without running the model. */
export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('print the layer table, parameter count and multiply-adds of a model (no tensors run)')
    .argument('<model>', 'zoo name or shipped model (see `resnet models`), a JSON spec file, or weights (file, URL, hf:owner/name)')
    .addOption(opt('--input <HxWxC>', 'input size per image, e.g. 224x224x3 or 28x28x1', inputSize()))
    .addOption(opt('--classes <n>', 'number of classes', integer(1, 1e6)))
    .addOption(opt('--depth <n>', 'fold rows deeper than n name segments (2 shows one row per block)', integer(1, 64)))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { input?: [number, number, number | undefined]; classes?: number; depth?: number; json?: boolean }) => {
      // Only shapes are computed: the always-present reference engine is enough (and probes nothing).
      await selectBackend('cpu');
      const size = opts.input;
      const overrides = {
        ...(size?.[2] !== undefined ? { inChannels: size[2] } : {}),
        ...(opts.classes ? { numClasses: opts.classes } : {}),
      };
      // A source with weights (shipped name, file, URL, hf:): the architecture its weights hold.
      const spec = isWeightsSource(name) ? await specOfSource(name) : undefined;
      const model = spec ? new ResNet({ ...spec, ...overrides }) : loadModel(name, overrides);
      const summary = model.summary(size ? [size[0], size[1]] : undefined);
      if (opts.json) process.stdout.write(JSON.stringify({ model: name, ...summary }, null, 2) + '\n');
      else process.stdout.write(formatSummary(summary, { title: `${name}`, depth: opts.depth }) + '\n');
      model.dispose();
    });
}

async function specOfSource(source: string) {
  const clf = await loadClassifier({ model: source });
  const spec = clf.model.spec;
  clf.dispose();
  return spec;
}
