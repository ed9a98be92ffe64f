/**
 * Hand-written SVG charts: pure string output, no DOM, no dependencies. Line charts with several
 * series (solid/dashed so plain vs residual read clearly), optional log-y, ticks, labels, legend and
 * title; and a bar chart against an index (e.g. error per deleted block).
 */

/** One line of a {@link lineChart}. */
export interface Series {
  name: string;
  /** x values (default 0..n-1). */
  x?: number[];
  y: number[];
  /** Optional symmetric error bars (e.g. std over samples). */
  err?: number[];
  /** Default: from a palette by index. */
  color?: string;
  dash?: 'solid' | 'dashed' | 'dotted';
  /** Draw a small circle at every point. */
  markers?: boolean;
}

/** A line chart: title, axis labels, series, optional log-scale y and size. */
export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Fixed y range (linear units, also for log-y). */
  yMin?: number;
  yMax?: number;
}

/** Series colours, in order (colour-blind-friendlier tableau palette). */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/** Escapes text for SVG/XML. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

/** "Nice" linear ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const n2 = (v: number) => v.toFixed(2);

interface Frame {
  W: number;
  H: number;
  L: number;
  R: number;
  T: number;
  B: number;
  /** Space for ticks and the x label (the legend goes below it). */
  bottom?: number;
}

const LEGEND_ROW = 18;

/** The plot area; the legend sits below the x axis label (it never hides data), so the height grows with it. */
function frame(options: ChartOptions, legendRows: number, bottom = 50): Frame {
  const W = options.width ?? 720;
  const extra = legendRows * LEGEND_ROW + (legendRows ? 8 : 0);
  const H = (options.height ?? 420) + extra;
  return { W, H, L: 70, R: 20, T: options.title ? 36 : 16, B: bottom + extra, bottom };
}

function header(f: Frame, options: ChartOptions): string[] {
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${f.W}" height="${f.H}" fill="white"/>`,
  ];
  if (options.title)
    o.push(`<text x="${f.W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  if (options.xLabel)
    o.push(
      `<text x="${(f.L + f.W - f.R) / 2}" y="${f.H - f.B + (f.bottom ?? 50) - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  if (options.yLabel) {
    const cy = (f.T + f.H - f.B) / 2;
    o.push(`<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(options.yLabel)}</text>`);
  }
  return o;
}

function dashAttr(d: Series['dash']): string {
  return d === 'dashed' ? ' stroke-dasharray="7 4"' : d === 'dotted' ? ' stroke-dasharray="2 3"' : '';
}

/** Line chart of several series; with `logY` the y axis is log10 (non-positive values are skipped). */
export function lineChart(series: Series[], options: ChartOptions = {}): string {
  const f = frame(options, series.length);
  const logY = options.logY ?? false;
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => i));
  const ysAll = series.flatMap((s) => s.y.flatMap((y, i) => (s.err ? [y - s.err[i], y + s.err[i]] : [y])));
  const ys = ysAll.filter((y) => Number.isFinite(y) && (!logY || y > 0));
  const xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMax === xMin) xMax = xMin + 1;
  let yMin = options.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let yMax = options.yMax ?? (ys.length ? Math.max(...ys) : 1);
  const ty = (v: number) => (logY ? Math.log10(v) : v);
  let a = ty(yMin);
  let b = ty(yMax);
  if (logY) {
    a = Math.floor(a);
    b = Math.ceil(b);
  }
  if (b === a) {
    a -= logY ? 1 : Math.abs(a) * 0.1 || 1;
    b += logY ? 1 : Math.abs(b) * 0.1 || 1;
  }
  if (!logY) {
    const t = niceTicks(a, b);
    const step = t.length > 1 ? t[1] - t[0] : 0;
    if (step > 0 && options.yMin === undefined) a = Math.floor(a / step + 1e-9) * step;
    if (step > 0 && options.yMax === undefined) b = Math.ceil(b / step - 1e-9) * step;
  }
  yMin = a;
  yMax = b;
  const px = (x: number) => f.L + ((x - xMin) / (xMax - xMin)) * (f.W - f.L - f.R);
  const py = (y: number) => f.H - f.B - ((ty(y) - yMin) / (yMax - yMin)) * (f.H - f.T - f.B);
  const o = header(f, options);
  o.push(
    `<g class="axes" stroke="#333" fill="none"><rect x="${f.L}" y="${f.T}" width="${f.W - f.L - f.R}" height="${f.H - f.T - f.B}"/></g>`,
  );
  // x ticks
  const xt = niceTicks(xMin, xMax, 6).filter((v) => v >= xMin && v <= xMax);
  for (const v of xt) {
    const X = n2(px(v));
    o.push(`<line x1="${X}" y1="${f.H - f.B}" x2="${X}" y2="${f.H - f.B + 5}" stroke="#333"/>`);
    o.push(`<text x="${X}" y="${f.H - f.B + 18}" text-anchor="middle">${fmt(v)}</text>`);
  }
  // y ticks
  const yt = logY
    ? Array.from({ length: Math.round(yMax - yMin) + 1 }, (_, i) => 10 ** (yMin + i))
    : niceTicks(yMin, yMax, 5).filter((v) => v >= yMin - 1e-12 && v <= yMax + 1e-12);
  const ytShown = logY && yt.length > 9 ? yt.filter((_, i) => i % Math.ceil(yt.length / 8) === 0) : yt;
  for (const v of ytShown) {
    const Y = n2(py(v));
    o.push(`<line x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="#ddd"/>`);
    o.push(`<line x1="${f.L - 5}" y1="${Y}" x2="${f.L}" y2="${Y}" stroke="#333"/>`);
    o.push(
      `<text x="${f.L - 8}" y="${Y}" text-anchor="end" dominant-baseline="middle">${logY ? `1e${Math.round(Math.log10(v))}` : fmt(v)}</text>`,
    );
  }
  // series
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const x = s.x ?? s.y.map((_, k) => k);
    const segs: string[][] = [[]];
    s.y.forEach((y, k) => {
      if (!Number.isFinite(y) || (logY && y <= 0)) {
        if (segs[segs.length - 1].length) segs.push([]);
        return;
      }
      segs[segs.length - 1].push(`${n2(px(x[k]))},${n2(py(y))}`);
    });
    o.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    for (const seg of segs) {
      if (seg.length) o.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dashAttr(s.dash)} points="${seg.join(' ')}"/>`);
    }
    if (s.err) {
      s.y.forEach((y, k) => {
        const lo = y - s.err![k];
        const hi = y + s.err![k];
        if (!Number.isFinite(lo) || !Number.isFinite(hi) || (logY && lo <= 0)) return;
        const X = n2(px(x[k]));
        o.push(`<line x1="${X}" y1="${n2(py(lo))}" x2="${X}" y2="${n2(py(hi))}" stroke="${color}" stroke-width="1"/>`);
      });
    }
    if (s.markers) {
      s.y.forEach((y, k) => {
        if (Number.isFinite(y) && (!logY || y > 0)) o.push(`<circle cx="${n2(px(x[k]))}" cy="${n2(py(y))}" r="2.5" fill="${color}"/>`);
      });
    }
    o.push('</g>');
  });
  o.push(
    legend(
      series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length], dash: s.dash })),
      f,
    ),
  );
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function legend(items: { name: string; color: string; dash?: Series['dash'] }[], f: Frame): string {
  if (items.length === 0) return '';
  const w = Math.max(...items.map((it) => it.name.length)) * 7 + 40;
  const x0 = f.L;
  const y0 = f.H - f.B + (f.bottom ?? 50);
  const o = [
    `<g class="legend"><rect x="${x0}" y="${y0}" width="${w}" height="${items.length * 18 + 6}" fill="white" fill-opacity="0.85" stroke="#999"/>`,
  ];
  items.forEach((it, i) => {
    const y = y0 + 14 + i * 18;
    o.push(`<line x1="${x0 + 6}" y1="${y}" x2="${x0 + 30}" y2="${y}" stroke="${it.color}" stroke-width="2"${dashAttr(it.dash)}/>`);
    o.push(`<text x="${x0 + 36}" y="${y}" dominant-baseline="middle">${escapeXml(it.name)}</text>`);
  });
  o.push('</g>');
  return o.join('\n');
}

/** One group of bars in a {@link barChart}. */
export interface BarSeries {
  name: string;
  values: number[];
  color?: string;
}

/**
 * Bars against an index (labels on the x axis), several series side by side, optional reference
 * lines (e.g. the baseline error) drawn dashed across the chart. NaN values leave a gap.
 */
export function barChart(
  labels: string[],
  series: BarSeries[],
  options: ChartOptions & { refLines?: { name: string; value: number; color?: string }[] } = {},
): string {
  const f = frame(options, series.length + (options.refLines?.length ?? 0), 70);
  const refs = options.refLines ?? [];
  const all = [...series.flatMap((s) => s.values), ...refs.map((r) => r.value)].filter(Number.isFinite);
  const lo = options.yMin ?? Math.min(0, ...all);
  const hiRaw = options.yMax ?? (all.length ? Math.max(...all) : 1);
  const ticks = niceTicks(lo, hiRaw > lo ? hiRaw : lo + 1, 5);
  if (ticks.length > 1 && ticks[ticks.length - 1] < hiRaw - 1e-12)
    ticks.push(Number((ticks[ticks.length - 1] + ticks[1] - ticks[0]).toPrecision(12)));
  const yMin = lo;
  const yMax = Math.max(ticks[ticks.length - 1], hiRaw);
  const py = (y: number) => f.H - f.B - ((y - yMin) / (yMax - yMin || 1)) * (f.H - f.T - f.B);
  const o = header(f, options);
  o.push(
    `<g class="axes" stroke="#333" fill="none"><rect x="${f.L}" y="${f.T}" width="${f.W - f.L - f.R}" height="${f.H - f.T - f.B}"/></g>`,
  );
  for (const v of ticks) {
    const Y = n2(py(v));
    o.push(`<line x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="#ddd"/>`);
    o.push(`<text x="${f.L - 8}" y="${Y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  const slot = (f.W - f.L - f.R) / Math.max(1, labels.length);
  const bw = (slot * 0.8) / Math.max(1, series.length);
  const step = Math.ceil(labels.length / 30);
  labels.forEach((lab, i) => {
    if (i % step) return;
    const X = n2(f.L + slot * (i + 0.5));
    o.push(
      `<text x="${X}" y="${f.H - f.B + 12}" text-anchor="end" font-size="10" transform="rotate(-45 ${X} ${f.H - f.B + 12})">${escapeXml(lab)}</text>`,
    );
  });
  series.forEach((s, j) => {
    const color = s.color ?? PALETTE[j % PALETTE.length];
    o.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = f.L + slot * i + slot * 0.1 + bw * j;
      const y0 = py(Math.max(yMin, 0));
      const y1 = py(v);
      o.push(`<rect x="${n2(x)}" y="${n2(Math.min(y0, y1))}" width="${n2(bw)}" height="${n2(Math.abs(y0 - y1))}" fill="${color}"/>`);
    });
    o.push('</g>');
  });
  refs.forEach((r, i) => {
    const Y = n2(py(r.value));
    o.push(`<line class="ref" x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="${r.color ?? '#000'}" stroke-dasharray="6 4"/>`);
    void i;
  });
  o.push(
    legend(
      [
        ...series.map((s, j) => ({ name: s.name, color: s.color ?? PALETTE[j % PALETTE.length] })),
        ...refs.map((r) => ({ name: r.name, color: r.color ?? '#000', dash: 'dashed' as const })),
      ],
      f,
    ),
  );
  o.push('</svg>');
  return o.join('\n') + '\n';
}
