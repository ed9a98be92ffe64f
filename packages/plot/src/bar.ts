/** Bar charts against an index (e.g. error per deleted block), several series side by side, with reference lines. */
import { ChartOptions, Frame, frame, header, legend } from './frame.js';
import { PALETTE, escapeXml, extent, n2, niceTicks, tickLabel } from './svg.js';

/** One group of bars in a {@link barChart}. */
export interface BarSeries {
  name: string;
  values: number[];
  /** Optional ± error per bar (e.g. the standard deviation over seeds), drawn as a whisker. */
  err?: number[];
  color?: string;
}

/** A dashed horizontal line across a {@link barChart} (e.g. the baseline error). */
export interface RefLine {
  name: string;
  value: number;
  color?: string;
}

/** The y range: from min(0, values) to the first nice tick at or above the largest value. */
function barRange(series: BarSeries[], refs: RefLine[], options: ChartOptions): { yMin: number; yMax: number; ticks: number[] } {
  const tops = series.flatMap((s) => s.values.map((v, i) => v + (s.err?.[i] ?? 0)));
  const all = extent([...series.flatMap((s) => s.values), ...tops, ...refs.map((r) => r.value)]);
  const lo = options.yMin ?? Math.min(0, all ? all[0] : 0);
  const hiRaw = options.yMax ?? (all ? all[1] : 1);
  const ticks = niceTicks(lo, hiRaw > lo ? hiRaw : lo + 1, 5);
  if (ticks.length > 1 && ticks[ticks.length - 1] < hiRaw - 1e-12)
    ticks.push(Number((ticks[ticks.length - 1] + ticks[1] - ticks[0]).toPrecision(12)));
  return { yMin: lo, yMax: Math.max(ticks[ticks.length - 1], hiRaw), ticks };
}

function xLabels(labels: string[], f: Frame, slot: number): string[] {
  const o: string[] = [];
  const step = Math.ceil(labels.length / 30);
  labels.forEach((lab, i) => {
    if (i % step) return;
    const X = n2(f.L + slot * (i + 0.5));
    o.push(
      `<text x="${X}" y="${f.H - f.B + 12}" text-anchor="end" font-size="10" transform="rotate(-45 ${X} ${f.H - f.B + 12})">${escapeXml(lab)}</text>`,
    );
  });
  return o;
}

/**
 * Bars against an index (labels on the x axis), several series side by side, optional reference
 * lines (e.g. the baseline error) drawn dashed across the chart. NaN values leave a gap.
 */
export function barChart(labels: string[], series: BarSeries[], options: ChartOptions & { refLines?: RefLine[] } = {}): string {
  // A reference line with no finite value is not drawn (nor listed in the legend).
  const refs = (options.refLines ?? []).filter((r) => Number.isFinite(r.value));
  const f = frame(options, series.length + refs.length, 70);
  const { yMin, yMax, ticks } = barRange(series, refs, options);
  const py = (y: number) => f.H - f.B - ((y - yMin) / (yMax - yMin || 1)) * (f.H - f.T - f.B);
  const colorOf = (s: BarSeries, j: number) => s.color ?? PALETTE[j % PALETTE.length];
  const o = header(f, options);
  for (const v of ticks) {
    const Y = n2(py(v));
    o.push(`<line x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="#ddd"/>`);
    o.push(`<text x="${f.L - 8}" y="${Y}" text-anchor="end" dominant-baseline="middle">${tickLabel(v)}</text>`);
  }
  const slot = (f.W - f.L - f.R) / Math.max(1, labels.length);
  const bw = (slot * 0.8) / Math.max(1, series.length);
  o.push(...xLabels(labels, f, slot));
  series.forEach((s, j) => {
    o.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = f.L + slot * i + slot * 0.1 + bw * j;
      const y0 = py(Math.max(yMin, 0));
      const y1 = py(v);
      o.push(`<rect x="${n2(x)}" y="${n2(Math.min(y0, y1))}" width="${n2(bw)}" height="${n2(Math.abs(y0 - y1))}" fill="${colorOf(s, j)}"/>`);
      const e = s.err?.[i];
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        const [X, lo, hi] = [n2(x + bw / 2), n2(py(v - e)), n2(py(v + e))];
        o.push(`<path class="err" d="M${X} ${lo}V${hi}M${n2(x + bw / 4)} ${lo}H${n2(x + (3 * bw) / 4)}M${n2(x + bw / 4)} ${hi}H${n2(x + (3 * bw) / 4)}" stroke="#000"/>`);
      }
    });
    o.push('</g>');
  });
  for (const r of refs) {
    const Y = n2(py(r.value));
    o.push(`<line class="ref" x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="${r.color ?? '#000'}" stroke-dasharray="6 4"/>`);
  }
  const items = [
    ...series.map((s, j) => ({ name: s.name, color: colorOf(s, j) })),
    ...refs.map((r) => ({ name: r.name, color: r.color ?? '#000', dash: 'dashed' as const })),
  ];
  o.push(legend(items, f));
  o.push('</svg>');
  return o.join('\n') + '\n';
}
