/**
 * Lowers a collected graph (plan-graph.ts) to the op list of the native plan (native/plan.cc).
 *
 * Fusions: `Conv -> Relu` is one conv with a ReLU; `Conv -> Add [-> Relu]` is one conv with the
 * other addend as its residual sum (oneDNN's sum post-op, in place in the shortcut's buffer); option
 * A's `Slice -> Pad` shortcut is the strided 1x1 conv with a 0/1 selection filter that the layers
 * themselves run (the same numbers, NaN included); `GlobalAveragePool -> Flatten` is one pooling to
 * [N, C]. Any node this file does not know throws {@link PlanUnsupportedError}: the model then runs
 * through the tfjs kernels as before.
 *
 * Op kinds (each `{kind, in: value ids, out: value id, ...}`; value 0 is the NHWC input):
 * conv {w, wLayout: 'hwio' | 'oihw', wScale (per output channel, or null), b, co, k, stride, pad [t, l, b, r], sum (value or -1), relu},
 * maxpool / avgpool {k, stride, pad} (avg: padding not counted), gap, gemm {w [O, K] or [K, O], wLayout: 'oi' | 'io', b, co},
 * relu, add {relu},
 * bn {mean, variance, scale, shift, eps}.
 */
import type { GraphAttr } from '@resnet-ts/core';
import type { PlanConstant, PlanGraph, PlanNode } from './plan-graph.js';

/** One op of the native plan (see the file comment for the fields of each kind). */
export interface NativePlanOp {
  kind: 'conv' | 'maxpool' | 'avgpool' | 'gap' | 'gemm' | 'relu' | 'add' | 'bn';
  in: number[];
  out: number;
  [field: string]: unknown;
}

/** The native op list, its value count and output value, and the logits shape [N, classes]. */
export interface LoweredPlan {
  ops: NativePlanOp[];
  numValues: number;
  output: number;
  outputShape: [number, number];
}

/** A graph the native plan cannot express (the layers then run one by one). */
export class PlanUnsupportedError extends Error {}

const attrInts = (n: PlanNode, k: string, fallback: number[]): number[] => {
  const a = n.attrs[k] as GraphAttr | undefined;
  return a && 'ints' in a ? a.ints : fallback;
};
const attrNum = (n: PlanNode, k: string, fallback: number): number => {
  const a = n.attrs[k] as GraphAttr | undefined;
  if (!a) return fallback;
  if ('int' in a) return a.int;
  if ('float' in a) return a.float;
  throw new PlanUnsupportedError(`${n.op} '${n.name}': attribute ${k}`);
};
const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** A graph node as {@link selectionConv} reads it. */
interface SelectorNode {
  name?: string;
  inputs: string[];
  attrs: Record<string, GraphAttr>;
}

/**
 * Option A's shortcut, `Slice` (spatial steps from 0) and/or `Pad` (zero channels before and after),
 * as the strided 1x1 conv with a 0/1 selection filter that ZeroPadShortcut itself runs (the same
 * numbers, NaN included): its stride, output channels and size, and the HWIO filter [1, 1, c, co].
 * `ints` holds the graph's int constants; c, h, w are the input's. Throws {@link PlanUnsupportedError}
 * for any other Slice or Pad. Shared by the inference and training lowerings.
 */
export function selectionConv(
  slice: SelectorNode | null,
  pad: SelectorNode | null,
  ints: Map<string, number[]>,
  c: number,
  h: number,
  w: number,
): { stride: number; co: number; oh: number; ow: number; filter: Float32Array } {
  let stride = 1;
  if (slice) {
    const [starts, ends, axes, steps] = slice.inputs.slice(1).map((v) => ints.get(v));
    if (
      !starts ||
      !ends ||
      !axes ||
      !steps ||
      !same(axes, [2, 3]) ||
      !same(starts, [0, 0]) ||
      steps[0] !== steps[1] ||
      ends.some((e) => e < Math.max(h, w))
    ) {
      throw new PlanUnsupportedError(`Slice '${slice.name ?? ''}'`);
    }
    stride = steps[0];
  }
  let before = 0;
  let co = c;
  if (pad) {
    const pads = ints.get(pad.inputs[1]);
    const mode = pad.attrs.mode as GraphAttr | undefined;
    const constant = !mode || ('string' in mode && mode.string === 'constant');
    if (!pads || pads.length !== 8 || pad.inputs.length > 2 || !constant || pads.some((p, k) => k !== 1 && k !== 5 && p !== 0)) {
      throw new PlanUnsupportedError(`Pad '${pad.name ?? ''}'`);
    }
    before = pads[1];
    co = c + pads[1] + pads[5];
  }
  // The filter ZeroPadShortcut.forward convolves with: HWIO [1, 1, c, co], 1 at (i, i + before).
  const filter = new Float32Array(c * co);
  for (let ch = 0; ch < c; ch++) filter[ch * co + ch + before] = 1;
  return { stride, co, oh: Math.floor((h - 1) / stride) + 1, ow: Math.floor((w - 1) / stride) + 1, filter };
}

/** The lowering of one graph; see {@link lowerPlanGraph}. */
class Lowering {
  readonly ops: NativePlanOp[] = [];
  private readonly ids = new Map<string, number>();
  private readonly shapes = new Map<string, number[]>(); // NCHW
  private readonly consumers = new Map<string, number[]>();
  private readonly absorbed = new Set<number>();
  /** Add node index -> the conv node emitted there with the other addend as its sum. */
  private readonly sumConv = new Map<number, number>();
  /** Node index -> the Relu (or Flatten, Pad) node it absorbs. */
  private readonly follower = new Map<number, number>();

  constructor(
    private readonly g: PlanGraph,
    inputNHWC: readonly number[],
  ) {
    const [n, h, w, c] = inputNHWC;
    this.ids.set(g.input, 0);
    this.shapes.set(g.input, [n, c, h, w]);
    g.nodes.forEach((node, i) => node.inputs.forEach((v) => this.consumers.set(v, [...(this.consumers.get(v) ?? []), i])));
  }

  get numValues(): number {
    return this.ids.size;
  }

  /** The only consumer of `v` when it has exactly one (and is not the graph output). */
  private soleConsumer(v: string): PlanNode | null {
    const c = this.consumers.get(v);
    if (!c || c.length !== 1 || v === this.g.output) return null;
    return this.g.nodes[c[0]];
  }

  private absorb(i: number, next: string): number | undefined {
    const j = this.consumers.get(this.g.nodes[i].output)?.[0];
    if (j === undefined || this.soleConsumer(this.g.nodes[i].output)?.op !== next) return undefined;
    this.absorbed.add(j);
    this.follower.set(i, j);
    return j;
  }

  /** Decides the fusions (before emitting, so an absorbed node is skipped where it stands). */
  plan(): void {
    this.g.nodes.forEach((node, i) => {
      if (this.absorbed.has(i)) return;
      if (node.op === 'Slice') this.absorb(i, 'Pad');
      if (node.op === 'GlobalAveragePool' && this.absorb(i, 'Flatten') === undefined)
        throw new PlanUnsupportedError('GlobalAveragePool without Flatten');
      if (node.op !== 'Conv' && node.op !== 'Add') return;
      if (node.op === 'Conv' && this.soleConsumer(node.output)?.op === 'Add') {
        const j = this.consumers.get(node.output)![0];
        const add = this.g.nodes[j];
        if (add.inputs.filter((v) => v === node.output).length === 1 && !this.sumConv.has(j)) {
          this.sumConv.set(j, i);
          this.absorbed.add(i);
          return;
        }
      }
      this.absorb(i, 'Relu');
    });
  }

  /** The id of value `v` (it must have been computed). */
  id(v: string): number {
    const id = this.ids.get(v);
    if (id === undefined) throw new PlanUnsupportedError(`value ${v} is used before it is computed`);
    return id;
  }

  private define(v: string, shape: number[]): number {
    const id = this.ids.size;
    this.ids.set(v, id);
    this.shapes.set(v, shape);
    return id;
  }

  /** The NCHW shape of value `v`. */
  shape(v: string): number[] {
    this.id(v);
    return this.shapes.get(v)!;
  }

  private constant(v: string): PlanConstant {
    const c = this.g.floats.get(v);
    if (!c) throw new PlanUnsupportedError(`input ${v} is not a constant`);
    return c;
  }

  /** The node's output name after the node it absorbed (a Relu, Flatten or Pad). */
  private outputOf(i: number): string {
    const j = this.follower.get(i);
    return this.g.nodes[j ?? i].output;
  }

  emit(): void {
    this.g.nodes.forEach((node, i) => {
      if (this.absorbed.has(i)) return;
      const conv = this.sumConv.get(i);
      if (conv !== undefined) return this.conv(this.g.nodes[conv], conv, node, i);
      switch (node.op) {
        case 'Conv':
          return this.conv(node, i, null, -1);
        case 'Slice':
        case 'Pad':
          return this.selector(node, i);
        case 'MaxPool':
          return this.maxPool(node);
        case 'AveragePool':
          return this.averagePool(node);
        case 'GlobalAveragePool':
          return this.globalAverage(node, i);
        case 'Gemm':
          return this.gemm(node);
        case 'Relu':
          return this.unary('relu', node, {});
        case 'Add':
          return this.add(node, i);
        case 'BatchNormalization':
          return this.batchNorm(node);
        default:
          throw new PlanUnsupportedError(`operator ${node.op} ('${node.name}')`);
      }
    });
  }

  private conv(node: PlanNode, i: number, add: PlanNode | null, addIndex: number): void {
    const [x, wName, bName] = node.inputs;
    const [n, c, h, w] = this.shape(x);
    const weight = this.constant(wName);
    const [co, ci, kh, kw] = weight.layout === 'tfjs' ? [weight.dims[3], weight.dims[2], weight.dims[0], weight.dims[1]] : weight.dims;
    const k = attrInts(node, 'kernel_shape', [kh, kw]);
    const stride = attrInts(node, 'strides', [1, 1]);
    const pads = attrInts(node, 'pads', [0, 0, 0, 0]);
    if (ci !== c || !same(k, [kh, kw]) || attrNum(node, 'group', 1) !== 1 || !same(attrInts(node, 'dilations', [1, 1]), [1, 1])) {
      throw new PlanUnsupportedError(`Conv '${node.name}': shape or attributes`);
    }
    const oh = Math.floor((h + pads[0] + pads[2] - kh) / stride[0]) + 1;
    const ow = Math.floor((w + pads[1] + pads[3] - kw) / stride[1]) + 1;
    let sum = -1;
    let outName = this.outputOf(i);
    if (add) {
      const other = add.inputs[0] === node.output ? add.inputs[1] : add.inputs[0];
      if (!same(this.shape(other), [n, co, oh, ow])) throw new PlanUnsupportedError(`Add '${add.name}': shapes differ`);
      sum = this.id(other);
      outName = this.relu(addIndex);
    }
    const relu = outName !== (add ? add.output : node.output);
    const b = bName === undefined ? null : this.constant(bName).data;
    this.ops.push({
      kind: 'conv',
      in: [this.id(x)],
      out: this.define(outName, [n, co, oh, ow]),
      w: weight.data,
      wLayout: weight.layout === 'tfjs' ? 'hwio' : 'oihw',
      wScale: weight.scale ?? null,
      b,
      co,
      k,
      stride,
      pad: pads,
      sum,
      relu,
    });
  }

  /** The output of an Add, or of the Relu it absorbs (an Add feeding only a Relu). */
  private relu(addIndex: number): string {
    if (!this.follower.has(addIndex)) this.absorb(addIndex, 'Relu');
    return this.outputOf(addIndex);
  }

  /** Option A's shortcut: `Slice` (spatial steps) and/or `Pad` (zero channels) as a strided 1x1 selection conv. */
  private selector(node: PlanNode, i: number): void {
    const slice = node.op === 'Slice' ? node : null;
    const pad = slice ? (this.follower.has(i) ? this.g.nodes[this.follower.get(i)!] : null) : node;
    const x = node.inputs[0];
    const [n, c, h, w] = this.shape(x);
    const sel = selectionConv(slice, pad, this.g.ints, c, h, w);
    this.ops.push({
      kind: 'conv',
      in: [this.id(x)],
      out: this.define(this.outputOf(i), [n, sel.co, sel.oh, sel.ow]),
      w: sel.filter,
      wLayout: 'hwio',
      wScale: null,
      b: null,
      co: sel.co,
      k: [1, 1],
      stride: [sel.stride, sel.stride],
      pad: [0, 0, 0, 0],
      sum: -1,
      relu: false,
    });
  }

  private maxPool(node: PlanNode): void {
    const [n, c, h, w] = this.shape(node.inputs[0]);
    const k = attrInts(node, 'kernel_shape', []);
    const stride = attrInts(node, 'strides', [1, 1]);
    const pad = attrInts(node, 'pads', [0, 0, 0, 0]);
    if (k.length !== 2 || attrNum(node, 'ceil_mode', 0) !== 0) throw new PlanUnsupportedError(`MaxPool '${node.name}'`);
    const oh = Math.floor((h + pad[0] + pad[2] - k[0]) / stride[0]) + 1;
    const ow = Math.floor((w + pad[1] + pad[3] - k[1]) / stride[1]) + 1;
    this.ops.push({ kind: 'maxpool', in: [this.id(node.inputs[0])], out: this.define(node.output, [n, c, oh, ow]), k, stride, pad });
  }

  /** Option D's ceil-mode average pooling without padding counted: oneDNN's average over the valid pixels, padded at the end. */
  private averagePool(node: PlanNode): void {
    const [n, c, h, w] = this.shape(node.inputs[0]);
    const k = attrInts(node, 'kernel_shape', []);
    const stride = attrInts(node, 'strides', [1, 1]);
    const pads = attrInts(node, 'pads', [0, 0, 0, 0]);
    const ceil = attrNum(node, 'ceil_mode', 0) === 1;
    if (k.length !== 2 || pads.some((p) => p !== 0) || attrNum(node, 'count_include_pad', 0) !== 0)
      throw new PlanUnsupportedError(`AveragePool '${node.name}'`);
    const out = (size: number, a: number) => (ceil ? Math.ceil((size - k[a]) / stride[a]) : Math.floor((size - k[a]) / stride[a])) + 1;
    const [oh, ow] = [out(h, 0), out(w, 1)];
    // The end padding that gives ceil mode's last (partial) window; never counted in the average.
    const pad = [0, 0, (oh - 1) * stride[0] + k[0] - h, (ow - 1) * stride[1] + k[1] - w];
    if (pad[2] >= k[0] || pad[3] >= k[1]) throw new PlanUnsupportedError(`AveragePool '${node.name}': a window entirely in the padding`);
    this.ops.push({ kind: 'avgpool', in: [this.id(node.inputs[0])], out: this.define(node.output, [n, c, oh, ow]), k, stride, pad });
  }

  private globalAverage(node: PlanNode, i: number): void {
    const [n, c] = this.shape(node.inputs[0]);
    this.ops.push({ kind: 'gap', in: [this.id(node.inputs[0])], out: this.define(this.outputOf(i), [n, c]) });
  }

  private gemm(node: PlanNode): void {
    const [x, wName, bName] = node.inputs;
    const [n, k] = this.shape(x);
    const weight = this.constant(wName);
    const ok =
      attrNum(node, 'transB', 0) === 1 &&
      attrNum(node, 'transA', 0) === 0 &&
      attrNum(node, 'alpha', 1) === 1 &&
      attrNum(node, 'beta', 1) === 1;
    // [out, in] in PyTorch's layout (ONNX's B with transB), [in, out] in tfjs's.
    const [co, ci] = weight.layout === 'tfjs' ? [weight.dims[1], weight.dims[0]] : weight.dims;
    if (!ok || weight.dims.length !== 2 || ci !== k || this.shape(x).length !== 2) throw new PlanUnsupportedError(`Gemm '${node.name}'`);
    const b = bName === undefined ? null : this.constant(bName).data;
    const wLayout = weight.layout === 'tfjs' ? 'io' : 'oi';
    this.ops.push({ kind: 'gemm', in: [this.id(x)], out: this.define(node.output, [n, co]), w: weight.data, wLayout, b, co });
  }

  private unary(kind: 'relu' | 'bn', node: PlanNode, extra: Record<string, unknown>): void {
    const x = node.inputs[0];
    this.ops.push({ kind, in: [this.id(x)], out: this.define(node.output, this.shape(x)), ...extra });
  }

  private add(node: PlanNode, i: number): void {
    const [a, b] = node.inputs;
    if (!same(this.shape(a), this.shape(b))) throw new PlanUnsupportedError(`Add '${node.name}': shapes differ`);
    const out = this.relu(i);
    this.ops.push({ kind: 'add', in: [this.id(a), this.id(b)], out: this.define(out, this.shape(a)), relu: out !== node.output });
  }

  private batchNorm(node: PlanNode): void {
    const [, scale, shift, mean, variance] = node.inputs;
    const data = (v: string) => this.constant(v).data;
    const eps = attrNum(node, 'epsilon', 1e-5);
    this.unary('bn', node, { scale: data(scale), shift: data(shift), mean: data(mean), variance: data(variance), eps });
  }
}

/** The native op list for `graph` on an NHWC input of shape `inputNHWC`; throws {@link PlanUnsupportedError}. */
export function lowerPlanGraph(graph: PlanGraph, inputNHWC: readonly number[]): LoweredPlan {
  const lowering = new Lowering(graph, inputNHWC);
  lowering.plan();
  lowering.emit();
  const output = lowering.id(graph.output);
  const shape = lowering.shape(graph.output);
  if (shape.length !== 2) throw new PlanUnsupportedError('the output is not [N, classes]');
  return { ops: lowering.ops, numValues: lowering.numValues, output, outputShape: [shape[0], shape[1]] };
}
