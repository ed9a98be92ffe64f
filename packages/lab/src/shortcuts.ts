/**
 * Experiment 3 (He et al. Table 3): shortcut options A (zero-padding identity), B (projection when
 * the shape changes), C (projection everywhere) at one depth: parameters, multiply-adds, error.
 */
import { TRAINING_OPTIONS, TrainingCommandValues, trainingRecipe } from './command.js';
import { CommonOptions, ExperimentOutput, defaultOut, registerExperiment, runInfo } from './experiment.js';
import { untilInterrupted } from './interrupt.js';
import { barChart } from '@resnet-ts/plot';
import { fmtNum, mdTable, pct, writeReport } from './report.js';
import { ErrorSample, ExperimentFailedError, compareErrors, noFiniteError, noVerdictReason, oneSeedRuleSentence } from './evidence.js';
import { NetRun, TrainingExperimentOptions, cifarNet, fmtDuration, stoppedText, totalTrainingSeconds, trainJobs } from './training.js';

export interface ShortcutsOptions extends TrainingExperimentOptions {
  /** Depth 6n+2 (default 20). */
  depth?: number;
  /** Options to compare (default A, B, C). */
  options?: string[];
}

/** Options A, B, C at one depth: parameters, multiply-adds, training curves and final error. */
export interface ShortcutsResult {
  data: string;
  depth: number;
  epochs: number;
  runs: (NetRun & { shortcut: string })[];
  /** Every pair of options by test error, with a verdict only where the run can tell (see evidence.ts). */
  comparisons: ShortcutComparison[];
}

/** Two shortcut options compared by their final test error. */
export interface ShortcutComparison {
  a: string;
  b: string;
  aTestError: number;
  bTestError: number;
  /** The option with the lower test error, where the gap is evidence; null when the run cannot tell (see `verdict`). */
  better: string | null;
  /** `B beats A`, or why the run cannot tell. */
  verdict: string;
}

/** A net's final test error as evidence: none (NaN) unless it finished; counted over the test set. */
function testSample(r: NetRun, testImages: number): ErrorSample {
  return { error: r.stopped === 'done' ? r.testError : NaN, images: testImages };
}

/** Every pair of options (in the order given), each judged by the shared rule of evidence.ts. */
export function shortcutComparisons(runs: ShortcutsResult['runs'], o: { classes: number; testImages: number }): ShortcutComparison[] {
  return runs.flatMap((a, i) =>
    runs.slice(i + 1).map((b) => {
      const e = compareErrors(testSample(a, o.testImages), testSample(b, o.testImages), { classes: o.classes, seeds: 1 });
      const better = e.kind === 'a-lower' ? a.shortcut : e.kind === 'b-lower' ? b.shortcut : null;
      const worse = better === a.shortcut ? b.shortcut : a.shortcut;
      const verdict = better === null ? noVerdictReason(e) : `${better} beats ${worse}`;
      return { a: a.shortcut, b: b.shortcut, aTestError: a.testError, bTestError: b.testError, better, verdict };
    }),
  );
}

/** Runs experiment 3 and writes its report. */
export async function runShortcuts(o: ShortcutsOptions): Promise<ExperimentOutput<ShortcutsResult>> {
  const started = Date.now();
  const out = o.out ?? defaultOut('shortcuts');
  const depth = o.depth ?? 20;
  const opts = o.options ?? ['A', 'B', 'C'];
  const seed = o.seed ?? 0;
  const inChannels = o.trainSet.shape[2];
  const numClasses = o.trainSet.classes.length;
  o.log?.(`shortcuts: ResNet-${depth} with options ${opts.join(', ')} on ${o.dataName ?? 'the data'}`);
  const jobs = opts.map((s) => ({
    name: `resnet${depth}-${s}`,
    build: () => cifarNet(depth, { residual: true, shortcut: s, inChannels, numClasses, seed, widths: o.widths }),
  }));
  const trained = await trainJobs(jobs, o, out);
  const runs = trained.map((r) => ({ ...r, shortcut: opts[jobs.findIndex((j) => j.name === r.name)] }));
  const comparisons = shortcutComparisons(runs, { classes: numClasses, testImages: o.testSet.labels.length });
  const result: ShortcutsResult = { data: o.dataName ?? 'data', depth, epochs: o.epochs ?? 30, runs, comparisons };
  const plots = {
    'error.svg': barChart(
      runs.map((r) => `option ${r.shortcut}`),
      [
        { name: 'test error', values: runs.map((r) => 100 * r.testError) },
        { name: 'train error', values: runs.map((r) => 100 * r.trainError) },
      ],
      { title: `ResNet-${depth}: shortcut options on ${result.data}`, yLabel: 'error (%)', yMin: 0 },
    ),
  };
  const body = [
    `ResNet-${depth} (CIFAR layout) with shortcut options ${opts.join(', ')}: A = zero-padding identity (no parameters), B = 1x1 projection where the shape changes, C = projection everywhere. ` +
      `Same recipe and seed ${seed}; ${result.epochs} epoch${result.epochs === 1 ? '' : 's'} on ${result.data} (${o.trainSet.labels.length} training and ${o.testSet.labels.length} test images). Multiply-adds per image from \`model.summary()\`.`,
    '',
    mdTable(
      ['option', 'params', 'multiply-adds', 'train error', 'test error', 'status'],
      runs.map((r) => [r.shortcut, r.params, `${fmtNum(r.macs / 1e6)} M`, pct(r.trainError), pct(r.testError), stoppedText(r.stopped)]),
    ),
    '',
    ...(comparisons.length
      ? [
          ...comparisons.map(
            (c) => `- Option ${c.a} ended with test error ${pct(c.aTestError)} vs ${pct(c.bTestError)} for option ${c.b}: ${c.verdict}.`,
          ),
          '',
          oneSeedRuleSentence(numClasses),
          '',
        ]
      : []),
    'The paper (ImageNet ResNet-34, Table 3) found C slightly better than B and B slightly better than A ' +
      '(top-1 error 24.19 / 24.52 / 25.03 %, 10-crop) and concluded the projections are not essential.',
    '',
    `Training time, all options: ${fmtDuration(totalTrainingSeconds(runs))} (the epochs' logged seconds, resumed invocations included).`,
  ].join('\n');
  const info = { ...runInfo('shortcuts', o as CommonOptions, started), trainingSeconds: totalTrainingSeconds(runs) };
  const files = await writeReport(out, { info, result, plots, title: 'Shortcut options A / B / C', body });
  if (noFiniteError(runs))
    throw new ExperimentFailedError(
      `shortcuts: no net produced a finite error (${runs.map((r) => `${r.name} ${stoppedText(r.stopped)}`).join(', ')}); the report in ${out} has no verdict. Try a lower --lr.`,
    );
  return { info, result, files };
}

registerExperiment<ShortcutsOptions, ShortcutsResult, TrainingCommandValues & { depth: number; options: ('A' | 'B' | 'C')[] }>({
  name: 'shortcuts',
  description: 'He et al. Table 3: shortcut options A vs B vs C at one depth (params, multiply-adds, error)',
  run: runShortcuts,
  command: {
    summary: 'He et al. Table 3: shortcut options A vs B vs C (long: prints its duration; resumable)',
    engine: { default: 'auto', training: true },
    options: [
      ...TRAINING_OPTIONS,
      { flags: '--depth <n>', description: 'depth 6n+2', kind: { type: 'integer', min: 8, max: 10000, rule: 'cifar-depth' }, default: 20 },
      {
        flags: '--options <list>',
        description: 'shortcut options',
        kind: { type: 'choiceList', values: ['A', 'B', 'C'] },
        default: ['A', 'B', 'C'],
      },
    ],
    run: (v, host) =>
      untilInterrupted(host, async (signal) =>
        runShortcuts({ ...(await trainingRecipe(v, host)), depth: v.depth, options: v.options, signal }),
      ),
  },
});
