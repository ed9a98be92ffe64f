/**
 * Errors raised by resnet-ts. Each carries a stable `code` and a message that says what was wrong
 * and what to do about it, so callers never have to read a stack trace from inside tfjs.
 */
export class ResNetError extends Error {
  constructor(
    message: string,
    /** Stable machine-readable code, e.g. `SHAPE`, `UNKNOWN_BLOCK`, `STATE_DICT`. */
    readonly code: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor had the wrong rank, shape or channel count. */
export class ShapeError extends ResNetError {
  constructor(message: string) {
    super(message, 'SHAPE');
  }
}

/** A block, shortcut or backend name that nothing registered. */
export class RegistryError extends ResNetError {
  constructor(message: string, code = 'REGISTRY') {
    super(message, code);
  }
}

/** A spec (architecture description) that cannot be built. */
export class SpecError extends ResNetError {
  constructor(message: string) {
    super(message, 'SPEC');
  }
}

/** A state dict with missing, unexpected or mis-shaped entries. */
export class StateDictError extends ResNetError {
  constructor(
    message: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: { key: string; expected: number[]; found: number[] }[],
  ) {
    super(message, 'STATE_DICT');
  }
}

/** A weight or tensor file that is truncated, corrupt or of an unsupported kind. */
export class FormatError extends ResNetError {
  constructor(message: string) {
    super(message, 'FORMAT');
  }
}

/** A backend that was asked for but cannot run here. */
export class BackendError extends ResNetError {
  constructor(message: string) {
    super(message, 'BACKEND');
  }
}

/** Formats a shape as `[a, b, c]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Formats a value a caller gave, for the "got ..." of a message: a number as it is (`10`, `NaN`,
 * `2.5`), a string quoted (`"V1"`) and, where it reads as a number or a boolean, said to be a string
 * (`"10" (a string)`), so that a value of the wrong type never reads as a fine one; arrays and
 * objects as short JSON (`[4,8]`), `true`, `undefined`.
 */
export function fmtValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'bigint') return `${String(value)}n (a bigint)`;
  if (typeof value === 'string') {
    const looksTyped = /^(true|false|null)$/.test(value.trim()) || (value.trim() !== '' && Number.isFinite(Number(value)));
    return `${cut(JSON.stringify(value))}${looksTyped ? ' (a string)' : ''}`;
  }
  if (typeof value === 'object') return shortJson(value);
  return `a ${typeof value}`;
}

/** JSON of a value, cut to 60 characters; `[...]` / `{...}` where it has none (cycles, bigints). */
function shortJson(value: object): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) return Array.isArray(value) ? '[...]' : '{...}';
  return cut(text);
}

/** `text`, cut to 60 characters. */
function cut(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
