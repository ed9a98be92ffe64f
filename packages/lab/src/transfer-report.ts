/** The transfer experiment's result types, its summary and findings, its report text and its plot (see transfer.ts). */
import { barChart } from '@resnet-ts/plot';
import type { FreezeSpec } from '@resnet-ts/train';
import { meanStd } from './experiment.js';
import { compareErrors, noVerdictReason } from './evidence.js';
import { mdTable, pct } from './report.js';
import { fmtDuration } from './training.js';

/** One of the four ways to start and train. */
export interface TransferCondition {
  init: 'pretrained' | 'scratch';
  freeze: Extract<FreezeSpec, 'none' | 'backbone'>;
}

/** One fine-tuning run. */
export interface TransferRun extends TransferCondition {
  seed: number;
  /** Top-1 on the new classes' test images (non-finite outputs count as wrong). */
  top1: number;
  /** Mean cross-entropy on those images. */
  testLoss: number;
  testImages: number;
  /** The new classes' test images before --test-limit (absent in runs stored by older versions). */
  testImagesAll?: number;
  trainImages: number;
  stopped: string;
  /** Largest absolute change of any backbone parameter or batch-norm running statistic (everything but `fc.*`; not the step counter num_batches_tracked) during fine-tuning: 0 when frozen. */
  backboneMaxChange: number;
  seconds: number;
}

/** What the experiment measured. */
export interface TransferResult {
  data: string;
  sourceClasses: string[];
  targetClasses: string[];
  perClass: number;
  seeds: number[];
  depth: number;
  recipe: { pretrain: Record<string, number>; finetune: Record<string, number> };
  pretrain: { trainImages: number; epochs: number; sourceTop1?: number; seconds: number; imagesPerSec: number; stopped: string };
  runs: TransferRun[];
  /** Per condition: mean and sample std of top-1 over the seeds. */
  summary: (TransferCondition & { label: string; mean: number; std: number; meanLoss: number; n: number })[];
}

/** The four conditions, in report order. */
export const TRANSFER_CONDITIONS: TransferCondition[] = [
  { init: 'pretrained', freeze: 'none' },
  { init: 'pretrained', freeze: 'backbone' },
  { init: 'scratch', freeze: 'none' },
  { init: 'scratch', freeze: 'backbone' },
];

/** `pretrained, full fine-tune` and so on. */
export const conditionLabel = (c: TransferCondition) => `${c.init}, ${c.freeze === 'none' ? 'full fine-tune' : 'frozen backbone'}`;

/** Mean ± std of top-1 per condition over the seeds. */
export function summarize(runs: TransferRun[]): TransferResult['summary'] {
  return TRANSFER_CONDITIONS.map((c) => {
    const v = runs.filter((x) => x.init === c.init && x.freeze === c.freeze).map((x) => x.top1);
    const losses = runs.filter((x) => x.init === c.init && x.freeze === c.freeze).map((x) => x.testLoss);
    return { ...c, label: conditionLabel(c), ...meanStd(v), meanLoss: meanStd(losses).mean, n: v.length };
  });
}

/** `± 1.23 points`, or no spread with one seed (a single run is not zero-variance). */
const spreadText = (c: { std: number; n: number }, unit: string) => (c.n >= 2 ? `± ${(100 * c.std).toFixed(2)}${unit}` : '(one seed: no spread)');

/** The findings in words: what pretraining did, with the seed-to-seed spread next to it (the rule: evidence.ts). */
export function findings(s: TransferResult['summary'], o: { classes: number; testImages: number }): string[] {
  const get = (init: string, freeze: string) => s.find((x) => x.init === init && x.freeze === freeze)!;
  const pts = (v: number) => `${(100 * v).toFixed(2)} points`;
  return (['none', 'backbone'] as const).map((freeze) => {
    const p = get('pretrained', freeze);
    const z = get('scratch', freeze);
    const gap = p.mean - z.mean;
    const sample = (c: typeof p) => ({ error: 1 - c.mean, spread: c.std, images: o.testImages });
    const e = compareErrors(sample(p), sample(z), { classes: o.classes, seeds: Math.min(p.n, z.n), needSpread: true });
    const verdict = e.kind === 'a-lower' ? 'pretraining helped' : e.kind === 'b-lower' ? 'pretraining hurt' : noVerdictReason(e);
    return `- ${freeze === 'none' ? 'Full fine-tuning' : 'Frozen backbone (only the new head trains)'}: pretrained ${pct(p.mean)} ${spreadText(p, ' points')} vs scratch ${pct(z.mean)} ${spreadText(z, ' points')}, a difference of ${gap >= 0 ? '+' : ''}${pts(gap)}: ${verdict}.`;
  });
}

/** Which test images were scored: all of the new classes', or the first n of them (--test-limit). */
function scoredSentence(runs: TransferRun[]): string {
  const n = runs[0]?.testImages ?? 0;
  const all = runs[0]?.testImagesAll;
  if (all === undefined) return `Scored on ${n} test images of the new classes.`;
  return n < all ? `Scored on the first ${n} of the ${all} test images of the new classes (--test-limit).` : `Scored on all ${n} test images of the new classes.`;
}

function frozenSentence(runs: TransferRun[]): string {
  const frozen = Math.max(0, ...runs.filter((x) => x.freeze === 'backbone').map((x) => x.backboneMaxChange));
  const full = runs.filter((x) => x.freeze === 'none').map((x) => x.backboneMaxChange);
  return (
    `Backbone weights and batch-norm statistics changed by at most ${frozen} in the frozen runs` +
    (frozen === 0 ? ' (the freeze held exactly)' : ' (THE FREEZE DID NOT HOLD)') +
    (full.length ? ` and by up to ${Math.max(...full).toPrecision(3)} in the fully fine-tuned ones.` : '.')
  );
}

/** The report's text: the setup, the table of conditions x seeds, the findings, the freeze check and the time taken. */
export function reportBody(result: TransferResult, pretrainTestImages: number): string {
  const ft = result.recipe.finetune;
  const pre = result.pretrain;
  return [
    `Pretrain a ResNet-${result.depth} (CIFAR layout, option A) on ${result.sourceClasses.length} classes of ${result.data} (${result.sourceClasses.join(', ')}; ${pre.trainImages} images, ${pre.epochs} epochs` +
      `${pre.sourceTop1 !== undefined ? `, ${pct(pre.sourceTop1)} top-1 on ${pretrainTestImages} of their test images` : ''}), ` +
      `then fine-tune on the other ${result.targetClasses.length} (${result.targetClasses.join(', ')}) from ${result.perClass} labelled images per class. ` +
      `Scratch runs start from a fresh initialisation; frozen runs train only the new head (the backbone's parameters get no gradient and its batch norms keep their statistics). ` +
      `Every run: SGD momentum 0.9, weight decay ${ft.weightDecay}, batch ${ft.batch}, ${ft.epochs} epochs, lr ${ft.lr} divided by 10 at 50 % and 75 %, pad-4 crop + flip, the pretraining's normalisation. ` +
      `Seeds ${result.seeds.join(', ')}: each draws its own few-shot sample, head initialisation and batch order (the same sample for every condition of a seed). ` +
      scoredSentence(result.runs),
    '',
    mdTable(
      ['condition', 'top-1 (mean ± std)', 'test loss (mean)', ...result.seeds.map((s) => `seed ${s}`)],
      result.summary.map((c) => [
        c.label,
        `${pct(c.mean)} ${spreadText(c, '')}`,
        c.meanLoss.toFixed(4),
        ...result.seeds.map((s) => pct(result.runs.find((x) => x.init === c.init && x.freeze === c.freeze && x.seed === s)?.top1 ?? NaN)),
      ]),
    ),
    '',
    ...findings(result.summary, { classes: result.targetClasses.length, testImages: result.runs[0]?.testImages ?? 0 }),
    '',
    `${frozenSentence(result.runs)} ` +
      `Pretraining took ${fmtDuration(pre.seconds)} (${pre.imagesPerSec.toFixed(0)} images/s including its per-epoch evaluation); the ${result.runs.length} fine-tuning runs ${fmtDuration(result.runs.reduce((s, x) => s + x.seconds, 0))} in all.`,
  ].join('\n');
}


/** Mean top-1 per condition with ± std whiskers, next to each seed's run. */
export function accuracyPlot(result: TransferResult): string {
  const { summary, runs, seeds } = result;
  return barChart(
    summary.map((s) => s.label),
    [
      { name: 'mean top-1 (%)', values: summary.map((s) => 100 * s.mean), err: summary.map((s) => 100 * s.std) },
      ...seeds.map((seed, i) => ({
        name: `seed ${seed}`,
        values: summary.map((s) => 100 * (runs.find((x) => x.init === s.init && x.freeze === s.freeze && x.seed === seed)?.top1 ?? NaN)),
        color: ['#bbb', '#999', '#777', '#555'][i % 4],
      })),
    ],
    { title: `Transfer to ${result.targetClasses.length} new classes, ${result.perClass} images each (${result.data})`, yLabel: 'top-1 on the new classes (%)', yMin: 0 },
  );
}
