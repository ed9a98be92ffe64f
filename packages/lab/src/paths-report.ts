/**
 * The path-length study's report (see paths.ts): the plots, where most of the gradient comes from said
 * in words next to Veit et al.'s (ResNet-110, 54 blocks: paths of length 5-17 carry almost all of it),
 * and the table per length.
 */
import { lineChart } from '@resnet-ts/plot';
import { pathCounts, type PathsResult } from './paths.js';
import { fmtNum, mdTable } from './report.js';

/** The path-length distribution next to each length's share of the gradient, and the gradient magnitude per length (log-y). */
export function pathsPlots(result: PathsResult): Record<string, string> {
  const { n, pathFractions: fractions, lengths, totalGradientShare, meanMagnitude, stdMagnitude } = result;
  return {
    'path-lengths.svg': lineChart(
      [
        { name: 'fraction of paths (Binomial(n, 1/2))', x: fractions.map((_, k) => k), y: fractions, markers: true },
        { name: 'fraction of total gradient', x: lengths, y: totalGradientShare, dash: 'dashed', markers: true },
      ],
      {
        title: `Path lengths of ${n} blocks (2^${n} paths)`,
        xLabel: 'path length k (residual branches on the path)',
        yLabel: 'fraction',
      },
    ),
    'gradient-magnitude.svg': lineChart(
      [{ name: 'mean gradient norm of one path of length k', x: lengths, y: meanMagnitude, err: stdMagnitude, markers: true }],
      {
        title: 'Gradient magnitude per path length (Veit et al. sampling)',
        xLabel: 'path length k',
        yLabel: '‖∂L/∂h0‖',
        logY: true,
      },
    ),
  };
}

/** The report's text: the method, where most of the gradient comes from, the magnitude trend and the table per length. */
export function pathsBody(result: PathsResult, share: number): string {
  const {
    description,
    n,
    samples,
    mode,
    dominant,
    fullGradientNorm,
    lengths,
    meanMagnitude,
    stdMagnitude,
    totalGradient,
    totalGradientShare,
  } = result;
  const fractions = result.pathFractions;
  const counts = pathCounts(n);
  const how =
    mode === 'path'
      ? 'in the k sampled blocks the gradient flows only through the residual branch, in the others only through the skip (Veit et al.: the gradient of one path of length exactly k)'
      : 'in the k sampled blocks the gradient flows through branch and skip, in the others only through the skip (the gradient of all paths within the k sampled branches; "total" then over-counts)';
  // The shares are of the sampled lengths' gradient: with some lengths left out they say nothing of where
  // most of the whole gradient comes from.
  const { everyLength } = result;
  const where = everyLength
    ? [
        `**${fmtNum(share * 100)} % of the total gradient comes from paths of length ${dominant.lo}–${dominant.hi}** (${fmtNum(dominant.share * 100)} % in that range), which are ${fmtNum(dominant.pathFraction * 100)} % of all paths. ` +
          `Full gradient norm (all branches): ${fmtNum(fullGradientNorm)}.`,
        '',
        magnitudeTrend(lengths, meanMagnitude, n),
        '',
        veitComparison(dominant, n, share),
      ]
    : [
        `Only lengths ${lengths.join(', ')} of 0–${n} were sampled (--lengths): the shares below are of the gradient of those lengths alone, ` +
          `so where most of the whole gradient comes from, and how that compares with Veit et al., is not measured here (leave out --lengths to sample every length). ` +
          `Full gradient norm (all branches): ${fmtNum(fullGradientNorm)}.`,
        '',
        magnitudeTrend(lengths, meanMagnitude, n),
      ];
  return [
    `${description}: n = ${n} blocks, 2^${n} = ${(2n ** BigInt(n)).toString()} paths. Gradient sampled with ${samples} random sets of k blocks per length on ${result.inputs} inputs, eval mode: ` +
      `${how}. Detaching uses \`tf.customGrad\` (forward values unchanged). Magnitude: norm of ∂L/∂(input of the first block) per input, L = summed cross-entropy.`,
    '',
    ...where,
    '',
    mdTable(
      [
        'k',
        'paths C(n,k)',
        'fraction of paths',
        'mean ‖grad‖ per path',
        'std',
        'total (× C(n,k))',
        everyLength ? 'share of total' : 'share of the sampled lengths',
      ],
      lengths.map((k, i) => [
        k,
        counts[k].toString(),
        fractions[k],
        meanMagnitude[i],
        stdMagnitude[i],
        totalGradient[i],
        totalGradientShare[i],
      ]),
    ),
  ].join('\n');
}

/**
 * One sentence on how the gradient of a single path changes with its length, from a least-squares
 * fit of log(magnitude) against k: Veit et al. found it falls exponentially (ResNet-110, 54 blocks).
 */
export function magnitudeTrend(lengths: number[], meanMagnitude: number[], n?: number): string {
  const pts = lengths.map((k, i) => [k, meanMagnitude[i]]).filter(([, m]) => m > 0 && Number.isFinite(m));
  if (pts.length < 2) return 'Too few non-zero magnitudes to fit a trend.';
  const mx = pts.reduce((s, [k]) => s + k, 0) / pts.length;
  const my = pts.reduce((s, [, m]) => s + Math.log(m), 0) / pts.length;
  const slope = pts.reduce((s, [k, m]) => s + (k - mx) * (Math.log(m) - my), 0) / pts.reduce((s, [k]) => s + (k - mx) ** 2, 0);
  const factor = Math.exp(slope);
  const direction =
    factor < 0.95
      ? 'falls with the path length, as Veit et al. found for ResNet-110'
      : factor > 1.05
        ? `grows with the path length, unlike Veit et al.'s ResNet-110 (54 blocks), where it falls exponentially: ${n !== undefined && n < 54 ? 'in this shallower net ' : ''}each residual branch amplifies the gradient it carries`
        : 'stays about the same across path lengths';
  return `The gradient of one path ${direction} (fit: × ${fmtNum(factor)} per extra residual branch on the path).`;
}

/** Veit et al.'s effective paths in ResNet-110 (54 blocks): lengths 5-17 carry almost all the gradient and are 0.45 % of all paths. */
export const VEIT_EFFECTIVE = { n: 54, lo: 5, hi: 17, pathPercent: 0.45 };

/**
 * One sentence comparing the lengths that carry `share` of the gradient here with Veit et al.'s
 * effective range 5-17 of 54 (scaled to n blocks when n is not 54), and how much the two overlap.
 */
export function veitComparison(dominant: { lo: number; hi: number; pathFraction: number }, n: number, share = 0.9): string {
  const v = VEIT_EFFECTIVE;
  const lo = n === v.n ? v.lo : Math.round((v.lo / v.n) * n);
  const hi = n === v.n ? v.hi : Math.round((v.hi / v.n) * n);
  const inter = Math.max(0, Math.min(hi, dominant.hi) - Math.max(lo, dominant.lo) + 1);
  const union = Math.max(hi, dominant.hi) - Math.min(lo, dominant.lo) + 1;
  const jaccard = inter / union;
  const verdict =
    jaccard >= 0.6
      ? 'about the same range'
      : inter > 0
        ? `a partly overlapping range (${inter} of the ${union} lengths in either are in both), ${dominant.lo + dominant.hi > lo + hi ? 'longer' : 'shorter'} on the whole`
        : `a different range: ${dominant.lo > hi ? 'longer' : 'shorter'} paths`;
  const theirs = n === v.n ? `${lo}–${hi}` : `${v.lo}–${v.hi} of ${v.n}, i.e. about ${lo}–${hi} of ${n} scaled to this depth`;
  return (
    `Veit et al. (ResNet-110 on CIFAR-10, ${v.n} blocks): almost all the gradient comes from paths of length ${v.lo}–${v.hi}, only ${v.pathPercent} % of all paths. ` +
    `Here ${fmtNum(share * 100)} % comes from lengths ${dominant.lo}–${dominant.hi} (${fmtNum(dominant.pathFraction * 100)} % of all paths) against Veit's ${theirs}: ${verdict}.`
  );
}
