/** Line charts of several series: solid/dashed/dotted lines, optional error bars and markers, linear or log-10 y. */
import { ChartOptions, Dash, Frame, dashAttr, frame, header, legend } from './frame.js';
import { PALETTE, escapeXml, n2, niceTicks, tickLabel } from './svg.js';

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
  dash?: Dash;
  /** Draw a small circle at every point. */
  markers?: boolean;
}

/** The axes' ranges (y in transformed units: log10 with `logY`) and the pixel mapping. */
interface Axes {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
  logY: boolean;
  px: (x: number) => number;
  py: (y: number) => number;
}

/** The y range in transformed units: whole decades for log-y, widened to nice ticks for linear y. */
function yRange(series: Series[], options: ChartOptions, logY: boolean): [number, number] {
  const ysAll = series.flatMap((s) => s.y.flatMap((y, i) => (s.err ? [y - s.err[i], y + s.err[i]] : [y])));
  const ys = ysAll.filter((y) => Number.isFinite(y) && (!logY || y > 0));
  const yMin = options.yMin ?? (ys.length ? Math.min(...ys) : 0);
  const yMax = options.yMax ?? (ys.length ? Math.max(...ys) : 1);
  let a = logY ? Math.log10(yMin) : yMin;
  let b = logY ? Math.log10(yMax) : yMax;
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
  return [a, b];
}

function axes(series: Series[], options: ChartOptions, f: Frame): Axes {
  const logY = options.logY ?? false;
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => i));
  const xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMax === xMin) xMax = xMin + 1;
  const [yMin, yMax] = yRange(series, options, logY);
  const ty = (v: number) => (logY ? Math.log10(v) : v);
  return {
    xMin,
    xMax,
    yMin,
    yMax,
    logY,
    px: (x) => f.L + ((x - xMin) / (xMax - xMin)) * (f.W - f.L - f.R),
    py: (y) => f.H - f.B - ((ty(y) - yMin) / (yMax - yMin)) * (f.H - f.T - f.B),
  };
}

function ticks(a: Axes, f: Frame): string[] {
  const o: string[] = [];
  const xt = niceTicks(a.xMin, a.xMax, 6).filter((v) => v >= a.xMin && v <= a.xMax);
  for (const v of xt) {
    const X = n2(a.px(v));
    o.push(`<line x1="${X}" y1="${f.H - f.B}" x2="${X}" y2="${f.H - f.B + 5}" stroke="#333"/>`);
    o.push(`<text x="${X}" y="${f.H - f.B + 18}" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  const yt = a.logY
    ? Array.from({ length: Math.round(a.yMax - a.yMin) + 1 }, (_, i) => 10 ** (a.yMin + i))
    : niceTicks(a.yMin, a.yMax, 5).filter((v) => v >= a.yMin - 1e-12 && v <= a.yMax + 1e-12);
  const ytShown = a.logY && yt.length > 9 ? yt.filter((_, i) => i % Math.ceil(yt.length / 8) === 0) : yt;
  for (const v of ytShown) {
    const Y = n2(a.py(v));
    o.push(`<line x1="${f.L}" y1="${Y}" x2="${f.W - f.R}" y2="${Y}" stroke="#ddd"/>`);
    o.push(`<line x1="${f.L - 5}" y1="${Y}" x2="${f.L}" y2="${Y}" stroke="#333"/>`);
    o.push(
      `<text x="${f.L - 8}" y="${Y}" text-anchor="end" dominant-baseline="middle">${a.logY ? `1e${Math.round(Math.log10(v))}` : tickLabel(v)}</text>`,
    );
  }
  return o;
}

/** One series: its line (split where a value is missing), error bars and markers. */
function drawSeries(s: Series, color: string, a: Axes): string[] {
  const shown = (y: number) => Number.isFinite(y) && (!a.logY || y > 0);
  const x = s.x ?? s.y.map((_, k) => k);
  const segs: string[][] = [[]];
  s.y.forEach((y, k) => {
    if (!shown(y)) {
      if (segs[segs.length - 1].length) segs.push([]);
      return;
    }
    segs[segs.length - 1].push(`${n2(a.px(x[k]))},${n2(a.py(y))}`);
  });
  const o = [`<g class="series" data-name="${escapeXml(s.name)}">`];
  for (const seg of segs) {
    if (seg.length) o.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dashAttr(s.dash)} points="${seg.join(' ')}"/>`);
  }
  const err = s.err;
  if (err) {
    s.y.forEach((y, k) => {
      const lo = y - err[k];
      const hi = y + err[k];
      if (!Number.isFinite(lo) || !Number.isFinite(hi) || (a.logY && lo <= 0)) return;
      const X = n2(a.px(x[k]));
      o.push(`<line x1="${X}" y1="${n2(a.py(lo))}" x2="${X}" y2="${n2(a.py(hi))}" stroke="${color}" stroke-width="1"/>`);
    });
  }
  if (s.markers) {
    s.y.forEach((y, k) => {
      if (shown(y)) o.push(`<circle cx="${n2(a.px(x[k]))}" cy="${n2(a.py(y))}" r="2.5" fill="${color}"/>`);
    });
  }
  o.push('</g>');
  return o;
}

/** Line chart of several series; with `logY` the y axis is log10 (non-positive values are skipped). */
export function lineChart(series: Series[], options: ChartOptions = {}): string {
  const f = frame(options, series.length);
  const a = axes(series, options, f);
  const colorOf = (s: Series, i: number) => s.color ?? PALETTE[i % PALETTE.length];
  const o = header(f, options);
  o.push(...ticks(a, f));
  series.forEach((s, i) => o.push(...drawSeries(s, colorOf(s, i), a)));
  o.push(legend(series.map((s, i) => ({ name: s.name, color: colorOf(s, i), dash: s.dash })), f));
  o.push('</svg>');
  return o.join('\n') + '\n';
}
