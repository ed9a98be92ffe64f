import { Command } from 'commander';
import { ResNet, formatSummary } from '@resnet-ts/core';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { UserError, isArchitectureArg, isWeightsSource, loadClassifierOrNetwork, loadModel, selectBackend, unknownModel } from '../util.js';
import { inputSize, integer, opt } from '../options.js';

interface SummaryOptions {
  input?: [number, number, number | undefined];
  classes?: number;
  depth?: number;
  json?: boolean;
}

/** `resnet summary <model>`: layer table, parameters and multiply-adds, without running the model. */
export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('print the layer table, parameter count and multiply-adds of a model (no tensors run)')
    .argument('<model>', 'zoo name or shipped model (see `resnet models`), a JSON spec file, or weights (file, URL, hf:owner/name)')
    .addOption(opt('--input <HxWxC>', 'input size per image, e.g. 224x224x3 or 28x28x1 (the channels of weights are fixed)', inputSize()))
    .addOption(opt('--classes <n>', 'number of classes (of an architecture; weights have theirs)', integer(1, 1e6)))
    .addOption(opt('--depth <n>', 'fold rows deeper than n name segments (2 shows one row per block)', integer(1, 64)))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: SummaryOptions) => {
      // Only shapes are computed: the always-present reference engine is enough (and probes nothing).
      await selectBackend('cpu');
      const size = opts.input;
      const overrides = {
        ...(size?.[2] !== undefined ? { inChannels: size[2] } : {}),
        ...(opts.classes ? { numClasses: opts.classes } : {}),
      };
      let model: ResNet;
      // Weights are summarised at the size their images are prepared to (a model fine-tuned at 64x64
      // costs ~12x less than its spec's 224x224 says); --input still chooses.
      let fedSize: [number, number] | undefined;
      if (isArchitectureArg(name)) model = loadModel(name, overrides);
      else if (isWeightsSource(name)) {
        // A source with weights (shipped name, file, URL, hf:): the architecture its weights hold, as they are.
        const loaded = await loadClassifierOrNetwork({ weights: name });
        model = loaded.model;
        checkSameModel(name, model.spec, overrides);
        if (loaded.classifier && !size) fedSize = modelInputSize(loaded.classifier.preprocessing, name);
      } else throw unknownModel(name);
      try {
        const summary = model.summary(size ? [size[0], size[1]] : fedSize);
        if (opts.json) process.stdout.write(JSON.stringify({ model: name, ...summary }, null, 2) + '\n');
        else process.stdout.write(formatSummary(summary, { title: `${name}`, depth: opts.depth }) + '\n');
      } finally {
        model.dispose();
      }
    });
}

/**
 * The [height, width] that `p` brings every image to (padding, a crop or an exact resize); for a
 * short-side resize alone, a square image's, with a note (other images give other sizes).
 */
function modelInputSize(p: ImagePreprocessing, source: string): [number, number] | undefined {
  if (p.padTo) return p.padTo;
  if (p.crop) return p.crop;
  if (Array.isArray(p.resize) || p.resize === undefined) return p.resize;
  process.stderr.write(
    `note: ${source} resizes the short side of its images to ${p.resize} without a crop, so their size varies: ` +
      `summarised at ${p.resize}x${p.resize} (a square image); give --input HxW for another.\n`,
  );
  return [p.resize, p.resize];
}

/** Weights fix the input channels and the classes: refuses `--input`/`--classes` that would describe another model (as forward and predict refuse it). */
function checkSameModel(source: string, spec: ResNet['spec'], overrides: { inChannels?: number; numClasses?: number }): void {
  const arch = ' (give an architecture name such as resnet20 to size a model freely)';
  if (overrides.inChannels !== undefined && overrides.inChannels !== spec.inChannels) {
    throw new UserError(
      `--input has ${overrides.inChannels} channels but the weights of '${source}' take ${spec.inChannels}: give HxWx${spec.inChannels} or HxW${arch}.`,
    );
  }
  if (overrides.numClasses !== undefined && overrides.numClasses !== spec.numClasses) {
    throw new UserError(
      `--classes ${overrides.numClasses} does not match the ${spec.numClasses} classes of the weights of '${source}': drop --classes${arch}.`,
    );
  }
}
