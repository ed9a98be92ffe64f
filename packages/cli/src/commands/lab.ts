import path from 'node:path';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { ResNet } from '@resnet-ts/core';
import { DataPair, Preprocessing, channelStats, loadData, loadWeights, readWeightsInfo, takeFirst } from '@resnet-ts/train';
import {
  defaultOut,
  listExperiments,
  prepareTestTensors,
  runDegradation,
  runGradFlow,
  runIdentity,
  runLesion,
  runPaths,
  runShortcuts,
  CommonOptions,
  ExperimentOutput,
  GRADFLOW_SETTINGS,
  GradFlowSetting,
} from '@resnet-ts/lab';
import { UserError, loadModel, selectBackend, withShippedWeights } from '../util.js';
import { CIFAR_DEPTH, choice, choiceList, integer, integerList, number, opt, text } from '../options.js';

const SEED = integer(0, 2 ** 32 - 1);
const COUNT = integer(1, 1e9);
const BATCH = integer(1, 65536);
const LR = number({ above: 0, max: 1e9 });
const DECAY = number({ min: 0, below: 1 });

const say = (m: string) => process.stderr.write(m + '\n');
const command = () => ['resnet', ...process.argv.slice(2)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');

/** What every experiment is told about its output: folder, seed, the command line, the note, where to log. */
function reporting(opts: { out: string; seed: number; note?: string }): CommonOptions {
  return { out: opts.out, seed: opts.seed, command: command(), note: opts.note, log: say };
}

function done(out: ExperimentOutput<unknown>): void {
  say(
    `done in ${out.info.wallSeconds.toFixed(1)} s on ${out.info.engine}: ${out.files.markdown}, ${out.files.json}, ${out.files.plots.map((p) => path.basename(p)).join(', ')}`,
  );
}

interface ModelOpts {
  model?: string;
  weights?: string;
  data: string;
  limit?: number;
}

/** A (trained) model and the test set prepared the way it was trained. */
async function modelAndData(
  modelArg: string | undefined,
  weights: string | undefined,
  opts: ModelOpts,
  fallback: string,
): Promise<{ model: ResNet; pair: DataPair; prep: Preprocessing; label: string }> {
  let shippedName: string | undefined;
  const shipped = modelArg && !weights ? withShippedWeights<{ model?: string; weights?: string }>({ model: modelArg }) : undefined;
  if (shipped?.weights) {
    // `--model resnet20-fashion-mnist`: the zoo's trained weights, whose stored spec builds the model.
    shippedName = modelArg;
    modelArg = undefined;
    weights = shipped.weights;
  }
  const info = weights ? readWeightsInfo(weights) : undefined;
  const pair = await loadData(opts.data, { imageSize: info?.preprocessing?.imageSize, channels: info?.spec?.inChannels === 3 ? 3 : 1 });
  const test = pair.test ?? pair.train;
  const overrides = { inChannels: test.shape[2], numClasses: info?.spec?.numClasses ?? test.classes.length };
  let model: ResNet;
  if (modelArg) model = loadModel(modelArg, overrides);
  else if (info?.spec) model = new ResNet(info.spec);
  else if (!weights) model = loadModel(fallback, overrides);
  else throw new UserError(`${weights} does not say which architecture it holds: give --model.`);
  if (weights) loadWeights(weights, model);
  else
    say(
      `warning: no --weights: running on the UNTRAINED ${modelArg ?? fallback} (initial weights); train one with \`resnet train\` and pass --weights`,
    );
  model.eval();
  const stats = info?.preprocessing?.mean ? { mean: info.preprocessing.mean, std: info.preprocessing.std } : channelStats(pair.train);
  const padTo =
    info?.preprocessing?.padTo ?? (model.spec.stem === 'cifar' && test.shape[0] < 32 ? ([32, 32] as [number, number]) : undefined);
  const blocks = model.blocks();
  const depth = blocks.length * (blocks[0]?.typeName.toLowerCase().includes('bottleneck') ? 3 : 2) + 2;
  const name = modelArg ?? (info?.spec ? `${model.spec.residual ? 'ResNet' : 'plain'}-${depth}` : fallback);
  const label = `${name} ${shippedName ? `(the zoo's ${shippedName} weights)` : weights ? `(weights ${weights})` : '(untrained)'} on ${pair.kind}`;
  return { model, pair, prep: { ...stats, ...(padTo ? { padTo } : {}) }, label };
}

function common(cmd: Command, name: string): Command {
  return cmd
    .addOption(opt('--out <dir>', 'output folder (result.json, report.md, SVG plots)', text('a folder'), defaultOut(name)))
    .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
    .addOption(opt('--seed <n>', 'seed', SEED, 0))
    .addOption(opt('--note <text>', 'a note for the report (e.g. how the weights were made)', text('some text')));
}

function trainingOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--data <name|dir>', 'fashion-mnist | mnist | cifar10 | a folder', text(), 'fashion-mnist'))
    .addOption(opt('--epochs <n>', 'epochs per net', integer(1, 1e5), 30))
    .addOption(opt('--batch <n>', 'batch size', BATCH, 128))
    .addOption(opt('--lr <x>', 'base learning rate (divided by 10 at 50 % and 75 %)', LR, 0.1))
    .addOption(opt('--wd <x>', 'weight decay, from 0 (none) to below 1', DECAY, 1e-4))
    .addOption(opt('--limit <n>', 'use only the first n training images', COUNT))
    .addOption(opt('--test-limit <n>', 'use only the first n test images', COUNT))
    .option('--no-augment', 'no random crops or flips')
    .option('--no-resume', 'start every net from scratch instead of resuming its checkpoint');
}

interface TrainingCli {
  note?: string;
  out: string;
  backend?: string;
  seed: number;
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  wd: number;
  limit?: number;
  testLimit?: number;
  augment: boolean;
  resume: boolean;
}

async function trainingCommon(opts: TrainingCli) {
  await selectBackend(opts.backend ?? 'auto', true);
  const pair = await loadData(opts.data, { seed: opts.seed });
  if (!pair.test) throw new UserError(`${opts.data} has no test split.`);
  for (const [flag, limit, set] of [['--limit', opts.limit, pair.train], ['--test-limit', opts.testLimit, pair.test]] as const)
    if (limit !== undefined && limit > set.labels.length)
      throw new UserError(`${flag} ${limit} is more than the ${set.labels.length} images of ${pair.kind}'s ${set === pair.train ? 'training' : 'test'} set.`);
  const trainSet = opts.limit ? takeFirst(pair.train, opts.limit) : pair.train;
  const testSet = opts.testLimit ? takeFirst(pair.test, opts.testLimit) : pair.test;
  return {
    trainSet,
    testSet,
    dataName: pair.kind + (opts.limit ? ` (first ${opts.limit} train images)` : ''),
    epochs: opts.epochs,
    batchSize: opts.batch,
    lr: opts.lr,
    weightDecay: opts.wd,
    augment: opts.augment ? { pad: 4, flip: pair.flip } : (false as const),
    resume: opts.resume,
    ...reporting(opts),
  };
}

/** `resnet lab <experiment>`: the papers' experiments, each writing result.json, SVG plots and report.md. */
export function registerLab(program: Command): void {
  const lab = program.command('lab').description(
    'the experiments: ' +
      listExperiments()
        .map((e) => e.name)
        .join(', '),
  );

  common(lab.command('identity').description('identity is hard, zero is easy: plain vs residual extra layers (seconds on cpu)'), 'identity')
    .addOption(opt('--dims <list>', 'input/output dimensions (1 is y = 4x + 3)', integerList(1, 4096), [1, 8]))
    .addOption(opt('--width <n>', 'hidden width (default max(16, 4d))', integer(1, 65536)))
    .addOption(opt('--steps <n>', 'maximum steps', COUNT, 3000))
    .addOption(opt('--seeds <n>', 'seeds to average over', integer(1, 1000), 3))
    .addOption(opt('--optimizer <name>', 'adam | sgd', choice(['adam', 'sgd'] as const), 'adam'))
    .addOption(opt('--lr <x>', 'learning rate (default 1e-3 adam, 1e-2 sgd)', LR))
    .addOption(opt('--threshold <x>', 'MSE target', number({ above: 0 }), 1e-3))
    .addOption(opt('--init-scale <x>', "multiply the extra layers' Kaiming std (1: plain Kaiming; 0: zero init)", number({ min: 0, max: 1e3 }), 1))
    .action(
      async (opts: {
        out: string;
        backend?: string;
        seed: number;
        note?: string;
        dims: number[];
        width?: number;
        steps: number;
        seeds: number;
        optimizer: 'adam' | 'sgd';
        lr?: number;
        threshold: number;
        initScale: number;
      }) => {
        await selectBackend(opts.backend ?? 'cpu', true);
        done(
          await runIdentity({
            ...reporting(opts),
            dims: opts.dims,
            width: opts.width,
            steps: opts.steps,
            seeds: opts.seeds,
            optimizer: opts.optimizer,
            lr: opts.lr,
            threshold: opts.threshold,
            initScale: opts.initScale,
          }),
        );
      },
    );

  common(lab.command('lesion').description('Veit et al. §4: delete/swap blocks at test time; the same on a plain net'), 'lesion')
    .addOption(
      opt(
        '--model <name>',
        "zoo name, shipped weights' name or spec file (default: the spec stored in --weights; on fashion-mnist without --weights: the zoo's resnet20-fashion-mnist)",
        text(),
      ),
    )
    .addOption(opt('--weights <file>', 'trained weights of the residual net', text('a file')))
    .addOption(
      opt(
        '--plain-model <name>',
        "the plain net (default: plain<depth> when --plain-weights is given; the zoo's plain20-fashion-mnist with the default model)",
        text(),
      ),
    )
    .addOption(opt('--plain-weights <file>', 'trained weights of the plain net of the same depth', text('a file')))
    .addOption(opt('--data <name|dir>', 'test data', text(), 'fashion-mnist'))
    .addOption(opt('--limit <n>', 'test images to use', COUNT, 1000))
    .addOption(opt('--samples <n>', 'random samples per k', integer(1, 1e6), 10))
    .addOption(opt('--max-k <n>', 'largest number of deleted blocks', integer(1, 1e4)))
    .addOption(opt('--max-swaps <n>', 'largest number of swapped pairs (0: none)', integer(0, 1e4), 10))
    .action(
      async (
        opts: ModelOpts & {
          out: string;
          backend?: string;
          seed: number;
          note?: string;
          plainModel?: string;
          plainWeights?: string;
          samples: number;
          maxK?: number;
          maxSwaps: number;
        },
      ) => {
        await selectBackend(opts.backend ?? 'auto');
        if (!opts.model && !opts.weights && !opts.plainModel && !opts.plainWeights && opts.data === 'fashion-mnist') {
          // Offline default: the two nets the zoo ships, trained with the same recipe.
          opts = { ...opts, model: 'resnet20-fashion-mnist', plainModel: 'plain20-fashion-mnist' };
        }
        const r = await modelAndData(opts.model, opts.weights, opts, 'resnet20');
        let plain: ResNet | undefined;
        try {
          if (opts.plainWeights || opts.plainModel) {
            const fallback = `plain${r.model.blocks().length * 2 + 2}`;
            plain = (await modelAndData(opts.plainModel ?? (opts.plainWeights ? undefined : fallback), opts.plainWeights, opts, fallback))
              .model;
          }
          const test = r.pair.test ?? r.pair.train;
          const data = prepareTestTensors(test, r.prep, opts.limit);
          try {
            done(
              await runLesion({
                model: r.model,
                plain,
                data,
                samples: opts.samples,
                maxK: opts.maxK,
                maxSwaps: opts.maxSwaps,
                ...reporting(opts),
                description: r.label,
              }),
            );
          } finally {
            tf.dispose(data.inputs);
          }
        } finally {
          r.model.dispose();
          plain?.dispose();
        }
      },
    );

  common(lab.command('paths').description('Veit et al. §5: path-length distribution and gradient per path length'), 'paths')
    .addOption(
      opt(
        '--model <name>',
        "zoo name, shipped weights' name or spec file (default: the spec stored in --weights; on fashion-mnist without --weights: the zoo's resnet20-fashion-mnist)",
        text(),
      ),
    )
    .addOption(opt('--weights <file>', 'trained weights', text('a file')))
    .addOption(opt('--data <name|dir>', 'data for the inputs', text(), 'fashion-mnist'))
    .addOption(opt('--inputs <n>', 'test images to average over', integer(1, 1e6), 4))
    .addOption(opt('--samples <n>', 'random branch sets per length', integer(1, 1e6), 10))
    .addOption(opt('--lengths <list>', 'path lengths to sample (default all 0..n)', integerList(0, 1e4)))
    .addOption(
      opt(
        '--mode <path|subset>',
        "path: Veit's single path of length k (chosen blocks: branch only; others: skip only); subset: chosen blocks pass branch and skip",
        choice(['path', 'subset'] as const),
        'path',
      ),
    )
    .action(
      async (
        opts: ModelOpts & {
          out: string;
          backend?: string;
          seed: number;
          note?: string;
          inputs: number;
          samples: number;
          lengths?: number[];
          mode: 'path' | 'subset';
        },
      ) => {
        await selectBackend(opts.backend ?? 'auto', true);
        const modelName = opts.model ?? (!opts.weights && opts.data === 'fashion-mnist' ? 'resnet20-fashion-mnist' : undefined);
        const r = await modelAndData(modelName, opts.weights, opts, 'resnet20');
        try {
          const data = prepareTestTensors(r.pair.test ?? r.pair.train, r.prep, opts.inputs);
          try {
            done(
              await runPaths({
                model: r.model,
                inputs: data.inputs,
                labels: data.labels,
                samples: opts.samples,
                mode: opts.mode,
                lengths: opts.lengths,
                ...reporting(opts),
                description: `${r.label}, ${opts.inputs} test images`,
              }),
            );
          } finally {
            tf.dispose(data.inputs);
          }
        } finally {
          r.model.dispose();
        }
      },
    );

  trainingOptions(
    common(
      lab
        .command('degradation')
        .description('He et al. Fig. 6: plain-N vs ResNet-N at several depths (long: prints its duration; resumable)'),
      'degradation',
    ),
  )
    .addOption(opt('--depths <list>', 'depths 6n+2', integerList(8, 10000, CIFAR_DEPTH), [20, 56]))
    .action(async (opts: TrainingCli & { depths: number[] }) => {
      done(await runDegradation({ ...(await trainingCommon(opts)), depths: opts.depths }));
    });

  common(
    lab
      .command('gradflow')
      .description(
        'gradient norm per layer and per block input, plain vs ResNet, with/without BN and zeroInitResidual, at init and during training (long: prints its duration)',
      ),
    'gradflow',
  )
    .addOption(opt('--depths <list>', 'depths 6n+2', integerList(8, 10000, CIFAR_DEPTH), [20, 56, 110, 218]))
    .addOption(
      opt(
        '--settings <list>',
        `variants: ${Object.keys(GRADFLOW_SETTINGS).join(', ')} (bn = BN on, zeroInitResidual off: the baseline)`,
        choiceList(Object.keys(GRADFLOW_SETTINGS) as GradFlowSetting[]),
        ['bn', 'no-bn', 'zero-init'] as GradFlowSetting[],
      ),
    )
    .addOption(
      opt(
        '--train-steps <list>',
        'measure after this many SGD steps (0 = at initialisation; every step of every net costs time)',
        integerList(0, 1e6),
        [0, 10, 30],
      ),
    )
    .addOption(opt('--batches <n>', 'batches the norms are averaged over', integer(1, 1e4), 2))
    .addOption(opt('--batch <n>', 'batch size (measuring and training)', BATCH, 64))
    .addOption(opt('--lr <x>', 'constant learning rate (SGD, momentum 0.9)', LR, 0.1))
    .addOption(opt('--wd <x>', 'weight decay, from 0 (none) to below 1', DECAY, 1e-4))
    .addOption(opt('--data <name|dir>', 'fashion-mnist | mnist | cifar10 | a folder', text(), 'fashion-mnist'))
    .addOption(opt('--limit <n>', 'use only the first n training images', COUNT))
    .option('--no-augment', 'no random crops or flips while training')
    .action(
      async (opts: {
        out: string;
        backend?: string;
        seed: number;
        note?: string;
        depths: number[];
        settings: GradFlowSetting[];
        trainSteps: number[];
        batches: number;
        batch: number;
        lr: number;
        wd: number;
        data: string;
        limit?: number;
        augment: boolean;
      }) => {
        await selectBackend(opts.backend ?? 'auto', true);
        const pair = await loadData(opts.data, { seed: opts.seed });
        const trainSet = opts.limit ? takeFirst(pair.train, opts.limit) : pair.train;
        if (trainSet.labels.length < opts.batch * opts.batches)
          throw new UserError(`--limit ${opts.limit}: fewer images than --batches x --batch (${opts.batches * opts.batch}).`);
        done(
          await runGradFlow({
            trainSet,
            dataName: pair.kind + (opts.limit ? ` (first ${opts.limit} train images)` : ''),
            depths: opts.depths,
            settings: opts.settings,
            steps: opts.trainSteps,
            batches: opts.batches,
            batchSize: opts.batch,
            lr: opts.lr,
            weightDecay: opts.wd,
            augment: opts.augment ? { pad: 4, flip: pair.flip } : false,
            ...reporting(opts),
          }),
        );
      },
    );

  trainingOptions(
    common(
      lab.command('shortcuts').description('He et al. Table 3: shortcut options A vs B vs C (long: prints its duration; resumable)'),
      'shortcuts',
    ),
  )
    .addOption(opt('--depth <n>', 'depth 6n+2', integer(8, 10000, CIFAR_DEPTH), 20))
    .addOption(opt('--options <list>', 'shortcut options', choiceList(['A', 'B', 'C'] as const), ['A', 'B', 'C']))
    .action(async (opts: TrainingCli & { depth: number; options: ('A' | 'B' | 'C')[] }) => {
      done(await runShortcuts({ ...(await trainingCommon(opts)), depth: opts.depth, options: opts.options }));
    });
}
