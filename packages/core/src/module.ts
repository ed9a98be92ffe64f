import * as tf from '@tensorflow/tfjs-core';
import { SpecError, StateDictError, fmtShape, fmtValue } from './errors.js';
import { deferredTranspose } from './kernels/deferred-transpose.js';
import { assertNHWC } from './input-checks.js';

export { assertNHWC };

/**
 * How a parameter is laid out here versus in PyTorch. tfjs convolves with HWIO filters and
 * multiplies `x @ W` with W as [in, out]; PyTorch stores OIHW and [out, in]. State dicts can be read
 * and written in either layout (`layout: 'torch'` transposes).
 */
export type ParamLayout = 'conv2d' | 'linear' | 'plain';

/** Per-call options of {@link Module.forward}. */
export interface ForwardContext {
  /** Train mode: batch norm uses batch statistics and updates its running averages. */
  training: boolean;
}

/** A shape without its batch dimension: `[h, w, c]` for feature maps, `[features]` after pooling. */
export type Shape = number[];

/** One row of a model summary: a leaf layer, its shapes and its cost. */
export interface LayerRow {
  /** Dotted torchvision-style path, e.g. `layer2.0.conv1`. */
  name: string;
  type: string;
  inputShape: Shape;
  outputShape: Shape;
  params: number;
  /** Multiply-adds per image (the paper's "FLOPs"). */
  macs: number;
}

/** Collects {@link LayerRow}s while a model describes itself (no tensors are run). */
export class Tracer {
  constructor(
    readonly rows: LayerRow[] = [],
    readonly prefix = '',
  ) {}
  /** A tracer whose rows are named under `name`. */
  scope(name: string): Tracer {
    return new Tracer(this.rows, this.prefix ? `${this.prefix}.${name}` : name);
  }
  /** Adds a summary row, named `name` under this tracer's prefix (the prefix itself if `name` is empty). */
  record(row: Omit<LayerRow, 'name'>, name = ''): void {
    const full = name ? (this.prefix ? `${this.prefix}.${name}` : name) : this.prefix;
    this.rows.push({ name: full, ...row });
  }
}

/**
 * How the tensors of a state dict are laid out: `tfjs` (tfjs's own: HWIO convs, [in, out] linear, as
 * the model holds them) or `torch` (PyTorch's: OIHW convs, [out, in] linear, as in weight files).
 * (`native`, the old name of `tfjs`, is still read; it was renamed because `native` also names an engine.)
 */
export type TensorLayout = 'tfjs' | 'torch';

/** The layout named by `layout`, reading the old name `native` as `tfjs`. */
function tensorLayout(layout: TensorLayout | undefined): TensorLayout {
  if ((layout as string | undefined) === 'native' || layout === undefined) return 'tfjs';
  // A typo ('pytorch') gave the tfjs layout without a word.
  if (layout !== 'tfjs' && layout !== 'torch') throw new SpecError(`layout must be 'tfjs' or 'torch'; got ${fmtValue(layout)}.`);
  return layout;
}

/** Options of {@link Module.stateDict}. */
export interface StateDictOptions {
  /** `tfjs` (default): HWIO convs, [in, out] linear. `torch`: OIHW, [out, in]. */
  layout?: TensorLayout;
  /** Include `num_batches_tracked` (int32 here, int64 in PyTorch files). Default true. */
  includeNumBatchesTracked?: boolean;
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Throw on missing, unexpected or mis-shaped keys (default true). */
  strict?: boolean;
  /** Layout of the incoming tensors (default `tfjs`). */
  layout?: TensorLayout;
}

/** What {@link Module.loadStateDict} found. */
export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; found: number[] }[];
}

interface ParamEntry {
  variable: tf.Variable;
  layout: ParamLayout;
}

const NUM_BATCHES_TRACKED = 'num_batches_tracked';

/** Converts between our layout and PyTorch's for one tensor. */
export function toTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  if (layout === 'conv2d') return permute(t, [3, 2, 0, 1]);
  if (layout === 'linear') return permute(t, [1, 0]);
  return tf.clone(t);
}

/**
 * Inverse of {@link toTorchLayout}. Where the backend defers transposes (see
 * kernels/deferred-transpose.ts), the reordered copy is made only when its values are first read.
 */
export function fromTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  if (layout === 'plain') return tf.clone(t);
  const perm = layout === 'conv2d' ? [2, 3, 1, 0] : [1, 0];
  return deferredTranspose(t, perm) ?? permute(t, perm);
}

/**
 * Backends whose Transpose kernel is tfjs's generic one, which computes every element's coordinates
 * (seconds for a ResNet-50's weights on cpu, minutes under jest): their tensors live in host memory,
 * so {@link permute} reorders the values in one plain pass instead. Other backends (the GPU ones,
 * and `native`, whose Transpose is a oneDNN reorder on all cores) keep the transpose op.
 */
const GENERIC_TRANSPOSE_BACKENDS = new Set(['cpu', 'wasm']);

/** `tf.transpose(t, perm)`, as one pass over the values where the backend's own transpose is slow. */
function permute(t: tf.Tensor, perm: number[]): tf.Tensor {
  if (!GENERIC_TRANSPOSE_BACKENDS.has(tf.getBackend()) || t.dtype !== 'float32') return tf.transpose(t, perm);
  return tf.tensor(
    permuteValues(t.dataSync() as Float32Array, t.shape, perm),
    perm.map((p) => t.shape[p]),
    'float32',
  );
}

/**
 * The values of a row-major array of `shape` with its axes reordered as `perm` says (the values
 * `tf.transpose` would give). The destination's innermost axis is copied in blocks of
 * {@link PERMUTE_BLOCK}: a block's source rows stay in cache while the other axes are walked, which
 * halves the time of PyTorch's OIHW -> HWIO (its innermost axis is the source's outermost).
 */
export function permuteValues(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  if (dst.length === 0) return dst;
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0];
    return dst;
  }
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesOf(shape);
  // For each output axis, the stride to step in the source.
  const step = perm.map((p) => inStrides[p]);
  const last = rank - 1;
  const n = outShape[last];
  const stepLast = step[last];
  const rows = dst.length / n;
  const block = stepLast === 1 ? n : PERMUTE_BLOCK;
  const index = new Array<number>(rank).fill(0);
  for (let j0 = 0; j0 < n; j0 += block) {
    const j1 = Math.min(n, j0 + block);
    index.fill(0);
    let from = j0 * stepLast;
    for (let row = 0, d = 0; row < rows; row++, d += n) {
      for (let j = j0, s = from; j < j1; j++, s += stepLast) dst[d + j] = src[s];
      // Advance the other output axes like an odometer, moving the source offset along.
      for (let a = last - 1; a >= 0; a--) {
        from += step[a];
        if (++index[a] < outShape[a]) break;
        from -= step[a] * outShape[a];
        index[a] = 0;
      }
    }
  }
  return dst;
}

/** Width of the innermost-axis blocks of {@link permuteValues}. */
const PERMUTE_BLOCK = 16;

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) strides[a] = strides[a + 1] * shape[a + 1];
  return strides;
}

/** The shape a tensor of ours has in PyTorch's layout (OIHW convs, [out, in] linear). */
export function torchShape(shape: number[], layout: ParamLayout): number[] {
  if (layout === 'conv2d') return [shape[3], shape[2], shape[0], shape[1]];
  if (layout === 'linear') return [shape[1], shape[0]];
  return shape;
}

/**
 * A node of a model: an ordered tree of named children, trainable parameters and buffers (such as
 * batch-norm running statistics), in the spirit of `torch.nn.Module`. Names follow torchvision so
 * that state dicts are interchangeable with PyTorch checkpoints.
 */
export abstract class Module {
  /** True in train mode (PyTorch's default for a fresh module); see {@link Module.train}. */
  training = true;
  private readonly childEntries: [string, Module][] = [];
  private readonly paramEntries = new Map<string, ParamEntry>();
  private readonly bufferEntries = new Map<string, tf.Variable>();

  /** The module's type name, shown in summaries. */
  get typeName(): string {
    return this.constructor.name;
  }

  /** Runs the module on `x` (NHWC). `ctx.training` defaults to the module's own mode. */
  abstract forward(x: tf.Tensor, ctx?: ForwardContext): tf.Tensor;

  /**
   * Describes what the module does to an input of shape `input` without running tensors: records a
   * row per leaf layer into `tracer` and returns the output shape.
   */
  abstract describe(input: Shape, tracer: Tracer): Shape;

  /** The context to use when the caller gave none. */
  protected context(ctx?: ForwardContext | null): ForwardContext {
    if (ctx === undefined || ctx === null) return { training: this.training };
    // { training: 'false' } (a string) ran in train mode and moved the running statistics.
    if (ctx.training !== undefined && typeof ctx.training !== 'boolean')
      throw new SpecError(`forward's options must be { training: true | false }; got ${fmtValue(ctx)}.`);
    return ctx;
  }

  /** Adds a child module under `name` (its parameters become `name.<param>` in the state dict) and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.childEntries.push([name, module]);
    return module;
  }

  /**
   * Adds a trainable parameter, taking ownership of `value` (disposed), and returns its variable.
   * `layout` says how the tensor maps to PyTorch's (`conv2d`: HWIO vs OIHW, `linear`: [in, out] vs [out, in]).
   */
  protected registerParameter(name: string, value: tf.Tensor, layout: ParamLayout = 'plain'): tf.Variable {
    const variable = tf.variable(value, true);
    value.dispose();
    this.paramEntries.set(name, { variable, layout });
    return variable;
  }

  /** Adds a non-trainable buffer (e.g. batch norm's running statistics), taking ownership of `value`, and returns its variable. */
  protected registerBuffer(name: string, value: tf.Tensor): tf.Variable {
    const variable = tf.variable(value, false);
    value.dispose();
    this.bufferEntries.set(name, variable);
    return variable;
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] {
    return [...this.childEntries];
  }

  /** The child called `name`, or undefined. */
  child(name: string): Module | undefined {
    return this.childEntries.find(([n]) => n === name)?.[1];
  }

  /** Every module of the tree (this one first, as ''), with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.childEntries) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  /** Trainable parameters with dotted names (`layer1.0.conv1.weight`). */
  namedParameters(prefix = ''): [string, tf.Variable][] {
    return this.namedEntries(prefix)
      .filter((e) => e.kind === 'param')
      .map((e) => [e.key, e.variable]);
  }

  /** Buffers with dotted names (`bn1.running_mean`). */
  namedBuffers(prefix = ''): [string, tf.Variable][] {
    return this.namedEntries(prefix)
      .filter((e) => e.kind === 'buffer')
      .map((e) => [e.key, e.variable]);
  }

  /** All trainable parameters. */
  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((s, v) => s + v.size, 0);
  }

  /** The layout of each parameter by dotted name (buffers are `plain`). */
  paramLayouts(): Map<string, ParamLayout> {
    return new Map(this.namedEntries('').map((e) => [e.key, e.layout]));
  }

  private namedEntries(prefix: string): { key: string; variable: tf.Variable; layout: ParamLayout; kind: 'param' | 'buffer' }[] {
    const out: { key: string; variable: tf.Variable; layout: ParamLayout; kind: 'param' | 'buffer' }[] = [];
    const join = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [name, { variable, layout }] of this.paramEntries) out.push({ key: join(name), variable, layout, kind: 'param' });
    for (const [name, variable] of this.bufferEntries) out.push({ key: join(name), variable, layout: 'plain', kind: 'buffer' });
    for (const [name, child] of this.childEntries) out.push(...child.namedEntries(join(name)));
    return out;
  }

  /** Sets train mode (batch statistics) on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Sets eval mode (running statistics). */
  eval(): this {
    return this.train(false);
  }

  /**
   * Parameters and buffers by torchvision name. Returns new tensors (cheap clones sharing data in
   * the tfjs layout) that the caller owns and should dispose.
   */
  stateDict(options: StateDictOptions = {}): Map<string, tf.Tensor> {
    this.assertAlive('stateDict()');
    const { includeNumBatchesTracked = true } = options;
    const layout = tensorLayout(options.layout);
    const out = new Map<string, tf.Tensor>();
    for (const e of this.namedEntries('')) {
      if (!includeNumBatchesTracked && e.key.endsWith(NUM_BATCHES_TRACKED)) continue;
      out.set(e.key, layout === 'torch' ? toTorchLayout(e.variable, e.layout) : tf.clone(e.variable));
    }
    return out;
  }

  /**
   * What {@link Module.loadStateDict} would do with tensors of these shapes, without loading
   * anything: `loaded` lists the keys that fit. `num_batches_tracked` may be absent or of any rank
   * with one element. The one key-and-shape check every loader uses.
   */
  checkStateDict(shapes: Map<string, readonly number[]>, options: { layout?: TensorLayout } = {}): LoadReport {
    const layout = tensorLayout(options.layout);
    const own = this.namedEntries('');
    const ownKeys = new Set(own.map((e) => e.key));
    const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
    for (const key of shapes.keys()) if (!ownKeys.has(key)) report.unexpected.push(key);
    for (const e of own) {
      const shape = shapes.get(e.key);
      if (!shape) {
        if (!e.key.endsWith(NUM_BATCHES_TRACKED)) report.missing.push(e.key);
        continue;
      }
      const expected = layout === 'torch' ? torchShape(e.variable.shape, e.layout) : e.variable.shape;
      const size = shape.reduce((a, b) => a * b, 1);
      const sameSize = size === e.variable.size && (shape.length === expected.length || e.key.endsWith(NUM_BATCHES_TRACKED));
      if (!sameSize || (shape.length === expected.length && !shape.every((d, i) => d === expected[i]))) {
        report.mismatched.push({ key: e.key, expected, found: [...shape] });
        continue;
      }
      report.loaded.push(e.key);
    }
    return report;
  }

  /**
   * Copies tensors into this module's parameters and buffers by name. `num_batches_tracked` may be
   * absent (PyTorch files from before it existed) and is never reported missing. With `strict`
   * (default) any missing, unexpected or mis-shaped key throws a `StateDictError` that lists
   * them all, and nothing is changed.
   */
  loadStateDict(dict: Map<string, tf.Tensor> | Record<string, tf.Tensor>, options: LoadStateDictOptions = {}): LoadReport {
    const { strict = true } = options;
    const layout = tensorLayout(options.layout);
    const entries = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const report = this.checkStateDict(new Map([...entries].map(([k, t]) => [k, t.shape])), { layout });
    const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (strict && problems > 0) throw stateDictError(report);
    const own = new Map(this.namedEntries('').map((e) => [e.key, e]));
    for (const key of report.loaded) {
      const e = own.get(key)!;
      const t = entries.get(key)!;
      tf.tidy(() => {
        let v = layout === 'torch' ? fromTorchLayout(t, e.layout) : t;
        v = tf.reshape(v, e.variable.shape);
        if (v.dtype !== e.variable.dtype) v = tf.cast(v, e.variable.dtype);
        e.variable.assign(v);
      });
    }
    // Derived tensors (folded inference weights) would be rebuilt anyway; free them now.
    if (report.loaded.length > 0) this.clearAllCaches();
    return report;
  }

  /**
   * Frees tensors this module derives from its parameters for speed (e.g. a conv's folded inference
   * weights); they are rebuilt when next needed. Does not recurse: {@link Module.clearAllCaches} does.
   */
  clearCaches(): void {}

  /** {@link Module.clearCaches} on this module and every descendant. */
  clearAllCaches(): void {
    for (const [, m] of this.namedModules()) m.clearCaches();
  }

  /** Frees every parameter, buffer and cache of the tree. */
  dispose(): void {
    this.clearAllCaches();
    for (const e of this.namedEntries('')) e.variable.dispose();
    this.disposed = true;
  }

  /** Whether {@link Module.dispose} freed this module's weights. */
  protected disposed = false;

  /** A one-line error for a module used after {@link Module.dispose} (tfjs would throw a TypeError from deep inside). */
  protected assertAlive(what: string): void {
    if (this.disposed)
      throw new SpecError(`${what} of a ${this.typeName} that was disposed: its weights are freed; build or load the model again.`);
  }
}

function stateDictError(r: LoadReport): StateDictError {
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, 12).join(', ') + (xs.length > 12 ? `, ... (${xs.length} in all)` : '');
  if (r.missing.length) parts.push(`missing keys: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected keys: ${list(r.unexpected)}`);
  if (r.mismatched.length) {
    parts.push(
      'mis-shaped keys: ' +
        r.mismatched
          .map((m) => `${m.key} (expected ${fmtShape(m.expected)}, found ${fmtShape(m.found)})`)
          .slice(0, 12)
          .join(', '),
    );
  }
  return new StateDictError(
    `State dict does not match the model: ${parts.join('; ')}. Check that the weights are for this architecture ` +
      `(same block, depth, shortcut option and classes), or load with {strict: false} to take what matches.`,
    r.missing,
    r.unexpected,
    r.mismatched,
  );
}
