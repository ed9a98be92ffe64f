/**
 * One rule for "is this difference of two error rates evidence?", shared by the experiments that
 * compare nets (degradation's depth and shortcut gaps, transfer's pretrained vs scratch). A gap is
 * read as a difference only when
 *
 * - both errors are finite numbers (a net that diverged or did not finish gives no verdict);
 * - not both are within {@link NEAR_CHANCE_POINTS} points of chance (1 − 1/classes): nets that
 *   learnt next to nothing differ by luck;
 * - it exceeds the noise margin: twice the seed-to-seed spread with two or more seeds, and with one
 *   seed (no spread to measure) {@link ONE_SEED_MARGIN_POINTS} points; never less than
 *   {@link MIN_MARGIN_POINTS} points, nor than twice the standard error of the gap from the number
 *   of images each error was counted on (when given);
 * - with `needSpread` (the seed draws what varies most, e.g. transfer's few-shot sample), one seed
 *   gives no verdict at all.
 */
import { ResNetError } from '@resnet-ts/core';
import { pct } from './report.js';

/** Errors this close to chance (in points) say the net learnt (next to) nothing. */
export const NEAR_CHANCE_POINTS = 5;
/** With one seed a gap must exceed this many points to count: one seed cannot separate a few points from noise. */
export const ONE_SEED_MARGIN_POINTS = 5;
/** No gap under this many points counts, whatever the spread. */
export const MIN_MARGIN_POINTS = 2;

/** One side of a comparison: an error rate in [0, 1], its seed-to-seed spread and the images it was counted on. */
export interface ErrorSample {
  error: number;
  /** Standard deviation over seeds (ignored with one seed). */
  spread?: number;
  /** Images the error was counted on (for the sampling error of a rate). */
  images?: number;
}

/** What a comparison of `a` with `b` shows. */
export type Evidence =
  | { kind: 'no-number' }
  | { kind: 'near-chance'; chance: number }
  | { kind: 'one-seed' }
  | { kind: 'within-noise'; margin: number; seeds: number }
  | { kind: 'a-lower' | 'b-lower'; margin: number; seeds: number };

/** Compares two error rates of nets trained on `classes` classes over `seeds` seeds (see the module's rule). */
export function compareErrors(a: ErrorSample, b: ErrorSample, o: { classes: number; seeds: number; needSpread?: boolean }): Evidence {
  if (!Number.isFinite(a.error) || !Number.isFinite(b.error)) return { kind: 'no-number' };
  const chance = 1 - 1 / o.classes;
  const nearChance = (e: number) => e >= chance - NEAR_CHANCE_POINTS / 100;
  if (nearChance(a.error) && nearChance(b.error)) return { kind: 'near-chance', chance };
  if (o.needSpread && o.seeds < 2) return { kind: 'one-seed' };
  const spread = o.seeds >= 2 ? 2 * Math.max(a.spread ?? 0, b.spread ?? 0) : ONE_SEED_MARGIN_POINTS / 100;
  const se = (s: ErrorSample) => (s.images ? (s.error * (1 - s.error)) / s.images : 0);
  const sampling = a.images && b.images ? 2 * Math.sqrt(se(a) + se(b)) : 0;
  const margin = Math.max(MIN_MARGIN_POINTS / 100, Number.isFinite(spread) ? spread : Infinity, sampling);
  const gap = a.error - b.error;
  if (Math.abs(gap) <= margin) return { kind: 'within-noise', margin, seeds: o.seeds };
  return { kind: gap < 0 ? 'a-lower' : 'b-lower', margin, seeds: o.seeds };
}

/** Why a comparison gives no verdict, in words (empty when it does give one). */
export function noVerdictReason(e: Evidence): string {
  switch (e.kind) {
    case 'no-number':
      return 'cannot tell: a net diverged or did not finish (no finite error)';
    case 'near-chance':
      return `cannot tell: both errors are within ${NEAR_CHANCE_POINTS} points of chance (${(100 * e.chance).toFixed(0)} %), the nets learnt next to nothing`;
    case 'one-seed':
      return 'no evidence either way: one seed, and here the seed draws what varies most (e.g. the few-shot sample), so its spread is unknown';
    case 'within-noise':
      return e.seeds >= 2
        ? `cannot tell: the gap is within the noise margin of ${(100 * e.margin).toFixed(2)} points (twice the seed-to-seed spread, at least ${MIN_MARGIN_POINTS} points)`
        : `cannot tell: with one seed a gap under ${(100 * e.margin).toFixed(2)} points cannot be told from noise`;
    default:
      return '';
  }
}

/**
 * The rule in one sentence, for a report whose comparisons are of nets trained with one seed each
 * (degradation, shortcuts) on `classes` classes.
 */
export function oneSeedRuleSentence(classes: number): string {
  return (
    `A gap counts only between nets that finished, not both within ${NEAR_CHANCE_POINTS} points of chance (${pct(1 - 1 / classes)}), and over the noise margin: one seed here, so at least ${ONE_SEED_MARGIN_POINTS} points ` +
    '(and twice the sampling error of the two rates); a smaller gap cannot be told from noise without more seeds.'
  );
}

/** Whether no net of a training experiment produced a finite error (every one diverged or stopped): the run then fails (see {@link ExperimentFailedError}). */
export function noFiniteError(runs: { trainError: number; testError: number }[]): boolean {
  return runs.every((r) => !Number.isFinite(r.trainError) && !Number.isFinite(r.testError));
}

/** A run of an experiment in which no net produced a finite number (every one diverged or stopped): exits non-zero after its report is written. */
export class ExperimentFailedError extends ResNetError {
  constructor(message: string) {
    super(message, 'EXPERIMENT_FAILED');
  }
}
