/**
 * NaN and ±Inf in loaded weights. A model with one NaN weight answers NaN (or, on an engine that
 * hid it, a plausible wrong class), so every weights loader counts the non-finite values of the
 * tensors it puts into a model and, by the policy in force, warns with one line, refuses the file,
 * or stays quiet. Browser-safe (no Node APIs): the Node loaders in `@resnet-ts/core/node` and the
 * byte-based loader use the same functions.
 */
import { ResNetError } from '../errors.js';

/** What a loader does with weights that hold NaN or ±Inf: one warning line (default), an error, or nothing. */
export type NonFinitePolicy = 'warn' | 'error' | 'ignore';

/** A tensor that holds non-finite values, and how many. */
export interface NonFiniteTensor {
  name: string;
  count: number;
}

/** Weights refused because they hold NaN or ±Inf (policy `'error'`). */
export class NonFiniteWeightsError extends ResNetError {
  constructor(
    message: string,
    /** The tensors that hold non-finite values. */
    readonly tensors: NonFiniteTensor[],
  ) {
    super(message, 'NON_FINITE');
  }
}

let defaultPolicy: NonFinitePolicy = 'warn';

/**
 * Sets the policy of loaders that are not given one (the CLI's `--strict-finite` sets `'error'`).
 * Returns the previous one.
 */
export function setNonFinitePolicy(policy: NonFinitePolicy): NonFinitePolicy {
  const previous = defaultPolicy;
  defaultPolicy = policy;
  return previous;
}

/** The policy of loaders that are not given one (see {@link setNonFinitePolicy}). */
export function nonFinitePolicy(): NonFinitePolicy {
  return defaultPolicy;
}

/** How many of `values` are NaN, +Inf or -Inf. */
export function countNonFinite(values: ArrayLike<number>): number {
  return allFinite(values) ? 0 : countEach(values);
}

/**
 * Whether every value is finite, screened without a branch per value: `v * 0` is NaN exactly for
 * NaN and ±Inf (else ±0), so the sums stay 0 unless one is not finite. Four sums let the loop run
 * ~3x faster than {@link countEach} (25 ms for a ResNet-50's 25M weights).
 */
function allFinite(v: ArrayLike<number>): boolean {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  const n = v.length - (v.length % 4);
  for (let i = 0; i < n; i += 4) {
    s0 += v[i] * 0;
    s1 += v[i + 1] * 0;
    s2 += v[i + 2] * 0;
    s3 += v[i + 3] * 0;
  }
  for (let i = n; i < v.length; i++) s0 += v[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

function countEach(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) n++; // NaN exactly for NaN and ±Inf
  return n;
}

/**
 * Collects the non-finite counts of the tensors a loader reads, then applies a policy to them:
 * `add` each float tensor as it is read, then `check` once.
 */
export class NonFiniteTally {
  readonly found: NonFiniteTensor[] = [];
  private tensors = 0;

  constructor(
    /** Names the weights in messages (a file name or URL). */
    readonly source: string,
    readonly policy: NonFinitePolicy = defaultPolicy,
  ) {}

  /** Counts the non-finite values of one tensor (a no-op under policy `'ignore'`). */
  add(name: string, values: ArrayLike<number>): void {
    if (this.policy === 'ignore') return;
    this.tensors++;
    const count = countNonFinite(values);
    if (count > 0) this.found.push({ name, count });
  }

  /** What was found, e.g. `3 of 62 tensors hold NaN or Inf (6 values: conv1.weight, ...)`. Empty when nothing was. */
  summary(): string {
    if (this.found.length === 0) return '';
    const values = this.found.reduce((a, t) => a + t.count, 0);
    const names = this.found.slice(0, 3).map((t) => t.name);
    const more = this.found.length > 3 ? `, ... (${this.found.length} in all)` : '';
    return `${this.found.length} of ${this.tensors} tensors hold NaN or Inf (${values.toLocaleString('en-US')} values: ${names.join(', ')}${more})`;
  }

  /** {@link summary} after the source's name: one line for messages. Empty when nothing was found. */
  describe(): string {
    return this.found.length === 0 ? '' : `${this.source}: ${this.summary()}`;
  }

  /**
   * Applies the policy: `'warn'` calls `warn` with one line (default `console.warn`), `'error'`
   * throws a {@link NonFiniteWeightsError}. Nothing happens when every value was finite.
   */
  check(warn: (message: string) => void = (m) => console.warn(m)): void {
    const what = this.describe();
    if (!what || this.policy === 'ignore') return;
    if (this.policy === 'error') {
      throw new NonFiniteWeightsError(
        `${what}: refusing them (strict finite check). A diverged run writes such values; use an earlier checkpoint.`,
        this.found,
      );
    }
    warn(`warning: ${what}; outputs computed with them will be NaN or meaningless.`);
  }
}
