/** The layout every chart shares: the plot area, the title and axis labels, and the legend below the x axis. */
import { escapeXml } from './svg.js';

/** How a series' line is drawn. */
export type Dash = 'solid' | 'dashed' | 'dotted';

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

/** The chart's size and margins (left, right, top, bottom), in pixels. */
export interface Frame {
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
export function frame(options: ChartOptions, legendRows: number, bottom = 50): Frame {
  const W = options.width ?? 720;
  const extra = legendRows * LEGEND_ROW + (legendRows ? 8 : 0);
  const H = (options.height ?? 420) + extra;
  return { W, H, L: 70, R: 20, T: options.title ? 36 : 16, B: bottom + extra, bottom };
}

/** The `<svg>` opening, white background, title, axis labels and the plot area's box. */
export function header(f: Frame, options: ChartOptions): string[] {
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
  o.push(
    `<g class="axes" stroke="#333" fill="none"><rect x="${f.L}" y="${f.T}" width="${f.W - f.L - f.R}" height="${f.H - f.T - f.B}"/></g>`,
  );
  return o;
}

/** The `stroke-dasharray` attribute of a dash style ('' for solid). */
export function dashAttr(d: Dash | undefined): string {
  return d === 'dashed' ? ' stroke-dasharray="7 4"' : d === 'dotted' ? ' stroke-dasharray="2 3"' : '';
}

/** One legend row. */
export interface LegendItem {
  name: string;
  color: string;
  dash?: Dash;
}

/** The legend box below the x axis label, one row per item. */
export function legend(items: LegendItem[], f: Frame): string {
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
