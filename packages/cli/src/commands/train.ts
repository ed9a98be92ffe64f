import path from 'node:path';
import { Command } from 'commander';
import { ScheduleSpec, StepProgress, TrainError, checkRunFolder, loadData, paperWarmup, scaledPaperSchedule, takeFirst, train } from '@resnet-ts/train';
import { UserError, loadModel, selectBackend } from '../util.js';
import { choice, integer, number, opt, text } from '../options.js';

interface TrainCliOptions {
  model: string;
  data: string;
  epochs: number;
  iterations?: number;
  batch: number;
  lr: number;
  schedule: string;
  warmup?: number;
  momentum: number;
  wd: number;
  nesterov?: boolean;
  out: string;
  backend?: string;
  resume?: boolean;
  force?: boolean;
  limit?: number;
  testLimit?: number;
  seed: number;
  checkpointEvery: number;
  augment: boolean;
  pad: boolean;
}


/** `resnet train`: trains a model with the paper's recipe, resumable, with logs and curves. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description("train a model (SGD + momentum, the paper's augmentation, checkpoints you can --resume)")
    .addOption(opt('--model <name>', 'zoo name or JSON spec file', text(), 'resnet20'))
    .addOption(
      opt(
        '--data <name|dir>',
        'fashion-mnist | mnist | cifar10 | cifar100 | a folder (IDX, CIFAR batches or class sub-folders)',
        text(),
        'fashion-mnist',
      ),
    )
    .addOption(opt('--epochs <n>', 'epochs (may be fractional)', number({ above: 0, max: 1e5 }), 30))
    .addOption(opt('--iterations <n>', 'train for this many steps instead of --epochs', integer(1, 1e9)))
    .addOption(opt('--batch <n>', 'batch size', integer(1, 65536), 128))
    .addOption(opt('--lr <x>', 'base learning rate', number({ above: 0, max: 1e9 }), 0.1))
    .addOption(
      opt(
        '--schedule <kind>',
        "multistep (the paper's /10 at 50% and 75%, i.e. 32k/48k of 64k) | paper (/10 at 32k, 48k) | cosine | constant",
        choice(['multistep', 'paper', 'cosine', 'constant'] as const),
        'multistep',
      ),
    )
    .addOption(opt('--warmup <n>', "hold lr/10 for the first n steps (0: none; the paper's ResNet-110 uses 400)", integer(0, 1e9)))
    .addOption(opt('--momentum <x>', 'SGD momentum, from 0 (none) to below 1', number({ min: 0, below: 1 }), 0.9))
    .addOption(opt('--wd <x>', 'weight decay, from 0 (none) to below 1', number({ min: 0, below: 1 }), 1e-4))
    .option('--nesterov', 'Nesterov momentum')
    .addOption(
      opt('--out <dir>', 'output folder (checkpoint.safetensors, model.safetensors, log.jsonl, curves.svg)', text('a folder'), 'runs/train'),
    )
    .addOption(opt('--backend <name>', "engine: 'auto' or a name (see `resnet backends`)", text('an engine name')))
    .option('--resume', 'continue the run in --out from its checkpoint.safetensors (an error when there is none)')
    .option('--force', 'replace a run already in --out (without it, such a folder is refused)')
    .addOption(opt('--limit <n>', 'use only the first n training images (quick runs)', integer(1, 1e9)))
    .addOption(opt('--test-limit <n>', 'evaluate on only the first n test images each epoch', integer(1, 1e9)))
    .addOption(opt('--seed <n>', 'seed of shuffling and augmentation', integer(0, 2 ** 32 - 1), 0))
    .addOption(opt('--checkpoint-every <n>', 'also checkpoint every n steps (0: only at epoch ends)', integer(0, 1e9), 0))
    .option('--no-augment', 'no random crops or flips')
    .option('--no-pad', 'do not zero-pad 28x28 images to 32x32 for CIFAR stems')
    .action(async (opts: TrainCliOptions) => {
      // Refuse an --out that holds a run, is in use or cannot be a folder before loading any data.
      checkRunFolder(opts.out, { resume: opts.resume, force: opts.force });
      const backend = await selectBackend(opts.backend ?? 'auto', true);
      const pair = await loadData(opts.data, { seed: opts.seed });
      for (const [flag, limit, set] of [['--limit', opts.limit, pair.train], ['--test-limit', opts.testLimit, pair.test]] as const) {
        if (limit !== undefined && limit > (set?.labels.length ?? 0))
          throw new UserError(`${flag} ${limit} is more than the ${set?.labels.length ?? 0} ${flag === '--limit' ? 'training' : 'test'} images of ${pair.kind}.`);
      }
      const trainSet = opts.limit ? takeFirst(pair.train, opts.limit) : pair.train;
      const [h, w, c] = trainSet.shape;
      const model = loadModel(opts.model, { inChannels: c, numClasses: trainSet.classes.length });
      const padTo: [number, number] | undefined = opts.pad && model.spec.stem === 'cifar' && (h < 32 || w < 32) ? [32, 32] : undefined;
      const stepsPerEpoch = Math.ceil(trainSet.labels.length / opts.batch);
      const total = opts.iterations ?? Math.round(opts.epochs * stepsPerEpoch);
      let schedule: ScheduleSpec;
      switch (opts.schedule) {
        case 'multistep':
          schedule = scaledPaperSchedule(total, opts.lr);
          break;
        case 'paper':
          schedule = { type: 'multistep', lr: opts.lr, milestones: [32000, 48000], gamma: 0.1 };
          break;
        case 'cosine':
          schedule = { type: 'cosine', lr: opts.lr, total };
          break;
        case 'constant':
          schedule = { type: 'constant', lr: opts.lr };
          break;
        default:
          throw new UserError(`--schedule must be multistep, paper, cosine or constant; got '${opts.schedule}'.`);
      }
      if (opts.warmup) schedule = paperWarmup(schedule, opts.warmup, opts.lr / 10);
      const flip = pair.flip;
      const ctrl = new AbortController();
      const onSigint = () => {
        if (ctrl.signal.aborted) process.exit(130);
        process.stderr.write('\nresnet: interrupted; saving a checkpoint after this step (Ctrl-C again to quit without saving)\n');
        ctrl.abort();
      };
      process.on('SIGINT', onSigint);
      const say = (m: string) => process.stderr.write(m + '\n');
      const testSet = pair.test && opts.testLimit ? takeFirst(pair.test, opts.testLimit) : pair.test;
      say(
        `training ${opts.model} on ${pair.kind} (${trainSet.labels.length} train, ${testSet?.labels.length ?? 0} test images, ${h}x${w}x${c}${padTo ? ' padded to 32x32' : ''}) ` +
          `on ${backend}: ${total} steps of ${opts.batch}, ${JSON.stringify(schedule)}, augmentation ${opts.augment ? `pad 4 + crop${flip ? ' + flip' : ''}` : 'off'}`,
      );
      try {
        const res = await train({
          model,
          trainSet,
          testSet,
          epochs: opts.epochs,
          iterations: opts.iterations,
          batchSize: opts.batch,
          schedule,
          momentum: opts.momentum,
          weightDecay: opts.wd,
          nesterov: opts.nesterov,
          seed: opts.seed,
          preprocessing: padTo ? { padTo } : {},
          augment: opts.augment ? { pad: 4, flip } : false,
          outDir: opts.out,
          checkpointEvery: opts.checkpointEvery,
          resume: opts.resume,
          force: opts.force,
          signal: ctrl.signal,
          log: say,
          // Without a terminal (logs, CI, nohup) there is no progress bar: print a line every 30 s instead.
          onProgress: process.stderr.isTTY ? undefined : progressLines(say),
        });
        if (res.stopped === 'nan') throw new TrainError(res.message ?? 'loss became NaN');
        if (res.stopped === 'aborted') {
          say(`stopped at step ${res.step}/${res.totalSteps}; resume with the same command plus --resume`);
          process.exitCode = 130;
          return;
        }
        if (ctrl.signal.aborted) {
          say(`interrupted after the last step: the run is complete (${path.join(opts.out, 'model.safetensors')} written)`);
          process.exitCode = 130;
          return;
        }
        const last = res.history[res.history.length - 1];
        say(
          `done: ${res.step} steps` +
            (last?.top1 !== undefined ? `, test top-1 ${(100 * last.top1).toFixed(2)} %, top-5 ${(100 * last.top5!).toFixed(2)} %` : '') +
            `; weights ${path.join(opts.out, 'model.safetensors')}, log ${path.join(opts.out, 'log.jsonl')}, curves ${path.join(opts.out, 'curves.svg')}`,
        );
      } finally {
        process.off('SIGINT', onSigint);
        model.dispose();
      }
    });
}

/** A progress callback that prints step, loss, images/s and ETA at most every `everyMs`. */
function progressLines(say: (m: string) => void, everyMs = 30_000): (p: StepProgress) => void {
  let last = Date.now();
  const started = Date.now();
  let firstStep = -1;
  return (p) => {
    if (firstStep < 0) firstStep = p.step - 1;
    const now = Date.now();
    if (now - last < everyMs && p.step !== p.totalSteps) return;
    last = now;
    const perStep = (now - started) / Math.max(1, p.step - firstStep);
    const eta = Math.round(((p.totalSteps - p.step) * perStep) / 1000);
    say(
      `step ${p.step}/${p.totalSteps} (epoch ${p.epoch + 1}) loss ${p.loss.toFixed(4)} lr ${p.lr.toPrecision(3)} ` +
        `${p.imagesPerSec.toFixed(0)} img/s ETA ${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s`,
    );
  };
}
