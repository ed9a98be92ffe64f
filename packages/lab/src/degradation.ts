/**
 * Experiment 2 (He et al. Fig. 6 / Table 2): plain-N and ResNet-N at several depths trained with
 * the same recipe and seed; train and test error curves in the paper's style (dashed: train, solid:
 * test), and whether the deeper plain net trained worse and the deeper ResNet better.
 */
import { TRAINING_OPTIONS, TrainingCommandValues, trainingRecipe } from './command.js';
import { CommonOptions, ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { untilInterrupted } from './interrupt.js';
import { lineChart, PALETTE } from '@resnet-ts/plot';
import { mdTable, pct, writeReport } from './report.js';
import { ErrorSample, ExperimentFailedError, compareErrors, noFiniteError, noVerdictReason, oneSeedRuleSentence } from './evidence.js';
import { NetRun, TrainingExperimentOptions, cifarNet, fmtDuration, stoppedText, totalTrainingSeconds, trainJobs } from './training.js';

export interface DegradationOptions extends TrainingExperimentOptions {
  /** Depths 6n+2 (default 20 and 56). */
  depths?: number[];
}

/** What `degradation` measured: per net and depth, the training curves and final train/test error. */
export interface DegradationResult {
  data: string;
  depths: number[];
  epochs: number;
  runs: NetRun[];
  /** Deepest vs shallowest, per family (null when a run is missing). */
  findings: {
    family: 'plain' | 'resnet';
    shallow: number;
    deep: number;
    shallowTrainError: number;
    deepTrainError: number;
    shallowTestError: number;
    deepTestError: number;
    /** Whether the deeper net trained worse; null when the run cannot tell (see `verdict`). */
    deeperIsWorse: boolean | null;
    /** The verdict in words: worse, better, or why the run cannot tell (see evidence.ts). */
    verdict: string;
  }[];
}

/** One plot per family: train (dashed) and test (solid) error against epoch, a colour per depth. */
function degradationPlots(result: DegradationResult): Record<string, string> {
  const { runs, depths } = result;
  const curves = (family: 'plain' | 'resnet') =>
    runs
      .filter((r) => r.name.startsWith(family))
      .flatMap((r) => {
        const color = PALETTE[depths.indexOf(Number(r.name.slice(family.length))) % PALETTE.length];
        const x = r.history.map((m) => m.epoch); // EpochMetrics.epoch is 1-based (as on the console)
        return [
          { name: `${r.name} train`, x, y: r.history.map((m) => 100 * (1 - m.trainAcc)), dash: 'dashed' as const, color },
          { name: `${r.name} test`, x, y: r.history.map((m) => (m.top1 === undefined ? NaN : 100 * (1 - m.top1))), color },
        ];
      });
  return {
    'plain.svg': lineChart(curves('plain'), { title: `Plain nets on ${result.data}`, xLabel: 'epoch', yLabel: 'error (%)', yMin: 0 }),
    'resnet.svg': lineChart(curves('resnet'), { title: `ResNets on ${result.data}`, xLabel: 'epoch', yLabel: 'error (%)', yMin: 0 }),
  };
}

/** A net's final train error as evidence: none (NaN) unless it finished; counted over the training set. */
function trainSample(r: NetRun, o: DegradationOptions): ErrorSample {
  return { error: r.stopped === 'done' ? r.trainError : NaN, images: o.trainSet.labels.length };
}

/** Deepest vs shallowest per family, with a verdict only where the run can tell (see evidence.ts). */
export function degradationFindings(runs: NetRun[], depths: number[], o: DegradationOptions): DegradationResult['findings'] {
  const get = (name: string) => runs.find((r) => r.name === name);
  const findings: DegradationResult['findings'] = [];
  if (depths.length < 2) return findings;
  for (const family of ['plain', 'resnet'] as const) {
    const s = get(`${family}${depths[0]}`);
    const d = get(`${family}${depths[depths.length - 1]}`);
    if (!s || !d) continue;
    const e = compareErrors(trainSample(d, o), trainSample(s, o), { classes: o.trainSet.classes.length, seeds: 1 });
    const deeperIsWorse = e.kind === 'b-lower' ? true : e.kind === 'a-lower' ? false : null;
    findings.push({
      family,
      shallow: depths[0],
      deep: depths[depths.length - 1],
      shallowTrainError: s.trainError,
      deepTrainError: d.trainError,
      shallowTestError: s.testError,
      deepTestError: d.testError,
      deeperIsWorse,
      verdict: deeperIsWorse === null ? noVerdictReason(e) : deeperIsWorse ? 'worse' : 'better',
    });
  }
  return findings;
}

/** The report's text: the recipe, the table, what degraded, the per-depth gap and the budget. */
function degradationBody(result: DegradationResult, options: DegradationOptions): string {
  const { runs, depths, findings, epochs } = result;
  const numClasses = options.trainSet.classes.length;
  const seed = options.seed ?? 0;
  const get = (name: string) => runs.find((r) => r.name === name);
  const sentence = (f: DegradationResult['findings'][number]) => {
    const Family = f.family === 'plain' ? 'Plain' : 'ResNet';
    const paper =
      f.deeperIsWorse === null
        ? ''
        : f.family === 'plain'
          ? f.deeperIsWorse
            ? ' (degradation, as in the paper)'
            : ' (no degradation at this budget)'
          : f.deeperIsWorse
            ? ' (unlike the paper)'
            : ' (as in the paper)';
    return (
      `${Family}-${f.deep} ended with train error ${pct(f.deepTrainError)} (test ${pct(f.deepTestError)}) vs ${pct(f.shallowTrainError)} (test ${pct(f.shallowTestError)}) for ${f.family === 'plain' ? 'plain' : 'ResNet'}-${f.shallow}: ` +
      `${f.deeperIsWorse === null ? f.verdict : `the deeper net trained ${f.verdict}`}${paper}.`
    );
  };
  return [
    `Plain-N and ResNet-N (CIFAR layout: 3 stages of (N−2)/6 basic blocks, option A) on ${result.data} (${options.trainSet.labels.length} training and ${options.testSet.labels.length} test images), ${epochs} epoch${epochs === 1 ? '' : 's'}, the same recipe ` +
      `(SGD momentum ${options.momentum ?? 0.9}, weight decay ${options.weightDecay ?? 1e-4}, batch ${options.batchSize ?? 128}, lr ${options.lr ?? 0.1} divided by 10 at 50 % and 75 %) and seed ${seed}. Dashed: train error, solid: test error.`,
    '',
    mdTable(
      ['net', 'params', 'train error', 'test error', 'epochs', 'status'],
      runs.map((r) => [r.name, r.params, pct(r.trainError), pct(r.testError), r.history.length, stoppedText(r.stopped)]),
    ),
    '',
    ...findings.map(sentence),
    '',
    oneSeedRuleSentence(numClasses),
    '',
    ...depths.flatMap((d) => {
      const plain = get(`plain${d}`);
      const res = get(`resnet${d}`);
      if (!plain || !res) return [];
      const e = compareErrors(trainSample(res, options), trainSample(plain, options), { classes: numClasses, seeds: 1 });
      const gap = 100 * (plain.trainError - res.trainError);
      return [
        `- At depth ${d}, ResNet-${d} ended with train error ${pct(res.trainError)} vs plain-${d}'s ${pct(plain.trainError)}: ` +
          (e.kind === 'a-lower'
            ? `the shortcuts took ${gap.toFixed(2)} points off.`
            : e.kind === 'b-lower'
              ? `no gain from the shortcuts (${(-gap).toFixed(2)} points worse).`
              : `${noVerdictReason(e)}.`),
      ];
    }),
    '',
    `Budget: ${epochs * Math.ceil(options.trainSet.labels.length / (options.batchSize ?? 128))} SGD steps per net (the paper: 64,000 on CIFAR-10). ` +
      'At a short budget every deeper net is further from convergence, so read the plain-vs-ResNet gap at each depth next to the depth trend. ' +
      `Training time, all nets: ${fmtDuration(totalTrainingSeconds(runs))} (the epochs' logged seconds, resumed invocations included).`,
  ].join('\n');
}

/** Runs experiment 2 and writes its report. */
export async function runDegradation(options: DegradationOptions): Promise<ExperimentOutput<DegradationResult>> {
  const started = Date.now();
  const out = options.out ?? defaultOut('degradation');
  const depths = [...(options.depths ?? [20, 56])].sort((a, b) => a - b);
  const seed = options.seed ?? 0;
  const inChannels = options.trainSet.shape[2];
  const numClasses = options.trainSet.classes.length;
  const jobs = depths.flatMap((d) =>
    (['plain', 'resnet'] as const).map((family) => ({
      name: `${family}${d}`,
      build: () => cifarNet(d, { residual: family === 'resnet', inChannels, numClasses, seed, widths: options.widths }),
    })),
  );
  options.log?.(
    `degradation: plain vs ResNet at depths ${depths.join(', ')} on ${options.dataName ?? 'the data'} (${options.trainSet.labels.length} train / ${options.testSet.labels.length} test images)`,
  );
  const runs = await trainJobs(jobs, options, out);
  const findings = degradationFindings(runs, depths, options);
  const epochs = options.epochs ?? 30;
  const result: DegradationResult = { data: options.dataName ?? 'data', depths, epochs, runs, findings };
  const plots = degradationPlots(result);
  const body = degradationBody(result, options);
  const info = { ...runInfo('degradation', options as CommonOptions, started), trainingSeconds: totalTrainingSeconds(runs) };
  const files = await writeReport(out, { info, result, plots, title: 'Degradation: plain vs residual nets', body });
  if (noFiniteError(runs))
    throw new ExperimentFailedError(
      `degradation: no net produced a finite error (${runs.map((r) => `${r.name} ${stoppedText(r.stopped)}`).join(', ')}); the report in ${out} has no verdict. Try a lower --lr.`,
    );
  return { info, result, files };
}

registerExperiment<DegradationOptions, DegradationResult, TrainingCommandValues & { depths: number[] }>({
  name: 'degradation',
  description: 'He et al. Fig. 6: plain-N vs ResNet-N at several depths, train and test error curves',
  run: runDegradation,
  command: {
    summary: 'He et al. Fig. 6: plain-N vs ResNet-N at several depths (long: prints its duration; resumable)',
    engine: { default: 'auto', training: true },
    options: [
      ...TRAINING_OPTIONS,
      {
        flags: '--depths <list>',
        description: 'depths 6n+2',
        kind: { type: 'integerList', min: 8, max: 10000, rule: 'cifar-depth' },
        default: [20, 56],
      },
    ],
    run: (v, host) =>
      untilInterrupted(host, async (signal) => runDegradation({ ...(await trainingRecipe(v, host)), depths: v.depths, signal })),
  },
});
