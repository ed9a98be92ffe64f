import path from 'node:path';
import { ensureDir, writeBytesAtomic } from '@resnet-ts/core/node';

/**
 * Writes `content` (text as UTF-8) to `file` atomically with core's writer: a temporary file in the
 * same folder, flushed, then renamed; removed on failure or Ctrl-C, and a killed write's leftovers
 * are removed by the next write. Creates the folder when needed.
 */
export async function writeAtomic(file: string, content: string | Uint8Array): Promise<void> {
  ensureDir(path.dirname(file)); // one line where a folder cannot be made (a recursive mkdir loops under /proc)
  await writeBytesAtomic(file, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
}

/** Common fields of every experiment's result.json. */
export interface RunInfo {
  experiment: string;
  /** The command line that produced the result (or a description of the API call). */
  command: string;
  /** tf.getBackend() at the time of the run. */
  engine: string;
  seed: number;
  /** ISO date of the end of the run. */
  date: string;
  /** Seconds this invocation ran. */
  wallSeconds: number;
  /**
   * Training experiments: seconds of training and evaluation logged over all invocations (a resumed
   * run's wall time covers only its last part). The report shows this as the run's wall time.
   */
  trainingSeconds?: number;
  /** Free text shown in the report (e.g. where the weights came from). */
  note?: string;
}

/** A markdown table. */
export function mdTable(header: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => (typeof v === 'number' ? fmtNum(v) : v).replace(/\|/g, '\\|');
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Compact number formatting for reports. */
export function fmtNum(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  // Counts (parameters, paths) print exactly; huge values that merely happen to be integral (a gradient norm of 6.8e12) do not.
  if (Number.isInteger(v) && a < 1e12) return String(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
}

/** Percent with 2 decimals, from a fraction. */
export function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(2)} %` : String(v);
}

/** Seconds as `325 s`, or `4,177 s (1.2 h)` from an hour on. */
export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  const text = `${s < 10 ? s.toFixed(1) : Math.round(s).toLocaleString('en-US')} s`;
  return s >= 3600 ? `${text} (${(s / 3600).toFixed(1)} h)` : text;
}

/**
 * `text` with every absolute file path made portable: a path inside the current folder becomes
 * relative to it; any other becomes `<dir>/` and its last two parts (the machine's folders mean
 * nothing to a reader elsewhere).
 */
export function portablePaths(text: string, cwd = process.cwd()): string {
  return text.replace(/(^|[\s`'"(=,])(\/[\w.@+-]+(?:\/[\w.@+-]+)+\/?)/g, (_m, lead: string, p: string) => {
    const rel = path.relative(cwd, p);
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return lead + rel;
    if (!rel) return lead + '.';
    return `${lead}<dir>/${p.split('/').filter(Boolean).slice(-2).join('/')}`;
  });
}

/** What an experiment hands to {@link writeReport}. */
export interface ReportContent<R> {
  info: RunInfo;
  /** Every number of the run (goes into result.json next to `info`). */
  result: R;
  /** file name (e.g. `loss.svg`) -> SVG text. */
  plots: Record<string, string>;
  /** Markdown body (without the header and the run information, which are added). */
  title: string;
  body: string;
}

/** Paths written by {@link writeReport}. */
export interface ReportFiles {
  dir: string;
  json: string;
  markdown: string;
  plots: string[];
}

/**
 * Writes `result.json`, the SVG plots and `report.md` into `dir` (created if needed), each
 * atomically. The report starts with the title and ends with the run information (command, engine,
 * wall time, date, seed) and links to the plots.
 */
export async function writeReport<R>(dir: string, c: ReportContent<R>): Promise<ReportFiles> {
  ensureDir(dir);
  const json = path.join(dir, 'result.json');
  const portableJson = (key: string, value: unknown) => {
    const v = jsonReplacer(key, value);
    return typeof v === 'string' ? portablePaths(v) : v;
  };
  await writeAtomic(json, JSON.stringify({ ...c.info, result: c.result }, portableJson, 2) + '\n');
  const plots: string[] = [];
  for (const [name, svg] of Object.entries(c.plots)) {
    const file = path.join(dir, name);
    await writeAtomic(file, svg);
    plots.push(file);
  }
  const md = [
    `# ${c.title}`,
    '',
    c.body.trim(),
    '',
    ...(c.info.note ? ['## Notes', '', c.info.note, ''] : []),
    '## Plots',
    '',
    ...Object.keys(c.plots).map((name) => `![${name}](${name})\n`),
    '## Run',
    '',
    mdTable(
      ['', ''],
      [
        ['command', c.info.command.includes('`') ? '`` ' + c.info.command + ' ``' : '`' + c.info.command + '`'],
        ['engine', c.info.engine],
        [
          c.info.trainingSeconds !== undefined ? 'training time' : 'wall time',
          c.info.trainingSeconds !== undefined
            ? `${fmtSeconds(c.info.trainingSeconds)}: training and evaluation of all nets over all (resumed) invocations, from their epoch logs`
            : fmtSeconds(c.info.wallSeconds),
        ],
        ['date', c.info.date],
        ['seed', String(c.info.seed)],
      ],
    ),
    '',
    'All numbers are in `result.json`.',
    '',
  ].join('\n');
  const markdown = path.join(dir, 'report.md');
  await writeAtomic(markdown, portablePaths(md));
  return { dir, json, markdown, plots };
}

/** JSON.stringify replacer: BigInt as decimal strings, NaN/Infinity as null-safe strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}
