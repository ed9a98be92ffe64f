/**
 * The one place command-line options are declared and checked. Every option that takes a value is
 * made with {@link opt} and a *kind* ({@link integer}, {@link number}, {@link choice}, {@link text},
 * {@link integerList}, {@link choiceList}, {@link inputSize}) that says what is allowed; the value is
 * checked when commander parses it — before the command does any work — and a bad one is a one-line
 * {@link UserError} naming the option and the allowed range:
 * `resnet: --batch must be an integer from 1 to 65536; got 0`.
 *
 * Nothing is silently reinterpreted: 0 is either a meaningful value of the option (e.g.
 * `--checkpoint-every 0`: only at epoch ends) or refused. A test walks every command of the program
 * and fails for any value-taking option not declared here (see test/options.test.ts).
 */
import { closestNames } from '@resnet-ts/core';
import { Option } from 'commander';
import { UserError } from './util.js';

/** What an option accepts: a description for errors and help, and the parser of its text. */
export interface OptionKind<T> {
  /** "an integer from 1 to 65536", "one of nchw, nhwc", ... */
  readonly expects: string;
  /** Parses the text given for `flag`; throws a {@link UserError} when it is not allowed. */
  parse(text: string, flag: string): T;
}

/** Marks the parsers made by {@link opt}, so that a test can prove that no option skips them. */
export const VALIDATED = Symbol('resnet-ts validated option');

const shown = (text: string) => (text.trim() === '' ? `'${text}'` : text);

function refuse(flag: string, expects: string, text: string): never {
  throw new UserError(`${flag} must be ${expects}; got ${shown(text)}`);
}

/** Decimal numbers only: no hex, no `Infinity`, no empty string (which `Number` reads as 0). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

const fmt = (x: number) => (Math.abs(x) >= 1e5 && Number.isInteger(Math.log10(Math.abs(x))) ? `1e${Math.log10(Math.abs(x))}` : String(x));

/** An extra rule on integers, e.g. {@link CIFAR_DEPTH}. */
export interface IntegerRule {
  check: (n: number) => boolean;
  /** Appended to the range in errors: "…, each 6n+2 (…)". */
  expects: string;
}

/** One of a few integers, e.g. `--channels` 1 or 3: "must be 1 or 3". */
export function integerOf(values: readonly number[]): OptionKind<number> {
  const expects = `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
  return {
    expects,
    parse(text, flag) {
      const n = DECIMAL.test(text.trim()) ? Number(text) : NaN;
      if (!values.includes(n)) refuse(flag, expects, text);
      return n;
    },
  };
}

/** An integer in [min, max] (that also passes `rule`, when given). */
export function integer(min: number, max: number, rule?: IntegerRule): OptionKind<number> {
  const expects = `an integer from ${fmt(min)} to ${fmt(max)}${rule ? `, ${rule.expects}` : ''}`;
  return {
    expects,
    parse(text, flag) {
      const n = DECIMAL.test(text.trim()) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < min || n > max || (rule && !rule.check(n))) refuse(flag, expects, text);
      return n;
    },
  };
}

/** Bounds of a {@link number} option; `above`/`below` are exclusive, `min`/`max` inclusive. */
export interface NumberRange {
  min?: number;
  max?: number;
  above?: number;
  below?: number;
}

/** A finite decimal number within `range`. */
export function number(range: NumberRange): OptionKind<number> {
  const lo = range.above !== undefined ? `> ${fmt(range.above)}` : range.min !== undefined ? `>= ${fmt(range.min)}` : undefined;
  const hi = range.below !== undefined ? `< ${fmt(range.below)}` : range.max !== undefined ? `<= ${fmt(range.max)}` : undefined;
  const expects = `a number${lo ? ` ${lo}` : ''}${lo && hi ? ' and' : ''}${hi ? ` ${hi}` : ''}`;
  return {
    expects,
    parse(text, flag) {
      const x = DECIMAL.test(text.trim()) ? Number(text) : NaN;
      const ok =
        Number.isFinite(x) &&
        (range.min === undefined || x >= range.min) &&
        (range.max === undefined || x <= range.max) &&
        (range.above === undefined || x > range.above) &&
        (range.below === undefined || x < range.below);
      if (!ok) refuse(flag, expects, text);
      return x;
    },
  };
}

/** One of a fixed set of words. */
export function choice<T extends string>(values: readonly T[]): OptionKind<T> {
  const expects = `one of ${values.join(', ')}`;
  return {
    expects,
    parse(text, flag) {
      if (!(values as readonly string[]).includes(text)) refuse(flag, expects, text);
      return text as T;
    },
  };
}

/** Free text (a name, a path, a note): only an empty value is refused. */
export function text(what = 'a name or path'): OptionKind<string> {
  const expects = `${what} (not empty)`;
  return {
    expects,
    parse(value, flag) {
      if (value.trim() === '') refuse(flag, expects, value);
      return value;
    },
  };
}

/**
 * A data set (`--data`): one of the names the trainer knows (fashion-mnist, mnist, cifar10, cifar100)
 * or an existing folder, checked by the trainer's one rule (`identifyDataSource`): a path that does
 * not exist is "No such folder", a file is said to be a file, a mistyped name gets the closest names.
 * The trainer is loaded only when the option is given, so that `predict` does not load it.
 */
export function dataSet(): OptionKind<string> {
  const expects = 'a data set name (fashion-mnist, mnist, cifar10, cifar100) or a folder';
  return {
    expects,
    parse(value, flag) {
      if (value.trim() === '') refuse(flag, expects, value);
      const { identifyDataSource } = require('@resnet-ts/train') as typeof import('@resnet-ts/train');
      identifyDataSource(value, closestNames);
      return value;
    },
  };
}

/**
 * Refuses a list that names a value twice (`--seeds 0,0`, `--depths 20,20`): the repeat would be run
 * again or counted twice (a spread over "seeds" that are one seed), never asked for on purpose.
 */
export function refuseRepeats<T>(flag: string, parts: T[], text: string): T[] {
  const twice = parts.find((p, i) => parts.indexOf(p) !== i);
  if (twice !== undefined) throw new UserError(`${flag} lists ${String(twice)} twice: give each value once; got ${text}`);
  return parts;
}

/** A comma-separated list of integers in [min, max] (at least one, each once; `extra` adds a rule), e.g. `--depths 20,56`. */
export function integerList(min: number, max: number, extra?: IntegerRule): OptionKind<number[]> {
  const expects = `a comma-separated list of integers from ${fmt(min)} to ${fmt(max)}${extra ? `, ${extra.expects}` : ''}`;
  return {
    expects,
    parse(value, flag) {
      const parts = value.split(',').map((s) => s.trim());
      const numbers = parts.map((p) => {
        const n = DECIMAL.test(p) ? Number(p) : NaN;
        if (!Number.isInteger(n) || n < min || n > max || (extra && !extra.check(n))) refuse(flag, expects, value);
        return n;
      });
      return refuseRepeats(flag, numbers, value);
    },
  };
}

/** A comma-separated list of words from `values` (at least one, each once). */
export function choiceList<T extends string>(values: readonly T[]): OptionKind<T[]> {
  const expects = `a comma-separated list of ${values.join(', ')}`;
  return {
    expects,
    parse(value, flag) {
      const parts = value.split(',').map((s) => s.trim());
      if (!parts.every((p) => (values as readonly string[]).includes(p))) refuse(flag, expects, value);
      return refuseRepeats(flag, parts as T[], value);
    },
  };
}

/** `HxW` or `HxWxC` with every part a positive integer (at most 65536 pixels a side, 4096 channels). */
export function inputSize(): OptionKind<[number, number, number | undefined]> {
  const expects = 'HxW or HxWxC with positive integers (e.g. 224x224x3, 28x28x1)';
  return {
    expects,
    parse(value, flag) {
      const m = /^(\d+)x(\d+)(?:x(\d+))?$/.exec(value.trim());
      const [h, w, c] = m ? [Number(m[1]), Number(m[2]), m[3] === undefined ? undefined : Number(m[3])] : [0, 0, 0];
      if (!m || h < 1 || w < 1 || h > 65536 || w > 65536 || (c !== undefined && (c < 1 || c > 4096))) refuse(flag, expects, value);
      return [h, w, c];
    },
  };
}

/**
 * Per-channel values on the [0, 1] pixel scale, as torchvision's `Normalize` takes them: one value (for
 * every channel) or three, comma-separated; `positive` for standard deviations. A value above 1 is
 * the 0-255 scale (Caffe's `123.68,116.78,103.94`), refused with the values divided by 255.
 */
export function channelValues(positive: boolean): OptionKind<number[]> {
  const range = positive ? 'above 0 and at most 1' : 'from 0 to 1';
  const expects = `1 or 3 comma-separated numbers ${range} (the [0, 1] pixel scale, as torchvision's Normalize)`;
  return {
    expects,
    parse(value, flag) {
      const parts = value.split(',').map((p) => p.trim());
      const values = parts.map((p) => (DECIMAL.test(p) ? Number(p) : NaN));
      if (values.length !== 1 && values.length !== 3) refuse(flag, expects, value);
      if (values.some((v) => Number.isFinite(v) && v > 1 && v <= 255) && values.every((v) => Number.isFinite(v) && v >= 0 && v <= 255)) {
        const scaled = values.map((v) => +(v / 255).toFixed(4)).join(',');
        throw new UserError(
          `${flag} ${value} is on the 0-255 scale; give it on the [0, 1] scale, as torchvision's Normalize takes it: ${flag} ${scaled}`,
        );
      }
      if (values.some((v) => !Number.isFinite(v) || v < 0 || v > 1 || (positive && v === 0))) refuse(flag, expects, value);
      return values;
    },
  };
}

/**
 * `N` or `HxW`, positive integers up to 4096 (a 4096x4096 RGB input is already 200 MB of float32): a
 * size; `N` is kept as a number (e.g. resize's short side).
 */
export function imageSize(what: string): OptionKind<number | [number, number]> {
  const expects = `N or HxW with integers from 1 to 4096 (${what})`;
  return {
    expects,
    parse(value, flag) {
      const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
      const sizes = m ? [Number(m[1]), ...(m[2] === undefined ? [] : [Number(m[2])])] : [0];
      if (!m || sizes.some((n) => n < 1 || n > 4096)) refuse(flag, expects, value);
      return sizes.length === 1 ? sizes[0] : [sizes[0], sizes[1]];
    },
  };
}

/** Text matching `pattern` (whole value), described by `expects` in errors and help, e.g. `none, stem, up-to:layerK or backbone`. */
export function matching(pattern: RegExp, expects: string): OptionKind<string> {
  const whole = new RegExp(`^(?:${pattern.source})$`);
  return {
    expects,
    parse(value, flag) {
      if (!whole.test(value)) refuse(flag, expects, value);
      return value;
    },
  };
}

/** Depths of the CIFAR family: 6n+2 (8, 14, 20, 32, 44, 56, 110, ...). */
export const CIFAR_DEPTH: IntegerRule = { check: (d) => d >= 8 && (d - 2) % 6 === 0, expects: '6n+2 (8, 14, 20, 32, 56, 110, ...)' };

/**
 * A commander option whose value is checked by `kind` (add it with `command.addOption(...)`). The
 * error names the option's long flag; the default, when given, is shown in the help as usual.
 */
export function opt<T>(flags: string, description: string, kind: OptionKind<T>, defaultValue?: T): Option {
  const option = new Option(flags, description);
  const flag = option.long ?? option.short ?? flags;
  // A repeat with another value is refused for every option alike (repeated-options.ts).
  const parse = (value: string): T => kind.parse(value, flag);
  const parser = Object.assign(parse, { [VALIDATED]: true });
  option.argParser(parser);
  if (defaultValue !== undefined) option.default(defaultValue);
  return option;
}

/** A mandatory option (see {@link opt}). */
export function requiredOpt<T>(flags: string, description: string, kind: OptionKind<T>): Option {
  return opt(flags, description, kind).makeOptionMandatory();
}
