/** Line charts of several series: solid/dashed/dotted lines, optional error bars and markers, linear or log-10 y. */
import { ChartOptions, Dash, Frame, dashAttr, frame, header, legend } from './frame.js';
import { PALETTE, escapeXml, extent, n2, niceTicks, tickLabel } from './svg.js';

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

/**
 * The values that set the y range: each shown point, widened by its error bar where that is finite
 * (a NaN or infinite error bar is not drawn and leaves the point's own value); on log-y only positive ones.
 */
function* rangeValues(series: Series[], logY: boolean): Generator<number> {
  const ok = (v: number) => Number.isFinite(v) && (!logY || v > 0);
  for (const s of series) {
    for (let i = 0; i < s.y.length; i++) {
      const y = s.y[i];
      if (!ok(y) || !Number.isFinite(s.x?.[i] ?? i)) continue;
      const e = s.err?.[i];
      if (e !== undefined && Number.isFinite(e)) {
        if (ok(y - e)) yield y - e;
        yield y + e;
      } else yield y;
    }
  }
}

/**
 * The y range in transformed units: whole decades for log-y, widened to nice ticks for linear y.
 * On log-y a yMin or yMax at or below 0 (no logarithm) is ignored; `empty` when no value can be drawn.
 */
function yRange(series: Series[], options: ChartOptions, logY: boolean): { range: [number, number]; empty: boolean } {
  const fixed = (v: number | undefined) => (v !== undefined && Number.isFinite(v) && (!logY || v > 0) ? v : undefined);
  const data = extent(rangeValues(series, logY));
  const yMin = fixed(options.yMin) ?? (data ? data[0] : logY ? 1 : 0);
  const yMax = fixed(options.yMax) ?? (data ? data[1] : logY ? 10 : 1);
  let a = logY ? Math.log10(Math.min(yMin, yMax)) : Math.min(yMin, yMax);
  let b = logY ? Math.log10(Math.max(yMin, yMax)) : Math.max(yMin, yMax);
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
    if (step > 0 && fixed(options.yMin) === undefined) a = Math.floor(a / step + 1e-9) * step;
    if (step > 0 && fixed(options.yMax) === undefined) b = Math.ceil(b / step - 1e-9) * step;
  }
  return { range: [a, b], empty: data === null };
}

function axes(series: Series[], options: ChartOptions, f: Frame): Axes & { empty: boolean } {
  const logY = options.logY ?? false;
  const xs = extent(series.flatMap((s) => s.x ?? s.y.map((_, i) => i)));
  const xMin = xs ? xs[0] : 0;
  let xMax = xs ? xs[1] : 1;
  if (xMax === xMin) xMax = xMin + 1;
  const {
    range: [yMin, yMax],
    empty,
  } = yRange(series, options, logY);
  const ty = (v: number) => (logY ? Math.log10(v) : v);
  return {
    xMin,
    xMax,
    yMin,
    yMax,
    logY,
    empty,
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

/**
 * One series: its line (split where a value or its x is missing), error bars (finite ones) and
 * markers; a point with no neighbour to join gets a marker, so that a one-point series shows.
 */
function drawSeries(s: Series, color: string, a: Axes): string[] {
  const x = s.x ?? s.y.map((_, k) => k);
  const shown = (k: number) => Number.isFinite(s.y[k]) && Number.isFinite(x[k]) && (!a.logY || s.y[k] > 0);
  const segs: number[][] = [[]];
  s.y.forEach((_, k) => {
    if (shown(k)) segs[segs.length - 1].push(k);
    else if (segs[segs.length - 1].length) segs.push([]);
  });
  const at = (k: number) => `${n2(a.px(x[k]))},${n2(a.py(s.y[k]))}`;
  const o = [`<g class="series" data-name="${escapeXml(s.name)}">`];
  for (const seg of segs) {
    if (seg.length > 1)
      o.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dashAttr(s.dash)} points="${seg.map(at).join(' ')}"/>`);
  }
  const err = s.err;
  if (err) {
    s.y.forEach((y, k) => {
      const lo = y - err[k];
      const hi = y + err[k];
      if (!shown(k) || !Number.isFinite(lo) || !Number.isFinite(hi) || (a.logY && lo <= 0)) return;
      const X = n2(a.px(x[k]));
      o.push(`<line x1="${X}" y1="${n2(a.py(lo))}" x2="${X}" y2="${n2(a.py(hi))}" stroke="${color}" stroke-width="1"/>`);
    });
  }
  for (const seg of segs) {
    for (const k of s.markers ? seg : seg.length === 1 ? seg : []) {
      o.push(`<circle cx="${n2(a.px(x[k]))}" cy="${n2(a.py(s.y[k]))}" r="${s.markers ? 2.5 : 3}" fill="${color}"/>`);
    }
  }
  o.push('</g>');
  return o;
}

/** The plot area as a clip path, so that values outside a fixed yMin/yMax stop at the frame instead of leaving the canvas. */
function clipArea(f: Frame, id: string): string {
  return `<defs><clipPath id="${id}"><rect x="${f.L}" y="${f.T}" width="${f.W - f.L - f.R}" height="${f.H - f.T - f.B}"/></clipPath></defs>`;
}

let clipIds = 0;

/** Line chart of several series; with `logY` the y axis is log10 (non-positive values are skipped). */
export function lineChart(series: Series[], options: ChartOptions = {}): string {
  const f = frame(options, series.length);
  const a = axes(series, options, f);
  const colorOf = (s: Series, i: number) => s.color ?? PALETTE[i % PALETTE.length];
  const o = header(f, options);
  o.push(...ticks(a, f));
  const id = `plot-area-${++clipIds}`;
  o.push(clipArea(f, id), `<g clip-path="url(#${id})">`);
  series.forEach((s, i) => o.push(...drawSeries(s, colorOf(s, i), a)));
  o.push('</g>');
  if (a.empty && a.logY && series.some((s) => s.y.length > 0))
    o.push(
      `<text x="${(f.L + f.W - f.R) / 2}" y="${(f.T + f.H - f.B) / 2}" text-anchor="middle" fill="#666">no positive values to draw on a log axis</text>`,
    );
  o.push(legend(series.map((s, i) => ({ name: s.name, color: colorOf(s, i), dash: s.dash })), f));

  o.push('</svg>');
  return o.join('\n') + '\n';
}
