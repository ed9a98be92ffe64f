/**
 * The gradient-flow results (see gradflow.ts): what was measured, the plots, and the findings generated from the
 * measurements (no fixed text about the outcome).
 */
import { PALETTE, Series, lineChart } from '@resnet-ts/plot';
import { GRADFLOW_SETTINGS, GradFlowSetting } from './gradflow-measure.js';
import { fmtNum, mdTable } from './report.js';
import { fmtDuration, stoppedText } from './training.js';

/** One net measured at one point of its training. */
export interface GradFlowMeasurement {
  /** `plain56`, `resnet56`. */
  net: string;
  family: 'plain' | 'resnet';
  depth: number;
  setting: GradFlowSetting;
  /** SGD steps taken before measuring (0: initialisation). */
  step: number;
  /** Mean loss over the measurement batches. */
  loss: number;
  /** Mean ‖∂L/∂W‖ per conv/linear layer, in depth order (layer 1 = stem conv, last = classifier). */
  layers: number[];
  /** Mean ‖∂L/∂h_i‖ per block input. */
  blockInputs: number[];
  firstLayer: number;
  lastLayer: number;
  /** firstLayer / lastLayer. */
  ratio: number;
  /** First block input / last block input. */
  blockRatio: number;
  /** Entries of `layers` and `blockInputs` that are inf or NaN, and that are exactly zero (a log plot drops both). */
  nonFinite: number;
  zeros: number;
}

/** How one net's training went. */
export interface GradFlowNet {
  net: string;
  family: 'plain' | 'resnet';
  depth: number;
  setting: GradFlowSetting;
  batchNorm: boolean;
  zeroInitResidual: boolean;
  params: number;
  /** Dotted names of the measured weights, in depth order. */
  layerNames: string[];
  /** SGD steps actually taken. */
  trainedSteps: number;
  stopped: 'done' | 'nan' | 'aborted';
  message?: string;
  seconds: number;
  /** Set when this net is identical to one measured under another setting and its numbers were reused. */
  sharedWith?: GradFlowSetting;
}

/** Everything `gradflow` measured. */
export interface GradFlowResult {
  data: string;
  depths: number[];
  settings: GradFlowSetting[];
  steps: number[];
  batches: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  training: boolean;
  /** The duration estimated before starting, in seconds. */
  estimatedSeconds: number;
  nets: GradFlowNet[];
  measurements: GradFlowMeasurement[];
  /** The report's conclusions, generated from the numbers. */
  findings: string[];
}

const netLabel = (m: { family: 'plain' | 'resnet'; depth: number }) => `${m.family === 'plain' ? 'plain' : 'ResNet'}-${m.depth}`;

/** Plots: per setting and measured step, one figure of ‖∂L/∂W‖ per layer and one of ‖∂L/∂h‖ per block input. */
export function gradFlowPlots(r: GradFlowResult): {
  svgs: Record<string, string>;
  dropped: { file: string; net: string; count: number }[];
} {
  const svgs: Record<string, string> = {};
  const dropped: { file: string; net: string; count: number }[] = [];
  for (const setting of r.settings) {
    for (const step of r.steps) {
      const ms = r.measurements.filter((m) => m.setting === setting && m.step === step);
      if (ms.length === 0) continue;
      const when = step === 0 ? 'at initialisation' : `after ${step} SGD steps`;
      for (const kind of ['weights', 'inputs'] as const) {
        const file = `${setting}-${kind}-step${step}.svg`;
        const series: Series[] = ms.map((m) => {
          const y = kind === 'weights' ? m.layers : m.blockInputs;
          const bad = y.filter((v) => !(Number.isFinite(v) && v > 0)).length;
          if (bad) dropped.push({ file, net: netLabel(m), count: bad });
          return {
            name: `${netLabel(m)}${bad ? ` (${bad} of ${y.length} values non-finite or 0, not drawn)` : ''}`,
            x: y.map((_, i) => i + 1),
            y: y.map((v) => (Number.isFinite(v) && v > 0 ? v : NaN)),
            color: PALETTE[r.depths.indexOf(m.depth) % PALETTE.length],
            dash: m.family === 'plain' ? ('dashed' as const) : ('solid' as const),
            markers: y.length <= 60,
          };
        });
        svgs[file] = lineChart(series, {
          title: `${kind === 'weights' ? '‖∂L/∂W‖ per layer' : '‖∂L/∂h‖ per block input'}, ${GRADFLOW_SETTINGS[setting].label}, ${when}`,
          xLabel: kind === 'weights' ? 'layer (1 = first conv, last = classifier)' : 'block (1 = first block)',
          yLabel: kind === 'weights' ? 'gradient norm of the layer weights (log)' : 'gradient norm at the block input (log)',
          logY: true,
        });
      }
    }
  }
  return { svgs, dropped };
}

const fmtRatio = (v: number) => (Number.isFinite(v) ? fmtNum(v) : String(v));

/** How a first/last ratio reads: more than ten times smaller/larger is vanishing/exploding. */
export function describeRatio(ratio: number): 'vanishing' | 'exploding' | 'balanced' | 'undefined' {
  if (!Number.isFinite(ratio) || Number.isNaN(ratio)) return 'undefined';
  if (ratio < 0.1) return 'vanishing';
  if (ratio > 10) return 'exploding';
  return 'balanced';
}

/** What the findings are computed from. */
interface FindingsInput {
  measurements: GradFlowMeasurement[];
  nets: GradFlowNet[];
  depths: number[];
  settings: GradFlowSetting[];
  steps: number[];
  first: number;
  get: (setting: GradFlowSetting, family: 'plain' | 'resnet', depth: number, step: number) => GradFlowMeasurement | undefined;
}

const reading = (v: number) => {
  const d = describeRatio(v);
  return d === 'vanishing'
    ? 'the first layer gets less than a tenth of the last layer’s gradient (vanishing)'
    : d === 'exploding'
      ? 'the first layer gets more than ten times the last layer’s gradient (exploding)'
      : d === 'balanced'
        ? 'within a factor of ten (no vanishing or exploding)'
        : 'not a number: the gradients overflowed or became NaN';
};

/** The findings of one setting: first/last ratios per depth, how they change with depth and training, failures. */
function settingFindings(setting: GradFlowSetting, f: FindingsInput): string[] {
  const { measurements, nets, depths, steps, first, get } = f;
  const out: string[] = [];
  const label = GRADFLOW_SETTINGS[setting].label;
  const pairs = depths
    .map((d) => ({ d, p: get(setting, 'plain', d, first), r: get(setting, 'resnet', d, first) }))
    .filter((x) => x.p && x.r);
  if (pairs.length === 0) return out;
  const when = first === 0 ? 'at initialisation' : `after ${first} steps`;
  out.push(
    `**${label[0].toUpperCase()}${label.slice(1)}, ${when}**, first-layer/last-layer ratio of ‖∂L/∂W‖: ` +
      pairs.map(({ d, p, r }) => `plain-${d} ${fmtRatio(p!.ratio)} vs ResNet-${d} ${fmtRatio(r!.ratio)}`).join('; ') +
      '. Block inputs, first/last: ' +
      pairs.map(({ d, p, r }) => `plain-${d} ${fmtRatio(p!.blockRatio)} vs ResNet-${d} ${fmtRatio(r!.blockRatio)}`).join('; ') +
      '.',
  );
  const deep = pairs[pairs.length - 1];
  const shallow = pairs[0];
  for (const fam of ['plain', 'resnet'] as const) {
    const a = fam === 'plain' ? shallow.p! : shallow.r!;
    const b = fam === 'plain' ? deep.p! : deep.r!;
    const name = fam === 'plain' ? 'plain' : 'ResNet';
    out.push(
      `- ${name}-${deep.d}: ratio ${fmtRatio(b.ratio)}: ${reading(b.ratio)}` +
        (pairs.length > 1 && Number.isFinite(a.ratio) && Number.isFinite(b.ratio) && a.ratio > 0 && b.ratio > 0
          ? `; from ${name}-${shallow.d} to ${name}-${deep.d} the ratio changes by a factor ${fmtNum(b.ratio / a.ratio)}.`
          : '.'),
    );
  }
  const lastStep = steps[steps.length - 1];
  if (lastStep !== first) {
    const later = depths
      .map((d) => ({ d, p: get(setting, 'plain', d, lastStep), r: get(setting, 'resnet', d, lastStep) }))
      .filter((x) => x.p || x.r);
    if (later.length)
      out.push(
        `- After ${lastStep} SGD steps: ` +
          later
            .map(
              ({ d, p, r }) =>
                `plain-${d} ${p ? fmtRatio(p.ratio) : 'not reached'} vs ResNet-${d} ${r ? fmtRatio(r.ratio) : 'not reached'}`,
            )
            .join('; ') +
          '.',
      );
  }
  const failed = nets.filter((n) => n.setting === setting && n.stopped !== 'done');
  if (failed.length)
    out.push(
      `- Training diverged (loss inf/NaN) for ${failed.map((n) => `${netLabel(n)} at step ${n.trainedSteps + 1}`).join(', ')}: later measurements are missing.`,
    );
  const bad = measurements.filter((m) => m.setting === setting && m.nonFinite > 0);
  if (bad.length)
    out.push(
      `- Non-finite gradient norms (inf/NaN): ${bad.map((m) => `${netLabel(m)} step ${m.step} (${m.nonFinite} values)`).join(', ')}; they are left out of the plots.`,
    );
  return out;
}

/** The paper's claim, judged on the baseline with BN at the first measured step. */
function paperClaimFinding(f: FindingsInput): string[] {
  const { depths, settings, steps, first, get } = f;
  const out: string[] = [];
  const base = settings.includes('bn') ? 'bn' : settings.includes('zero-init') ? 'zero-init' : undefined;
  if (base) {
    const deepest = [...depths].reverse().find((d) => get(base, 'plain', d, first));
    const p = deepest !== undefined ? get(base, 'plain', deepest, first) : undefined;
    const r = deepest !== undefined ? get(base, 'resnet', deepest, first) : undefined;
    const lastStep = steps[steps.length - 1];
    const pl = deepest !== undefined && lastStep !== first ? get(base, 'plain', deepest, lastStep) : undefined;
    const rl = deepest !== undefined && lastStep !== first ? get(base, 'resnet', deepest, lastStep) : undefined;
    // Distance from 1 on a log scale; a ratio of 0 (the first layer's gradient underflowed) or inf is infinitely far.
    const distance = (v: number) => (v > 0 && Number.isFinite(v) ? Math.abs(Math.log10(v)) : Number.isNaN(v) ? NaN : Infinity);
    const closer = (a: number, b: number) => {
      const [da, db] = [distance(a), distance(b)];
      if (Number.isNaN(da) || Number.isNaN(db) || (da === Infinity && db === Infinity)) return 'not comparable with';
      return da < db ? 'closer to 1 than' : 'not closer to 1 than';
    };
    if (p && r) {
      const dp = describeRatio(p.ratio);
      const dbp = describeRatio(p.blockRatio);
      const verdict =
        dp === 'balanced' && dbp === 'balanced'
          ? `supports He et al.’s argument: with BN the deepest plain net’s gradient does not vanish (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)}), so vanishing gradients do not explain its degradation`
          : dp === 'vanishing' || dbp === 'vanishing'
            ? `does not support He et al.’s argument here: even with BN the gradient reaching plain-${deepest}'s first layers is more than ten times smaller (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)}) than at its last layers`
            : dp === 'exploding' || dbp === 'exploding'
              ? `qualifies He et al.’s argument: with BN the deepest plain net’s gradient does not vanish but grows towards the input (first/last ‖∂L/∂W‖ ${fmtRatio(p.ratio)}, block inputs ${fmtRatio(p.blockRatio)})`
              : `cannot judge He et al.’s argument: the deepest plain net’s gradient norms are not finite`;
      out.push(
        `**The paper’s claim.** Measured ${first === 0 ? 'at initialisation' : `after ${first} steps`} ${GRADFLOW_SETTINGS[base].label}, plain-${deepest} vs ResNet-${deepest} (ratio ${fmtRatio(p.ratio)} vs ${fmtRatio(r.ratio)}): this ${verdict}. ` +
          `The residual net’s ratio is ${closer(r.ratio, p.ratio)} the plain net’s.` +
          (pl && rl
            ? ` After ${lastStep} SGD steps: plain-${deepest} ${fmtRatio(pl.ratio)} (${describeRatio(pl.ratio)}), ResNet-${deepest} ${fmtRatio(rl.ratio)} (${describeRatio(rl.ratio)}): the residual net’s ratio is ${closer(rl.ratio, pl.ratio)} the plain net’s.`
            : '') +
          (pl && describeRatio(pl.ratio) === 'vanishing' && dp !== 'vanishing'
            ? ` **So the argument holds at initialisation only:** once training starts, plain-${deepest}’s gradient does vanish ${GRADFLOW_SETTINGS[base].label} (first/last ‖∂L/∂W‖ ${fmtRatio(pl.ratio)} after ${lastStep} steps).`
            : ''),
      );
    }
  }
  return out;
}

/** What the nets without BN show. */
function withoutBnFinding(f: FindingsInput): string[] {
  const { depths, settings, first, get } = f;
  const out: string[] = [];
  const nobn = settings.find((s) => !GRADFLOW_SETTINGS[s].batchNorm);
  if (nobn) {
    const deepest = [...depths].reverse().find((d) => get(nobn, 'plain', d, first));
    const p = deepest !== undefined ? get(nobn, 'plain', deepest, first) : undefined;
    const r = deepest !== undefined ? get(nobn, 'resnet', deepest, first) : undefined;
    if (p && r)
      out.push(
        `**What BN hides.** ${GRADFLOW_SETTINGS[nobn].label[0].toUpperCase()}${GRADFLOW_SETTINGS[nobn].label.slice(1)}, plain-${deepest}'s first/last ratio is ${fmtRatio(p.ratio)} (${describeRatio(p.ratio)}; block inputs ${fmtRatio(p.blockRatio)}, ${describeRatio(p.blockRatio)}), ` +
          `ResNet-${deepest}'s ${fmtRatio(r.ratio)} (${describeRatio(r.ratio)}; block inputs ${fmtRatio(r.blockRatio)}, ${describeRatio(r.blockRatio)}); ` +
          `loss at the first measurement ${fmtNum(p.loss)} (plain) and ${fmtNum(r.loss)} (ResNet).`,
      );
  }
  return out;
}

/** The conclusions of the report, generated from the measurements (no fixed text about the outcome). */
export function gradFlowFindings(
  measurements: GradFlowMeasurement[],
  nets: GradFlowNet[],
  depths: number[],
  settings: GradFlowSetting[],
  steps: number[],
): string[] {
  const get = (setting: GradFlowSetting, family: 'plain' | 'resnet', depth: number, step: number) =>
    measurements.find((m) => m.setting === setting && m.family === family && m.depth === depth && m.step === step);
  const f: FindingsInput = { measurements, nets, depths, settings, steps, first: steps[0], get };
  return [...settings.flatMap((s) => settingFindings(s, f)), ...paperClaimFinding(f), ...withoutBnFinding(f)];
}

/** The report's markdown body: the findings, a table per setting and measured step, the nets' training, and what the plots leave out. */
export function gradFlowBody(r: GradFlowResult, dropped: { file: string; net: string; count: number }[]): string {
  const aug = 'random 4-pixel shifts and flips as the trainer does';
  const lines = [
    `Plain-N and ResNet-N (CIFAR layout: 3×3 conv, three stages of (N−2)/6 basic blocks at 16/32/64 channels, option A shortcuts, global average pool, linear classifier) ` +
      `at depths ${r.depths.join(', ')} on ${r.data}. Every net starts from the same seeded Kaiming initialisation (a plain net and the ResNet of the same depth have the same initial weights) ` +
      `and is measured ${r.steps.map((s) => (s === 0 ? 'at initialisation' : `after ${s}`)).join(', ')} SGD steps ` +
      `(batch ${r.batchSize}, constant lr ${r.lr}, momentum ${r.momentum}, weight decay ${r.weightDecay}, ${aug}; the same batch order for every net).`,
    '',
    `Measured: the loss L is the mean softmax cross-entropy of a batch; ‖∂L/∂W‖ is the Frobenius norm of the gradient of every conv and linear layer's weights in depth order ` +
      `(layer 1 = the first conv, the last = the classifier; shortcut projections are not layers of the depth), ‖∂L/∂h‖ that of the input of every block (for a plain net the same position), ` +
      `averaged over the first ${r.batches} batch${r.batches === 1 ? '' : 'es'} of ${r.batchSize} training images (no augmentation), batch norm ${r.training ? 'on batch statistics as in training' : 'on running statistics'}. ` +
      `The block inputs are captured by an identity \`tf.customGrad\` tap in front of each block; one backward pass gives all the numbers. ` +
      `"ratio" is first-layer/last-layer ‖∂L/∂W‖; below 0.1 the report calls it vanishing, above 10 exploding.`,
    '',
    `Settings: ${r.settings.map((s) => `\`${s}\` (${GRADFLOW_SETTINGS[s].label})`).join(', ')}. zeroInitResidual only changes residual nets (a plain net would output zero); the plain nets of a zero-init setting are those of the matching BN setting.`,
    '',
    '## Findings',
    '',
    ...r.findings.flatMap((f) => (f.startsWith('- ') ? [f] : ['', f, ''])),
    '',
    '## Measurements',
    '',
    mdTable(
      [
        'net',
        'depth',
        'setting',
        'step',
        'loss',
        'first-layer ‖∂L/∂W‖',
        'last-layer ‖∂L/∂W‖',
        'ratio first/last',
        'block inputs first/last',
        'non-finite',
        'zero',
      ],
      r.measurements.map((m) => [
        m.family === 'plain' ? 'plain' : 'ResNet',
        m.depth,
        m.setting,
        m.step,
        m.loss,
        m.firstLayer,
        m.lastLayer,
        fmtRatio(m.ratio),
        fmtRatio(m.blockRatio),
        m.nonFinite,
        m.zeros,
      ]),
    ),
    '',
    mdTable(
      ['net', 'setting', 'params', 'SGD steps', 'status', 'seconds'],
      r.nets.map((n) => [
        netLabel(n),
        n.setting,
        n.params,
        n.trainedSteps,
        stoppedText(n.stopped) + (n.sharedWith ? ` (same net as in ${n.sharedWith})` : ''),
        Number(n.seconds.toFixed(1)),
      ]),
    ),
  ];
  if (dropped.length)
    lines.push(
      '',
      `Values a log-scale plot cannot show (inf, NaN or exactly 0) are left out of the plots: ${dropped.map((d) => `${d.net} in ${d.file} (${d.count})`).join(', ')}. ` +
        "Exact zeros are expected with zeroInitResidual at initialisation: the zero gamma (or conv) at the end of each residual branch blocks the gradient to the branch's other weights.",
    );
  lines.push('', `Duration estimated before the run: ${fmtDuration(r.estimatedSeconds)}.`);
  return lines.join('\n');
}
