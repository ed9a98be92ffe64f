import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ensureDir } from '@resnet-ts/core/node';
import { ResNetError } from '@resnet-ts/core';
import type { ExperimentCommand } from './command.js';
import { ReportFiles, RunInfo } from './report.js';

/** Options every experiment accepts. */
export interface CommonOptions {
  /** Output folder (default `runs/lab/<experiment>`). */
  out?: string;
  seed?: number;
  /** The command line recorded in result.json (default: this process's argv). */
  command?: string;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
  /** Free text for the report (e.g. how the weights were made). */
  note?: string;
}

/** What every experiment's `run` returns. */
export interface ExperimentOutput<R> {
  info: RunInfo;
  result: R;
  files: ReportFiles;
}

/**
 * An entry of the experiment registry: the CLI and the API find experiments here. `V` is the shape
 * of its command-line values (see {@link ExperimentCommand}).
 */
export interface Experiment<O extends CommonOptions = CommonOptions, R = unknown, V = Record<string, unknown>> {
  name: string;
  description: string;
  /** Runs the experiment with `options` and returns its numbers, plots and report (not yet written to disk). */
  run(options: O): Promise<ExperimentOutput<R>>;
  /** Its `resnet lab <name>` sub-command: options, defaults, engine (absent: API only). */
  command?: ExperimentCommand<V>;
}

const registry = new Map<string, Experiment<never, unknown, never>>();

/** Adds an experiment (a later registration under the same name replaces the earlier one). */
export function registerExperiment<O extends CommonOptions, R, V>(e: Experiment<O, R, V>): void {
  registry.set(e.name, e as unknown as Experiment<never, unknown, never>);
}

/** The experiment called `name`; an error listing the known ones otherwise. */
export function getExperiment(name: string): Experiment<CommonOptions & Record<string, unknown>, unknown> {
  const e = registry.get(name);
  if (!e) throw new Error(`Unknown experiment '${name}'. Known: ${[...registry.keys()].join(', ')}.`);
  return e as unknown as Experiment<CommonOptions & Record<string, unknown>, unknown>;
}

/** Every registered experiment. */
export function listExperiments(): { name: string; description: string }[] {
  return [...registry.values()].map((e) => ({ name: e.name, description: e.description }));
}

/** Default output folder of an experiment. */
export function defaultOut(name: string): string {
  return path.join('runs', 'lab', name);
}

/**
 * Refuses, before any work, an output folder that cannot be one: an existing file, or a path under
 * one. Every `resnet lab` command checks its --out here first (an experiment used to run to the end,
 * then die writing its report).
 */
export function checkOutFolder(out: string): void {
  let firstMissing: string | undefined;
  for (let p = path.resolve(out); ; p = path.dirname(p)) {
    if (fs.existsSync(p)) {
      if (!fs.statSync(p).isDirectory())
        throw new ExperimentOutError(
          `--out ${out}: ${p === path.resolve(out) ? 'is a file' : `${p} is a file`}, not a folder; give a folder (new or existing).`,
        );
      break;
    }
    firstMissing = p;
    if (path.dirname(p) === p) break;
  }
  if (firstMissing === undefined) return;
  // A folder that cannot be made (no permission, /proc, /sys): said now, in one line; what was made to find out is removed.
  try {
    ensureDir(out);
  } catch (e) {
    throw new ExperimentOutError(`--out ${out}: ${(e as Error).message}`);
  }
  fs.rmSync(firstMissing, { recursive: true, force: true });
}

/** An output folder that cannot be one (see {@link checkOutFolder}). */
export class ExperimentOutError extends ResNetError {
  constructor(message: string) {
    super(message, 'EXPERIMENT_OUT');
  }
}

/** The command line of this process, for result.json. */
export function commandLine(): string {
  const argv = process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a);
  const bin = argv[0]?.includes('jest') ? 'jest' : argv[0]?.endsWith('bin.js') ? 'resnet' : `node ${argv[0] ?? ''}`;
  return [bin, ...argv.slice(1)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** Run information for result.json. */
export function runInfo(experiment: string, options: CommonOptions, started: number): RunInfo {
  return {
    experiment,
    command: options.command ?? commandLine(),
    engine: tf.getBackend(),
    seed: options.seed ?? 0,
    date: new Date().toISOString(),
    wallSeconds: (Date.now() - started) / 1000,
    ...(options.note ? { note: options.note } : {}),
  };
}

/**
 * Mean and sample standard deviation (divided by n − 1, as `torch.std` and the standard errors the
 * reports derive from it; 0 for one value, which has no spread to measure).
 */
export function meanStd(v: number[]): { mean: number; std: number } {
  if (v.length === 0) return { mean: NaN, std: NaN };
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = v.length < 2 ? 0 : Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1));
  return { mean, std };
}
