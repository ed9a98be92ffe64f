import path from 'node:path';
import { Command } from 'commander';
import {
  EpochMetrics,
  FreezeSpec,
  ScheduleSpec,
  StepProgress,
  TrainError,
  TrainResult,
  abortOnStopSignals,
  checkRunFolder,
  defaultAugmentation,
  describeSchedule,
  frozenPrefixes,
  paperWarmup,
  runLength,
  scaledPaperSchedule,
  signalExitCode,
  signalName,
  train,
} from '@resnet-ts/train';
import { UserError, errorLine, selectBackend } from '../util.js';
import { choice, dataSet, integer, integerOf, matching, number, opt, text } from '../options.js';
import { PreprocessingFlags, addPreprocessingOptions } from '../preprocessing-options.js';
import { TrainSetup, prepareTraining } from './train-setup.js';
import { runOptionsMetadata, withRunOptions } from './train-resume.js';

/** The options of `resnet train`, as parsed. */
export interface TrainCliOptions extends PreprocessingFlags {
  model: string;
  init?: string;
  classes?: number;
  data: string;
  imageSize?: number;
  channels?: number;
  val?: number;
  freeze: FreezeSpec;
  headLr?: number;
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
  json?: boolean;
  timeout?: number;
}

/** The value-taking options of `resnet train` (each checked by options.ts). */
function addTrainOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--model <name>', 'zoo name or JSON spec file to train from scratch (not with --init, which brings its own)', text(), 'resnet20'))
    .addOption(opt('--init <source>', 'start from pretrained weights: a shipped model, a file, an http(s) URL or hf:owner/name (its head is replaced for new classes; its normalisation is used and stored)', text('a model name, file or URL')))
    .addOption(opt('--classes <n>', "number of classes (checked against the data's class folders / labels)", integer(2, 1e6)))
    .addOption(opt('--data <name|dir>', 'fashion-mnist | mnist | cifar10 | cifar100 | a folder (IDX, CIFAR batches, class sub-folders of images, or train/ val/ test/ splits of them)', dataSet(), 'fashion-mnist'))
    .addOption(opt('--image-size <n>', 'decode (or resize) images to n x n (default: the --init source\'s input size, else 32 for image folders and the native size of IDX/CIFAR)', integer(8, 4096)))
    .addOption(opt('--channels <c>', '1 (grayscale) or 3 (RGB) (default: the --init source\'s, else 3 for image folders and the native channels of IDX/CIFAR)', integerOf([1, 3])))
    .addOption(opt('--val <fraction>', 'hold out this fraction of the training images, stratified and seeded, as the validation set (default 0.1 for a folder of class sub-folders; none otherwise)', number({ above: 0, below: 1 })))
    .addOption(opt('--freeze <part>', 'frozen part: none | stem | up-to:layerK | backbone (no gradient, no update, batch norms keep their statistics)', matching(/none|stem|backbone|up-to:layer[1-9]\d*/, 'one of none, stem, up-to:layerK (K = 1, 2, ...), backbone'), 'none'))
    .addOption(opt('--head-lr <x>', 'learning rate of the classifier head (fc) at the schedule\'s base (default: --lr); follows the schedule', number({ above: 0, max: 1e9 })))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: --init (default 30)', number({ above: 0 })))
    .addOption(opt('--epochs <n>', 'epochs (may be fractional)', number({ above: 0, max: 1e5 }), 30))
    .addOption(opt('--iterations <n>', 'train for this many steps instead of --epochs', integer(1, 1e9)))
    .addOption(opt('--batch <n>', 'batch size', integer(1, 65536), 128))
    .addOption(opt('--lr <x>', "base learning rate (0 with --head-lr: only the head's weights learn; batch norm's running statistics still adapt, --freeze backbone keeps them)", number({ min: 0, max: 1e9 }), 0.1))
    .addOption(opt('--schedule <kind>', "multistep (the paper's /10 at 50% and 75%, i.e. 32k/48k of 64k) | paper (/10 at 32k, 48k) | cosine | constant", choice(['multistep', 'paper', 'cosine', 'constant'] as const), 'multistep'))
    .addOption(opt('--warmup <n>', "hold lr/10 for the first n steps (0: none; the paper's ResNet-110 uses 400)", integer(0, 1e9)))
    .addOption(opt('--momentum <x>', 'SGD momentum, from 0 (none) to below 1', number({ min: 0, below: 1 }), 0.9))
    .addOption(opt('--wd <x>', 'weight decay, from 0 (none) to below 1', number({ min: 0, below: 1 }), 1e-4))
    .addOption(opt('--out <dir>', 'output folder (checkpoint.safetensors, model.safetensors, best.safetensors with a validation set, log.jsonl, curves.svg)', text('a folder'), 'runs/train'))
    .addOption(opt('--backend <name>', "engine: 'auto' or a name (see `resnet backends`)", text('an engine name')))
    .addOption(opt('--limit <n>', 'use only n training images (quick runs; a seeded mix of every class for image folders, which decode only those)', integer(1, 1e9)))
    .addOption(opt('--test-limit <n>', 'evaluate on only n validation/test images each epoch (the first n; a seeded mix of every class for image folders)', integer(1, 1e9)))
    .addOption(opt('--seed <n>', 'seed of shuffling, augmentation, the validation split and a new head', integer(0, 2 ** 32 - 1), 0))
    .addOption(opt('--checkpoint-every <n>', 'also checkpoint every n steps (0: only at epoch ends)', integer(0, 1e9), 0));
}

/** `resnet train`: trains a model with the paper's recipe or fine-tunes pretrained weights, resumable, with logs and curves. */
export function registerTrain(program: Command): void {
  // --mean/--std: the normalisation --init's weights were trained with, when they store another (or none).
  addPreprocessingOptions(addTrainOptions(program.command('train').description("train or fine-tune a model (SGD + momentum, augmentation that fits the image size, checkpoints you can --resume)")), false)
    .option('--nesterov', 'Nesterov momentum')
    .addOption(
      opt('--resume [dir]', 'continue the run in --out (or in <dir>: --resume runs/x is --out runs/x --resume) from its checkpoint.safetensors (an error when there is none)', text('a folder')),
    )
    .option('--force', 'replace a run already in --out (without it, such a folder is refused)')
    .option('--no-augment', 'no random crops or flips')
    .option('--no-pad', 'do not zero-pad 28x28 images to 32x32 for CIFAR stems')
    .option('--json', 'print one JSON object per line and event (start, note, progress, epoch, test, done) on stdout')
    .action(async (parsed: TrainCliOptions & { resume?: boolean | string }, cmd: Command) => {
      try {
        await trainCommand(parsed, cmd);
      } catch (e) {
        // With --json the failure is the stream's last event too (its one resnet: line stays on stderr).
        if (parsed.json) process.stdout.write(JSON.stringify({ event: 'error', message: errorLine(e as Error) }) + '\n');
        throw e;
      }
    });
}

/** `resnet train`'s work, once its options are parsed. */
async function trainCommand(parsed: TrainCliOptions & { resume?: boolean | string }, cmd: Command): Promise<void> {
  const given = resumeFolder(parsed, cmd);
  // Refuse an --out that holds a run, is in use or cannot be a folder before loading any data.
  checkRunFolder(given.out, { resume: given.resume, force: given.force });
  // A resumed run's options left out here are the run's own, not this command's defaults.
  const opts = given.resume ? withRunOptions(given, cmd) : given;
  // The run's length is one or the other: --epochs would be dropped without a word.
  if (cmd.getOptionValueSource('epochs') === 'cli' && cmd.getOptionValueSource('iterations') === 'cli')
    throw new UserError('give --epochs or --iterations, not both: each sets the length of the run.');
  if (opts.init && cmd.getOptionValueSource('model') === 'cli')
    throw new UserError('--init brings its own architecture: leave out --model (or drop --init to train --model from scratch).');
  if (!opts.init && (opts.mean || opts.std))
    throw new UserError("--mean and --std describe --init's weights; from scratch, training normalises with the data's own statistics.");
  if (opts.lr === 0 && opts.headLr === undefined)
    throw new UserError('--lr 0 trains nothing: give a rate above 0, or --head-lr <x> with it to train only the head.');
  const backend = await selectBackend(opts.backend ?? 'auto', true);
  const out = reporter(Boolean(opts.json));
  const setup = await prepareTraining(opts, out.note);
  try {
    await runTraining(opts, setup, backend, out).catch((e: unknown) => {
      throw inFlagTerms(e);
    });
  } finally {
    setup.model.dispose();
  }
}

/** How the command reports: text lines on stderr, or JSON lines on stdout with --json. */
interface Reporter {
  json: boolean;
  note: (message: string) => void;
  event: (name: string, fields: Record<string, unknown>, text?: string) => void;
}

function reporter(json: boolean): Reporter {
  const say = (m: string) => process.stderr.write(m + '\n');
  const event = (name: string, fields: Record<string, unknown>, text?: string) => {
    if (json) process.stdout.write(JSON.stringify({ event: name, ...fields }) + '\n');
    else if (text !== undefined) say(text);
  };
  return { json, note: (message) => event('note', { message }, message), event };
}

/** The schedule of --schedule/--lr/--warmup over `total` steps. */
function scheduleOf(opts: TrainCliOptions, total: number): ScheduleSpec {
  const s: ScheduleSpec =
    opts.schedule === 'multistep'
      ? scaledPaperSchedule(total, opts.lr)
      : opts.schedule === 'paper'
        ? { type: 'multistep', lr: opts.lr, milestones: [32000, 48000], gamma: 0.1 }
        : opts.schedule === 'cosine'
          ? { type: 'cosine', lr: opts.lr, total }
          : { type: 'constant', lr: opts.lr };
  return opts.warmup ? paperWarmup(s, opts.warmup, opts.lr / 10) : s;
}

async function runTraining(opts: TrainCliOptions, setup: TrainSetup, backend: string, out: Reporter): Promise<void> {
  const { model, trainSet, valSet, testSet, kind, flip, preprocessing } = setup;
  frozenPrefixes(model, opts.freeze); // a --freeze the model cannot honour fails before the run is announced
  if (!opts.init && opts.freeze !== 'none')
    out.note(
      `warning: --freeze ${opts.freeze} without --init keeps randomly initialised weights fixed (nothing pretrained to keep): ` +
        'only the rest learns. Give --init <pretrained weights> to fine-tune, or leave out --freeze.',
    );
  const [h, w, c] = trainSet.shape;
  // A run of less than one step is refused here, before it is announced.
  const total = runLength(trainSet.labels.length, { batchSize: opts.batch, epochs: opts.epochs, iterations: opts.iterations }).totalSteps;
  // A --batch larger than the training set trains on all of it at once: the header says the real batch.
  const batch = Math.min(opts.batch, trainSet.labels.length);
  const batchText = `${total} step${total > 1 ? 's' : ''} of ${batch}${batch < opts.batch ? ` (--batch ${opts.batch} is more than the ${batch} training images)` : ''}`;
  const schedule = scheduleOf(opts, total);
  const augment = opts.augment ? defaultAugmentation([h, w], flip) : false;
  const augText = !augment ? 'off' : `${augment.resizedCrop ? 'random-resized-crop' : `pad ${augment.pad} + crop`}${augment.flip ? ' + flip' : ''}`;
  const what = opts.init ? `fine-tuning ${opts.init}${opts.freeze !== 'none' ? ` (frozen: ${opts.freeze})` : ''}` : `training ${opts.model}`;
  const sizes = `${trainSet.labels.length} train, ${valSet ? `${valSet.labels.length} validation, ` : ''}${testSet?.labels.length ?? 0} test images`;
  // The run is announced when train() starts it (onStart): a refused run (a resume whose options differ)
  // prints only its error. The trainer's notes before that wait for the header.
  const announce = () =>
    out.event(
      'start',
      { model: opts.init ?? opts.model, data: kind, classes: trainSet.classes, train: trainSet.labels.length, val: valSet?.labels.length ?? 0, test: testSet?.labels.length ?? 0, shape: [h, w, c], padTo: preprocessing.padTo, backend, steps: total, batch, schedule, freeze: opts.freeze, augment },
      `${what} on ${kind} (${sizes}, ${trainSet.classes.length} classes, ${h}x${w}x${c}${preprocessing.padTo ? ` padded to ${preprocessing.padTo.join('x')}` : ''}) on ${backend}: ` +
        `${batchText}; learning rate ${describeSchedule(schedule)}${opts.headLr ? ` (head ${opts.headLr})` : ''}; augmentation ${augText}`,
    );
  // Epoch lines are 'epoch' events in JSON mode (onEpoch); everything else is a note.
  const say = (m: string) => (!/^epoch \d+\//.test(m) ? out.note(m) : out.json ? undefined : process.stderr.write(m + '\n'));
  const pending: string[] = [];
  let started = false;
  const stop = abortOnStopSignals((signal) =>
    process.stderr.write(`\nresnet: interrupted; saving a checkpoint after this step (${signalName(signal)} again to quit without saving)\n`),
  );
  try {
    const res = await train({
      model, trainSet, valSet, testSet, augment, schedule, preprocessing,
      epochs: opts.epochs, iterations: opts.iterations, batchSize: opts.batch,
      momentum: opts.momentum, weightDecay: opts.wd, nesterov: opts.nesterov, seed: opts.seed,
      freeze: opts.freeze, headLr: opts.headLr,
      outDir: opts.out, checkpointEvery: opts.checkpointEvery, resume: opts.resume, force: opts.force,
      metadata: runOptionsMetadata(opts),
      signal: stop.signal,
      log: (m) => (started ? say(m) : pending.push(m)),
      onStart: () => {
        started = true;
        announce();
        pending.splice(0).forEach(say);
      },
      onEpoch: out.json ? (m: EpochMetrics) => out.event('epoch', { ...m }) : undefined,
      // Without a terminal (logs, CI, nohup) there is no progress bar: print a line every 30 s instead.
      onProgress: out.json || !process.stderr.isTTY ? progressLines(out) : undefined,
      progressBar: out.json ? false : undefined,
    });
    report(res, opts, out, stop.received());
  } finally {
    stop.dispose();
  }
}

/** The `train()` options whose names its refusals use, as this command's flags. */
const FLAG_OF: Record<string, string> = {
  batchSize: '--batch',
  headLr: '--head-lr',
  lr: '--lr',
  momentum: '--momentum',
  nesterov: '--nesterov',
  weightDecay: '--wd',
  checkpointEvery: '--checkpoint-every',
  seed: '--seed',
};

/** A refusal of `train()`'s options (a TrainError 'OPTIONS') worded with the flags the user typed: "give --batch 15 or 17", not batchSize. */
function inFlagTerms(e: unknown): unknown {
  if (!(e instanceof TrainError) || e.code !== 'OPTIONS') return e;
  const names = new RegExp(`(?<![\\w.-])(${Object.keys(FLAG_OF).join('|')})(?![\\w.])`, 'g');
  return new TrainError(e.message.replace(names, (name: string) => FLAG_OF[name]), e.code);
}

/** The closing lines (or events) of a run; a diverged run is an error, an interrupted one exits 128 + the signal (130 for Ctrl-C). */
function report(res: TrainResult, opts: TrainCliOptions, out: Reporter, interrupted: NodeJS.Signals | undefined): void {
  if (res.stopped === 'nan') throw new TrainError(res.message ?? 'loss became NaN');
  if (res.stopped === 'aborted') {
    out.event('stopped', { step: res.step, totalSteps: res.totalSteps }, `stopped at step ${res.step}/${res.totalSteps}; resume with the same command plus --resume`);
    process.exitCode = signalExitCode(interrupted ?? 'SIGINT');
    return;
  }
  if (res.test) out.event('test', { ...res.test });
  if (interrupted) {
    out.event('stopped', { step: res.step, complete: true }, `interrupted after the last step: the run is complete (${path.join(opts.out, 'model.safetensors')} written)`);
    process.exitCode = signalExitCode(interrupted);
    return;
  }
  const last = res.history[res.history.length - 1];
  const files = { model: path.join(opts.out, 'model.safetensors'), best: res.best?.file, log: path.join(opts.out, 'log.jsonl'), curves: path.join(opts.out, 'curves.svg') };
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const evalText = last?.top1 !== undefined ? `, ${last.evalSet ?? 'test'} top-1 ${pct(last.top1)}${last.top5 !== undefined ? `, top-5 ${pct(last.top5)}` : ''}` : '';
  const bestText = res.best ? `; best epoch ${res.best.epoch} (validation top-1 ${pct(res.best.top1)}) in ${res.best.file}` : '';
  out.event(
    'done',
    { step: res.step, last, best: res.best, test: res.test, files },
    `done: ${res.step} steps${evalText}${bestText}; weights ${files.model}, log ${files.log}, curves ${files.curves}`,
  );
}

/** A progress callback that reports step, loss, images/s and ETA at most every `everyMs`. */
function progressLines(out: Reporter, everyMs = 30_000): (p: StepProgress) => void {
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
    out.event(
      'progress',
      { ...p, etaSeconds: eta },
      `step ${p.step}/${p.totalSteps} (epoch ${p.epoch}) loss ${p.loss.toFixed(4)} lr ${p.lr.toPrecision(3)} ` +
        `${p.imagesPerSec.toFixed(0)} img/s ETA ${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s`,
    );
  };
}

/**
 * `--resume <dir>` as `--out <dir> --resume` (the form users reach for first); `--resume` alone
 * continues the run in --out. Both folders named and different: one line, nothing read.
 */
function resumeFolder(parsed: TrainCliOptions & { resume?: boolean | string }, cmd: Command): TrainCliOptions {
  if (typeof parsed.resume !== 'string') return parsed as TrainCliOptions;
  const dir = parsed.resume;
  if (cmd.getOptionValueSource('out') === 'cli' && path.resolve(parsed.out) !== path.resolve(dir))
    throw new UserError(`--resume ${dir} and --out ${parsed.out} name two folders: give the run's folder once (--resume ${dir}).`);
  return { ...parsed, out: dir, resume: true };
}
