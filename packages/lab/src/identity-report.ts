/**
 * The identity experiment's report (see identity.ts): the per-net summary over seeds, the loss plot
 * and the report text.
 */
import { lineChart } from '@resnet-ts/plot';
import { meanStd } from './experiment.js';
import type { IdentityNet, IdentityResult, IdentityRun, IdentitySummary } from './identity.js';
import { fmtNum, mdTable } from './report.js';

const mean = (v: number[]) => meanStd(v).mean;

/** The means over seeds of one net on one task: steps to the threshold, closeness to identity/zero, the layer metrics now and at initialisation. */
export function summarizeNet(task: string, d: number, width: number, net: IdentityNet, rs: IdentityRun[]): IdentitySummary {
  const reached = rs.filter((r) => r.stepsToThreshold !== null);
  const dist = mean(rs.flatMap((r) => r.relDistToIdentity));
  const wn = mean(rs.flatMap((r) => r.relWeightNorm));
  return {
    task,
    d,
    width,
    net,
    reached: reached.length,
    seeds: rs.length,
    meanStepsToThreshold: reached.length === rs.length ? mean(reached.map((r) => r.stepsToThreshold!)) : null,
    closeness: net === 'plain' ? dist : wn,
    closenessName: net === 'plain' ? '‖W − I‖/‖I‖' : '‖W‖/‖I‖',
    meanRelDistToIdentity: dist,
    meanRelWeightNorm: wn,
    meanRelBranchOutput: mean(rs.flatMap((r) => r.relBranchOutput)),
    meanRelChange: mean(rs.flatMap((r) => r.relChange)),
    meanTestMse: mean(rs.map((r) => r.testMse)),
    init: {
      relDistToIdentity: mean(rs.flatMap((r) => r.atInit.relDistToIdentity)),
      relWeightNorm: mean(rs.flatMap((r) => r.atInit.relWeightNorm)),
      relBranchOutput: mean(rs.flatMap((r) => r.atInit.relBranchOutput)),
      relChange: mean(rs.flatMap((r) => r.atInit.relChange)),
    },
  };
}

/** The training MSE of both nets on one task (geometric mean of the loss curves over seeds), log-y, with the threshold dotted. */
export function identityLossPlot(
  task: string,
  perNet: Record<IdentityNet, IdentityRun[]>,
  o: { curveEvery: number; threshold: number; steps: number; seeds: number; optimizer: string },
): string {
  const curveOf = (rs: IdentityRun[]) => {
    const len = Math.min(...rs.map((r) => r.curve.length));
    return Array.from({ length: len }, (_, k) => Math.exp(mean(rs.map((r) => Math.log(Math.max(r.curve[k], 1e-30))))));
  };
  const x = (n: number) => Array.from({ length: n }, (_, k) => k * o.curveEvery);
  const cp = curveOf(perNet.plain);
  const cr = curveOf(perNet.residual);
  return lineChart(
    [
      { name: 'plain (relu(W h + b))', x: x(cp.length), y: cp, dash: 'dashed' },
      { name: 'residual (relu(h + W h + b))', x: x(cr.length), y: cr, dash: 'solid' },
      { name: `threshold ${o.threshold}`, x: [0, o.steps], y: [o.threshold, o.threshold], dash: 'dotted', color: '#777' },
    ],
    { title: `${task}: training MSE (geometric mean of ${o.seeds} seeds)`, xLabel: `${o.optimizer} step`, yLabel: 'MSE', logY: true },
  );
}

/** One line per task: how each net did against the threshold and how far its extra layers moved. */
function taskLines(result: IdentityResult): string[] {
  const { dims, steps } = result.options;
  const { summary } = result;
  return dims.map((d) => {
    const [pl, re] = ['plain', 'residual'].map((n) => summary.find((s) => s.d === d && s.net === n)!);
    const st = (s: IdentitySummary) =>
      s.meanStepsToThreshold === null
        ? `did not reach it in ${steps} steps (${s.reached}/${s.seeds} seeds did)`
        : `reached it in ${fmtNum(s.meanStepsToThreshold)} steps`;
    return (
      `- **${pl.task}**: plain ${st(pl)}, residual ${st(re)}. Plain extra layers ‖W − I‖/‖I‖: ${fmtNum(pl.init.relDistToIdentity)} at init → ${fmtNum(pl.meanRelDistToIdentity)}; ` +
      `residual branches ‖W‖/‖I‖: ${fmtNum(re.init.relWeightNorm)} → ${fmtNum(re.meanRelWeightNorm)}, relative branch output ${fmtNum(re.init.relBranchOutput)} → ${fmtNum(re.meanRelBranchOutput)}.`
    );
  });
}

/** How one net did on one task over its seeds: seeds that reached the threshold, their mean steps and the sample std of those steps. */
function reachOf(
  result: IdentityResult,
  task: string,
  net: IdentityNet,
): { reached: number; seeds: number; meanSteps: number; stdSteps: number; diverged: number } {
  const rs = result.runs.filter((r) => r.task === task && r.net === net);
  const steps = rs.flatMap((r) => (r.stepsToThreshold === null ? [] : [r.stepsToThreshold]));
  const { mean, std } = meanStd(steps);
  return { reached: steps.length, seeds: rs.length, meanSteps: mean, stdSteps: std, diverged: rs.filter(diverged).length };
}

/** A run whose training diverged: its final training MSE is not a finite number (NaN, or null as JSON writes NaN). */
export const diverged = (r: { finalTrainMse?: number | null }) =>
  r.finalTrainMse === null || (typeof r.finalTrainMse === 'number' && !Number.isFinite(r.finalTrainMse));

/** ` (diverged in 2/3 seeds)` where some did. */
const divergedNote = (r: { diverged: number; seeds: number }) =>
  r.diverged ? ` (training diverged in ${r.diverged}/${r.seeds} seed${r.seeds === 1 ? '' : 's'}: final MSE not finite)` : '';

/**
 * Which net reached the threshold first on a task: the one more seeds reached; else, when both
 * reached it in the same seeds (two or more), the one with fewer mean steps if the gap exceeds twice
 * its standard error over seeds (sample stds, Welch); null when the run cannot tell.
 */
export function identityWinner(result: IdentityResult, task: string): IdentityNet | null {
  const pl = reachOf(result, task, 'plain');
  const re = reachOf(result, task, 'residual');
  if (pl.reached !== re.reached) return re.reached > pl.reached ? 'residual' : 'plain';
  if (stepsNoise(pl, re) !== undefined) return null;
  return re.meanSteps < pl.meanSteps ? 'residual' : 'plain';
}

/** Why the mean steps of two nets that reached the threshold in as many seeds cannot be told apart; undefined when they can. */
function stepsNoise(pl: ReturnType<typeof reachOf>, re: ReturnType<typeof reachOf>): string | undefined {
  if (!re.reached) return 'neither net reached the threshold';
  if (pl.meanSteps === re.meanSteps) return 'neither net got there first';
  if (re.reached < 2) return 'cannot tell: one seed each, and a difference in steps cannot be told from noise';
  const gap = Math.abs(pl.meanSteps - re.meanSteps);
  const se = Math.sqrt((pl.stdSteps ** 2 + re.stdSteps ** 2) / re.reached);
  if (gap > 2 * se) return undefined;
  return `cannot tell: the ${fmtNum(gap)}-step gap is within twice its standard error over seeds (${fmtNum(2 * se)} steps)`;
}

/** The findings' headline: every run diverged, no winner anywhere (inconclusive), one net won every task it decides, or a mix of winners. */
function headline(result: IdentityResult, winners: (IdentityNet | null)[]): string {
  if (result.runs.length && result.runs.every(diverged)) return 'is inconclusive: training diverged in every run (final MSE not finite)';
  const some = result.runs.some(diverged) ? ' (some runs diverged)' : '';
  const decided = winners.filter((w) => w !== null);
  if (decided.length === 0) return `is inconclusive: neither net got there first on any task${some}`;
  const where = decided.length === winners.length ? 'on every task' : `on ${decided.length} of ${winners.length} tasks and cannot tell on the others`;
  if (decided.every((w) => w === 'residual')) return `supports the claim ${where}${some}`;
  if (decided.every((w) => w === 'plain')) return `contradicts the claim ${where}${some}`;
  return `gives a mixed answer${some}`;
}

/**
 * The report's findings, said plainly: per task which net reached the target first and whether that
 * supports the title, then what the initialisation scale means for the comparison.
 */
export function identityFindings(result: IdentityResult): string[] {
  const { dims, steps, initScale } = result.options;
  const tasks = dims.map((d) => result.summary.find((s) => s.d === d)!.task);
  const said = (task: string, net: IdentityNet) => {
    const r = reachOf(result, task, net);
    return (
      (r.reached === r.seeds
        ? `${fmtNum(r.meanSteps)} steps`
        : `${r.reached ? `${r.reached}/${r.seeds} seeds within ${steps} steps (mean ${fmtNum(r.meanSteps)})` : `not reached in ${steps} steps`}`) + divergedNote(r)
    );
  };
  const winners = tasks.map((t) => identityWinner(result, t));
  const lines = tasks.map((t, i) => {
    const w = winners[i];
    const verdict =
      w === 'residual'
        ? 'the residual layers (pushing W to zero) got there first: supports the title'
        : w === 'plain'
          ? 'the plain layers (fitting W = I) got there first: does **not** support the title'
          : reachOf(result, t, 'plain').reached + reachOf(result, t, 'residual').reached === 0
            ? 'neither net reached the threshold: inconclusive'
            : (stepsNoise(reachOf(result, t, 'plain'), reachOf(result, t, 'residual')) ?? 'neither net got there first');
    return `- ${t}: residual ${said(t, 'residual')}, plain ${said(t, 'plain')} — ${verdict}.`;
  });
  const all = headline(result, winners);
  const init = result.summary.find((s) => s.net === 'residual')!.init;
  const scale =
    initScale >= 0.5
      ? `At this initialisation (Kaiming-normal × ${initScale}) the residual branches start as far from zero (‖W‖/‖I‖ = ${fmtNum(init.relWeightNorm)}) as the plain layers from the identity: ` +
        'the residual form has no head start, so the premise of the claim (a residual near zero is easy to reach) is not what this run tests; with small initial weights (`--init-scale 0.1`, the default) the branches start near zero.'
      : `Here the extra layers start small (Kaiming-normal × ${initScale}; residual branches ‖W‖/‖I‖ = ${fmtNum(init.relWeightNorm)}): each residual layer starts near the identity map, each plain layer near the zero map. ` +
        'That head start is the claim; with full-scale Kaiming weights (`--init-scale 1`) the branches start far from zero and the comparison changes.';
  return [`**Finding:** this run ${all} (which net first reaches a training MSE below ${result.options.threshold}; means over seeds):`, '', ...lines, '', scale];
}

/** The report's text: the setup, the results table, one line per task, the metrics at initialisation. */
export function identityBody(result: IdentityResult): string {
  const { extraLayers, initScale, optimizer, lr, samples, seeds, threshold, steps } = result.options;
  const { summary } = result;
  const fmtSteps = (s: IdentitySummary) =>
    (s.meanStepsToThreshold === null ? `not reached in ${steps} (${s.reached}/${s.seeds} seeds reached)` : fmtNum(s.meanStepsToThreshold)) +
    divergedNote(reachOf(result, s.task, s.net));
  return [
    `Target that two layers can represent, learned through ${extraLayers + 2} layers (input layer of width w, ${extraLayers} extra hidden layers, linear output). ` +
      `Plain extra layer: \`h ← relu(W h + b)\` (must learn W = I). Residual: \`h ← relu(h + W h + b)\` (must learn W = 0). ` +
      `Same ${initScale === 1 ? 'Kaiming-normal initialisation' : `initialisation (Kaiming-normal, extra layers' weights × ${initScale})`}, data and ${optimizer} (lr ${lr}, full batch of ${samples} points) for both; ${seeds} seed${seeds === 1 ? '' : 's'}; MSE threshold ${threshold}.`,
    '',
    mdTable(
      ['task', 'w', 'net', `steps to MSE < ${threshold} (mean)`, 'test MSE', '‖W − I‖/‖I‖', '‖W‖/‖I‖', '‖W h + b‖/‖h‖', '‖layer(h) − h‖/‖h‖'],
      summary.map((s) => [
        s.task,
        s.width,
        s.net,
        fmtSteps(s),
        s.meanTestMse,
        s.meanRelDistToIdentity,
        s.meanRelWeightNorm,
        s.meanRelBranchOutput,
        s.meanRelChange,
      ]),
    ),
    '',
    ...identityFindings(result),
    '',
    ...taskLines(result),
    '',
    'The same layer metrics at initialisation (identical weights for both nets; the activations differ):',
    '',
    mdTable(
      ['task', 'net', '‖W − I‖/‖I‖', '‖W‖/‖I‖', '‖W h + b‖/‖h‖', '‖layer(h) − h‖/‖h‖'],
      summary.map((s) => [s.task, s.net, s.init.relDistToIdentity, s.init.relWeightNorm, s.init.relBranchOutput, s.init.relChange]),
    ),
    '',
    "The metrics are means over the extra layers and seeds. The closeness measure is ‖W − I‖/‖I‖ for the plain net (distance of the extra layers from the identity) " +
      'and ‖W‖/‖I‖ for the residual net (distance of the residual branches from zero); ‖W h + b‖/‖h‖ is the relative output of the residual branch on test inputs ' +
      "(for the plain net the same pre-activation ratio, which is ≈ 1 when the layer is the identity). ‖layer(h) − h‖/‖h‖ says how far each extra layer's action is from the identity, for both nets.",
  ].join('\n');
}
