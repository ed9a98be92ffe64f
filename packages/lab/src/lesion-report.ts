/**
 * The lesion study's report (see lesion.ts): the plots, the findings said in words next to Veit et
 * al.'s (ResNet-110, 54 blocks: single deletions barely matter except at downsampling, the error
 * grows smoothly with the number of deleted blocks, reordering hurts little), and the tables.
 */
import { barChart, lineChart } from '@resnet-ts/plot';
import { meanStd } from './experiment.js';
import type { LesionResult, NetLesion } from './lesion.js';
import { fmtNum, mdTable, pct } from './report.js';

const COLORS = ['#1f77b4', '#d62728'];
const SWAP_COLORS = ['#2ca02c', '#ff7f0e'];

/** Bar charts of single deletions (one chart when the nets have the same blocks, else one per net) and the error against k deleted blocks / swapped pairs. */
export function lesionPlots(nets: NetLesion[]): Record<string, string> {
  const dashOf = (n: NetLesion) => (n.residual ? ('solid' as const) : ('dashed' as const));
  const sameBlocks = nets.every((n) => n.blocks.join() === nets[0].blocks.join());
  const bars = (group: NetLesion[], title: string) =>
    barChart(
      group[0].blocks,
      group.map((n) => ({ name: `${n.name}: block deleted`, values: n.single })),
      {
        title,
        xLabel: 'deleted block',
        yLabel: 'top-1 error',
        refLines: group.map((n) => ({ name: `${n.name} baseline`, value: n.baseline, color: COLORS[nets.indexOf(n) % 2] })),
      },
    );
  const blockPlots: Record<string, string> = sameBlocks
    ? { 'error-vs-block.svg': bars(nets, 'Test error when one block is deleted') }
    : Object.fromEntries(
        nets.map((n, i) => [
          i === 0 ? 'error-vs-block.svg' : `error-vs-block-${n.name}.svg`,
          bars([n], `${n.name} (${n.blocks.length} blocks): test error when one block is deleted`),
        ]),
      );
  return {
    ...blockPlots,
    'error-vs-k.svg': lineChart(
      [
        ...nets.map((n, i) => ({
          name: `${n.name}: delete k blocks`,
          x: [0, ...n.randomK.map((r) => r.k)],
          y: [n.baseline, ...n.randomK.map((r) => r.mean)],
          err: [0, ...n.randomK.map((r) => r.std)],
          dash: dashOf(n),
          color: COLORS[i % 2],
          markers: true,
        })),
        ...nets
          .filter((n) => n.swapK.length)
          .map((n, i) => ({
            name: `${n.name}: swap k pairs`,
            x: [0, ...n.swapK.map((r) => r.k)],
            y: [n.baseline, ...n.swapK.map((r) => r.mean)],
            err: [0, ...n.swapK.map((r) => r.std)],
            dash: 'dotted' as const,
            color: SWAP_COLORS[i % 2],
            markers: true,
          })),
      ],
      { title: 'Test error vs number of deleted blocks / swapped pairs', xLabel: 'k', yLabel: 'top-1 error', yMin: 0 },
    ),
  };
}

const points = (v: number) => `${(100 * v).toFixed(1)} points`;

/** What the single deletions of one net did: median error, how many cost at most 2 / 5 points, the costliest blocks. */
function singleSentence(n: NetLesion): string {
  const idx = n.deletable;
  const errs = idx.map((i) => n.single[i]);
  if (!errs.length) return `- ${n.name}: no block can be deleted.`;
  const sorted = [...errs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const within = (p: number) => errs.filter((e) => e - n.baseline <= p).length;
  const worst = [...idx].sort((a, b) => n.single[b] - n.single[a]).slice(0, 3);
  const down = (i: number) => (n.residual && !n.swappable.includes(i) ? ' (downsampling)' : '');
  return (
    `- ${n.name} (baseline ${pct(n.baseline)}): one block deleted gives a median error of ${pct(median)}; ${within(0.02)} of ${errs.length} deletions cost at most 2 points, ` +
    `${within(0.05)} at most 5; the costliest: ${worst.map((i) => `${n.blocks[i]} ${pct(n.single[i])}${down(i)}`).join(', ')}.`
  );
}

/** How the error grows with k random deletions (or swaps): first and last k, and the largest jump between consecutive k. */
function growthSentence(n: NetLesion, rows: { k: number; mean: number; std: number }[], what: string): string {
  if (!rows.length) return '';
  const first = rows[0];
  const last = rows[rows.length - 1];
  const steps = rows.map((r, i) => ({ k: r.k, rise: r.mean - (i ? rows[i - 1].mean : n.baseline) }));
  const jump = steps.reduce((a, b) => (b.rise > a.rise ? b : a));
  const total = last.mean - n.baseline;
  const smooth = total > 0 && jump.rise <= total / 3;
  return (
    `- ${n.name}, ${what}: ${pct(first.mean)} at k = ${first.k} → ${pct(last.mean)} at k = ${last.k} (baseline ${pct(n.baseline)}); ` +
    (total > 0
      ? `the largest rise between consecutive k is ${points(jump.rise)} (to k = ${jump.k}) of ${points(total)} in all: ` +
        `${smooth ? 'a smooth rise' : 'not smooth: one step carries more than a third of the rise'}.`
      : `no rise from the baseline to k = ${last.k}${jump.rise > 0 ? `, though one step rises ${points(jump.rise)} (to k = ${jump.k}): no steady trend` : ''}.`)
  );
}

/**
 * Where the deletions that cost more than 5 points sit, by stage and whether they downsample: Veit
 * et al. found only the downsampling blocks costly, so a report must say when ours differ.
 */
function costlySentence(n: NetLesion): string {
  const costly = n.deletable.filter((i) => n.single[i] - n.baseline > 0.05);
  if (!costly.length) return ' No single deletion costs more than 5 points.';
  const byStage = new Map<string, number>();
  for (const i of costly) {
    const stage = n.blocks[i].split('.')[0];
    byStage.set(stage, (byStage.get(stage) ?? 0) + 1);
  }
  const down = costly.filter((i) => !n.swappable.includes(i)).length;
  const stages = [...byStage].map(([stage, count]) => `${count} in ${stage}`).join(', ');
  const others = costly.length - down;
  const verdict =
    down === costly.length
      ? 'as in Veit et al., only downsampling blocks are costly'
      : down === 0
        ? `unlike Veit et al., ${costly.length === 1 ? 'it does not downsample' : 'none of them downsamples'}`
        : `unlike Veit et al., ${others} of them ${others === 1 ? 'does' : 'do'} not downsample`;
  const deletions = costly.length === 1 ? 'The 1 deletion that costs' : `The ${costly.length} deletions that cost`;
  return ` ${deletions} more than 5 points: ${stages}; ${down} of them downsampling blocks (${verdict}).`;
}

/** The findings, from the numbers, and how they compare with Veit et al.'s on ResNet-110. */
export function lesionFindings(result: LesionResult): string[] {
  const [res, plain] = result.nets;
  const lines = ['**Findings.**', ''];
  for (const n of result.nets) {
    lines.push(singleSentence(n));
    lines.push(growthSentence(n, n.randomK, 'k random blocks deleted'));
    if (n.swapK.length) lines.push(growthSentence(n, n.swapK, 'k random pairs of like blocks swapped'));
  }
  if (res.residual) {
    const costs = res.deletable.map((i) => res.single[i] - res.baseline).sort((a, b) => a - b);
    const medianCost = costs[Math.floor(costs.length / 2)];
    const plainMin = plain ? Math.min(...plain.deletable.map((i) => plain.single[i])) : NaN;
    lines.push(
      '',
      `Veit et al. (ResNet-110 on CIFAR-10, 54 blocks): deleting any single block barely changes the error except at the downsampling blocks, while a plain net collapses. ` +
        `Here the median single deletion costs ${points(medianCost)}: ${medianCost <= 0.02 ? 'the same picture' : medianCost <= 0.05 ? 'close to it (a few points)' : 'unlike Veit et al., a typical deletion hurts'}` +
        (plain && Number.isFinite(plainMin)
          ? `; the plain net's least harmful deletion still gives ${pct(plainMin)} (baseline ${pct(plain.baseline)}).`
          : '.') +
        costlySentence(res),
    );
  }
  return lines.filter((l, i) => l !== '' || lines[i - 1] !== '');
}

/** The k columns of the summary table: 1, 5, 10, 20 where some net reaches them, and the largest k measured. */
function summaryKs(nets: NetLesion[]): number[] {
  const kMax = Math.max(...nets.map((n) => n.randomK.length));
  return [...new Set([...[1, 5, 10, 20].filter((k) => k <= kMax), kMax])].filter((k) => k >= 1).sort((a, b) => a - b);
}

/** The report's text: the setup, one summary row per net, the findings, and per net the error of each single deletion and of the swaps. */
export function lesionBody(result: LesionResult): string {
  const { description, testImages: N, samples, nets } = result;
  const ks = summaryKs(nets);
  return [
    `${description}, ${N} test images; ${samples} random samples per k. Deleting a block removes its residual branch at test time (\`branchEnabled = false\`: ` +
      'the block computes relu(shortcut(x)); a downsampling block keeps its shortcut path). In a plain net only blocks that preserve the shape can be removed (they become the identity).',
    '',
    mdTable(
      [
        'net',
        'blocks',
        'baseline error',
        'deletable blocks',
        'mean error, one block deleted',
        'worst single deletion',
        `error, k = ${ks.join(' / ')} random deletions`,
      ],
      nets.map((n) => {
        const fin = n.single.filter(Number.isFinite);
        const worst = fin.length ? Math.max(...fin) : NaN;
        const at = (k: number) => (n.randomK[k - 1] ? pct(n.randomK[k - 1].mean) : `- (${n.deletable.length} deletable)`);
        return [
          n.name,
          n.blocks.length,
          pct(n.baseline),
          `${n.deletable.length} of ${n.blocks.length}`,
          pct(meanStd(fin).mean),
          `${pct(worst)} (${n.blocks[n.single.indexOf(worst)] ?? '-'})`,
          ks.map(at).join(' / '),
        ];
      }),
    ),
    '',
    ...lesionFindings(result),
    '',
    ...nets.map((n) =>
      [
        `### ${n.name}: one block deleted`,
        '',
        mdTable(
          ['block', 'error'],
          n.blocks.map((b, i) => [b, Number.isFinite(n.single[i]) ? pct(n.single[i]) : 'cannot delete (changes shape)']),
        ),
        '',
        n.swapK.length
          ? `Swapping k distinct random pairs of like blocks (${n.swappable.length} swappable blocks, ${n.swapPairs} pairs): ` +
            n.swapK.map((r) => `k=${r.k}: ${pct(r.mean)} ± ${fmtNum(r.std * 100)}`).join(', ')
          : '',
        '',
      ].join('\n'),
    ),
  ].join('\n');
}
