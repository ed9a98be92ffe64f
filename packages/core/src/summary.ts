import type { ModelSummary } from './resnet.js';

/** Formats a count with thousands separators: 11689512 -> "11,689,512". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Formats multiply-adds in G/M/K units: 1814073344 -> "1.814 G". */
export function formatMacs(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(3)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

/**
 * A printable layer table in the style of torchinfo / Keras `summary()`.
 * `depth` limits how many name segments are shown (rows below are folded into their parent).
 */
export function formatSummary(summary: ModelSummary, options: { title?: string; depth?: number } = {}): string {
  const { depth = Infinity } = options;
  type Row = { name: string; type: string; out: string; params: number; macs: number };
  const rows: Row[] = [];
  for (const r of summary.rows) {
    const parts = r.name.split('.');
    const name = parts.slice(0, depth).join('.');
    const last = rows[rows.length - 1];
    if (parts.length > depth && last && last.name === name) {
      last.out = `[${r.outputShape.join(', ')}]`;
      last.params += r.params;
      last.macs += r.macs;
      continue;
    }
    rows.push({
      name,
      type: parts.length > depth ? 'Block' : r.type,
      out: `[${r.outputShape.join(', ')}]`,
      params: r.params,
      macs: r.macs,
    });
  }
  const header = ['Layer', 'Type', 'Output shape', 'Params', 'Mult-adds'];
  const body = rows.map((r) => [r.name, r.type, r.out, formatCount(r.params), formatCount(r.macs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  const out: string[] = [];
  if (options.title) out.push(options.title);
  out.push(rule, line(header), rule, ...body.map(line), rule);
  out.push(`Input shape (per image, HWC): [${summary.inputShape.join(', ')}]   Output: [${summary.outputShape.join(', ')}]`);
  out.push(`Total params: ${formatCount(summary.totalParams)}`);
  out.push(`Total mult-adds: ${formatCount(summary.totalMacs)} (${formatMacs(summary.totalMacs)})`);
  return out.join('\n');
}
