/** Training curves: loss and error (%) against epoch, train and test, as two panels side by side. */
import { PALETTE, escapeXml, extent, niceTicks } from './svg.js';

/** One epoch's numbers, as the trainer logs them (any field may be missing). */
export interface CurvePoint {
  epoch: number;
  trainLoss?: number;
  testLoss?: number;
  trainAcc?: number;
  top1?: number;
}

interface PanelSeries {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

interface Box {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

/** The legend box, then each series' line, points and legend row (drawn in that order, as before). */
function panelSeries(series: PanelSeries[], right: number, top: number, sx: (v: number) => number, sy: (v: number) => number): string[] {
  const dash = (s: PanelSeries) => (s.dash ? ` stroke-dasharray="${s.dash}"` : '');
  const shown = series.filter((s) => s.points.length > 0).length;
  const parts = [`<rect x="${right - 116}" y="${top}" width="112" height="${16 * shown + 4}" fill="white" fill-opacity="0.85" stroke="#bbb"/>`];
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash(s)}/>`);
    for (const p of s.points) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = top + 8 + i * 16;
    parts.push(`<line x1="${right - 110}" y1="${ly}" x2="${right - 88}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash(s)}/>`);
    parts.push(`<text x="${right - 84}" y="${ly + 4}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return parts;
}

function panel(box: Box, title: string, yLabel: string, series: PanelSeries[]): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const { x0, y0, w, h } = box;
  const xs = extent(all.map((p) => p[0])) ?? [0, 1];
  const ys = extent(all.map((p) => p[1])) ?? [0, 1];
  const xMin = Math.min(xs[0], 0);
  const xMax = Math.max(xs[1], xMin + 1);
  const yMin = Math.min(0, ys[0]);
  let yMax = ys[1];
  if (!(yMax > yMin)) yMax = yMin + 1;
  const [left, right, top, bottom] = [x0 + 55, x0 + w - 10, y0 + 30, y0 + h - 40];
  const sx = (v: number) => left + ((v - xMin) / (xMax - xMin)) * (right - left);
  const sy = (v: number) => bottom - ((v - yMin) / (yMax - yMin)) * (bottom - top);
  const parts: string[] = [];
  parts.push(`<text x="${(left + right) / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${left}" y1="${sy(t).toFixed(1)}" x2="${right}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 6)) {
    parts.push(`<line x1="${sx(t).toFixed(1)}" y1="${bottom}" x2="${sx(t).toFixed(1)}" y2="${bottom + 4}" stroke="#000"/>`);
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#000"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#000"/>`);
  parts.push(`<text x="${(left + right) / 2}" y="${bottom + 32}" text-anchor="middle" font-size="12">epoch</text>`);
  parts.push(
    `<text x="${x0 + 14}" y="${(top + bottom) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${(top + bottom) / 2})">${escapeXml(yLabel)}</text>`,
  );
  parts.push(...panelSeries(series, right, top, sx, sy));
  return parts.join('\n');
}

/** Renders loss and error curves (train and test) as a standalone SVG document; non-finite values are left out. */
export function curvesSvg(points: CurvePoint[], title = 'Training curves'): string {
  const pick = (f: (p: CurvePoint) => number | undefined): [number, number][] =>
    points.filter((p) => f(p) !== undefined && Number.isFinite(f(p)!)).map((p) => [p.epoch, f(p)!]);
  const W = 900;
  const H = 380;
  const [train, test] = PALETTE;
  const loss = panel({ x0: 0, y0: 30, w: W / 2, h: H - 30 }, 'Loss', 'cross-entropy', [
    { name: 'train', color: train, points: pick((p) => p.trainLoss) },
    { name: 'test', color: test, dash: '6 3', points: pick((p) => p.testLoss) },
  ]);
  const err = panel({ x0: W / 2, y0: 30, w: W / 2, h: H - 30 }, 'Error', 'error (%)', [
    { name: 'train', color: train, points: pick((p) => (p.trainAcc === undefined ? undefined : 100 * (1 - p.trainAcc))) },
    { name: 'test top-1', color: test, dash: '6 3', points: pick((p) => (p.top1 === undefined ? undefined : 100 * (1 - p.top1))) },
  ]);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    loss,
    err,
    '</svg>',
    '',
  ].join('\n');
}
