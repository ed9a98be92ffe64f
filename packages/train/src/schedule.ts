import { fmtValue } from '@resnet-ts/core';
import { TrainError } from './errors.js';

/**
 * A learning-rate schedule as data (so checkpoints can record it), defined per iteration (step,
 * counted from 0). Compose with `warmup`, whose `then` schedule sees the absolute iteration.
 */
export type ScheduleSpec =
  | { type: 'constant'; lr: number }
  /** lr * gamma^(number of milestones <= iteration); the paper: 0.1, [32000, 48000], 0.1. */
  | { type: 'multistep'; lr: number; milestones: number[]; gamma?: number }
  /** Cosine annealing from lr to minLr over `total` iterations. */
  | { type: 'cosine'; lr: number; total: number; minLr?: number }
  /**
   * Warm-up for the first `iterations`: 'constant' holds `startLr` (the paper's ResNet-110: 0.01 for
   * ~400 iterations), 'linear' ramps from `startLr` to the `then` schedule's value.
   */
  | { type: 'warmup'; iterations: number; startLr: number; mode?: 'linear' | 'constant'; then: ScheduleSpec };

/** The learning rate at `iteration` (0-based). */
export function learningRate(spec: ScheduleSpec, iteration: number): number {
  switch (spec.type) {
    case 'constant':
      return spec.lr;
    case 'multistep': {
      let k = 0;
      for (const m of spec.milestones) if (iteration >= m) k++;
      return spec.lr * (spec.gamma ?? 0.1) ** k;
    }
    case 'cosine': {
      const min = spec.minLr ?? 0;
      const t = Math.min(Math.max(iteration, 0), spec.total) / spec.total;
      return min + 0.5 * (spec.lr - min) * (1 + Math.cos(Math.PI * t));
    }
    case 'warmup': {
      if (iteration >= spec.iterations) return learningRate(spec.then, iteration);
      if ((spec.mode ?? 'linear') === 'constant') return spec.startLr;
      const target = learningRate(spec.then, spec.iterations);
      return spec.startLr + ((target - spec.startLr) * iteration) / spec.iterations;
    }
    default:
      throw new TrainError(`Unknown schedule type ${JSON.stringify((spec as { type: unknown }).type)}.`, 'OPTIONS');
  }
}

/** The schedule's base (peak) learning rate: its `lr`, or that of the schedule after a warm-up. */
export function baseLearningRate(spec: ScheduleSpec): number {
  return spec.type === 'warmup' ? baseLearningRate(spec.then) : spec.lr;
}

/**
 * The schedule in words for a console line, e.g. `0.1, /10 at steps 500 and 750 (of 1000)`,
 * `cosine from 0.1 to 0 over 1000 steps`, `0.01 for 400 steps, then ...`.
 */
export function describeSchedule(spec: ScheduleSpec): string {
  switch (spec.type) {
    case 'constant':
      return `constant ${spec.lr}`;
    case 'multistep': {
      const g = spec.gamma ?? 0.1;
      const by = g > 0 && Number.isInteger(1 / g) ? `/${1 / g}` : `x${g}`;
      const at = spec.milestones.length ? `, ${by} at step${spec.milestones.length > 1 ? 's' : ''} ${[...spec.milestones].sort((a, b) => a - b).join(' and ')}` : '';
      return `${spec.lr}${at}`;
    }
    case 'cosine':
      return `cosine from ${spec.lr} to ${spec.minLr ?? 0} over ${spec.total} steps`;
    case 'warmup':
      return `${(spec.mode ?? 'linear') === 'constant' ? `${spec.startLr} for` : `linear warm-up from ${spec.startLr} over`} ${spec.iterations} steps, then ${describeSchedule(spec.then)}`;
    default:
      return JSON.stringify(spec);
  }
}

/**
 * A note when the schedule's warm-up lasts as long as the run (`totalSteps`) or longer: the schedule
 * after it is never reached (e.g. `--warmup 1000 --iterations 3` trains at lr/10 throughout).
 */
export function warmupNote(spec: ScheduleSpec, totalSteps: number): string | undefined {
  if (spec.type !== 'warmup' || spec.iterations < totalSteps) return undefined;
  return (
    `note: the warm-up of ${spec.iterations} steps covers the whole run of ${totalSteps} step${totalSteps > 1 ? 's' : ''}: ` +
    `the learning rate never reaches the schedule after it (${describeSchedule(spec.then)}); give a --warmup below ${totalSteps}, or none`
  );
}

/**
 * The steps of a run on `trainSize` images: per epoch (`ceil(trainSize / batchSize)`, the last batch
 * smaller) and in all (`iterations`, else `epochs` of them, rounded). A run of less than one step is
 * a {@link TrainError} saying how many epochs make one (for a command to refuse before it starts).
 */
export function runLength(trainSize: number, o: { batchSize?: number; epochs?: number; iterations?: number }): { stepsPerEpoch: number; totalSteps: number } {
  const { batchSize = 128, epochs = 1 } = o;
  const stepsPerEpoch = Math.ceil(trainSize / batchSize);
  const totalSteps = o.iterations ?? Math.round(epochs * stepsPerEpoch);
  if (totalSteps < 1) {
    const least = 0.5 / stepsPerEpoch;
    const unit = 10 ** (Math.floor(Math.log10(least)) - 1);
    const min = Number((Math.ceil(least / unit) * unit).toPrecision(2));
    throw new TrainError(
      `--epochs ${epochs} is less than one step of ${Math.min(batchSize, trainSize)} images (an epoch of ${trainSize} images is ${stepsPerEpoch} ` +
        `step${stepsPerEpoch > 1 ? 's' : ''}): give --epochs ${min} or more, or --iterations.`,
      'OPTIONS',
    );
  }
  return { stepsPerEpoch, totalSteps };
}

/** A schedule as a function of the iteration. */
export function makeSchedule(spec: ScheduleSpec): (iteration: number) => number {
  validateSchedule(spec);
  return (it) => learningRate(spec, it);
}

/** The kinds of {@link ScheduleSpec}, for messages. */
const SCHEDULE_TYPES = ['constant', 'multistep', 'cosine', 'warmup'];

/**
 * Throws a {@link TrainError} for a malformed schedule, one line naming the field, its value and what
 * is allowed: every rate (`lr`, `minLr`, `startLr`) a finite number >= 0 (`minLr` above `lr` too); `gamma`
 * finite and > 0 (as PyTorch's schedulers); `milestones` whole numbers in any order (a repeated one
 * applies gamma twice, as PyTorch's Counter); `total` a whole number >= 1; `iterations` a whole number
 * >= 0; `mode` 'linear' or 'constant'; `type` one of the four kinds, at every level of a warm-up.
 */
export function validateSchedule(spec: ScheduleSpec): void {
  if (!spec || typeof spec !== 'object')
    throw scheduleError(`a schedule must be an object with a type (${SCHEDULE_TYPES.join(', ')}); got ${fmtValue(spec)}`);
  const s = spec as unknown as Record<string, unknown>;
  const fail = (field: string, allowed: string, fix: string) =>
    scheduleError(`${spec.type} schedule: ${field} is ${fmtValue(s[field])}; it must be ${allowed}: ${fix}.`);
  const rate = (field: string, optional = false) => {
    if (optional && s[field] === undefined) return;
    const v = s[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw fail(
        field,
        'a finite number >= 0',
        typeof v === 'number' && v < 0 ? `give ${-v} (a negative rate climbs the loss)` : 'give a number such as 0.1',
      );
  };
  const whole = (v: unknown, least: number) => typeof v === 'number' && Number.isInteger(v) && v >= least;
  switch (spec.type) {
    case 'constant':
      rate('lr');
      return;
    case 'multistep': {
      rate('lr');
      const m = s.milestones;
      // In any order, as PyTorch's MultiStepLR (a Counter): the rate is lr * gamma^(milestones passed).
      if (!Array.isArray(m) || m.some((x) => !whole(x, 0)))
        throw fail('milestones', 'a list of whole numbers of steps (>= 0)', 'give e.g. [32000, 48000]');
      if (s.gamma !== undefined && !(typeof s.gamma === 'number' && Number.isFinite(s.gamma) && s.gamma > 0))
        throw fail('gamma', 'a finite number > 0 (the factor at each milestone)', 'give e.g. 0.1, or leave it out');
      return;
    }
    case 'cosine':
      rate('lr');
      rate('minLr', true); // above lr too, as PyTorch's eta_min: the rate then rises to it
      if (!whole(s.total, 1)) throw fail('total', 'a whole number of steps >= 1', "give the run's number of steps");
      return;
    case 'warmup':
      if (!whole(s.iterations, 0)) throw fail('iterations', 'a whole number of steps >= 0', 'give e.g. 400');
      rate('startLr');
      if (s.mode !== undefined && s.mode !== 'linear' && s.mode !== 'constant')
        throw fail('mode', "'linear' or 'constant'", "give 'linear' (a ramp) or 'constant'");
      if (!s.then || typeof s.then !== 'object')
        throw fail('then', 'the schedule after the warm-up', "give e.g. { type: 'constant', lr: 0.1 }");
      validateSchedule(spec.then);
      return;
    default:
      throw scheduleError(
        `schedule type ${fmtValue(s.type)} is unknown; it must be one of ${SCHEDULE_TYPES.map((t) => `'${t}'`).join(', ')}: give one of them.`,
      );
  }
}

function scheduleError(m: string): TrainError {
  return new TrainError(`Bad learning-rate schedule: ${m}`, 'OPTIONS');
}

/** The paper's CIFAR schedule: 0.1, divided by 10 at 32k and 48k iterations (stop at 64k). */
export function paperSchedule(lr = 0.1): ScheduleSpec {
  return { type: 'multistep', lr, milestones: [32000, 48000], gamma: 0.1 };
}

/** The paper's schedule scaled to `total` iterations: /10 at 50% and 75% (32k/64k, 48k/64k). */
export function scaledPaperSchedule(total: number, lr = 0.1): ScheduleSpec {
  return { type: 'multistep', lr, milestones: [Math.round(total * 0.5), Math.round(total * 0.75)], gamma: 0.1 };
}

/** The paper's ResNet-110 warm-up: 0.01 until `iterations`, then `then`. */
export function paperWarmup(then: ScheduleSpec, iterations = 400, startLr = 0.01): ScheduleSpec {
  return { type: 'warmup', iterations, startLr, mode: 'constant', then };
}
