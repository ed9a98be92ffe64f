/**
 * @resnet-ts/plot: hand-written SVG charts — pure string output, no DOM, no dependencies. Line
 * charts with several series (solid/dashed so plain vs residual read clearly), optional log-y, ticks,
 * labels, legend and title; bar charts against an index; and the trainer's loss/error curves. The
 * one plotting module of resnet-ts: the lab's experiments and the trainer both draw through it.
 */
export { PALETTE, escapeXml, niceTicks, tickLabel } from './svg.js';
export { type ChartOptions, type Dash } from './frame.js';
export { lineChart, type Series } from './line.js';
export { barChart, type BarSeries, type RefLine } from './bar.js';
export { curvesSvg, type CurvePoint } from './curves.js';
