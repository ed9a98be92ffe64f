/**
 * The op list of the native training plan (train-plan.ts): a train-mode ResNet described through
 * core's graph exporters (batch norms not folded), each parameter kept as the model's own variable,
 * lowered to the kernels the layers themselves call in training, with the same fusions they make:
 * `BatchNorm -> Relu` and `BatchNorm -> Add [-> Relu]` are one train-mode batch norm with its
 * epilogue (core's BatchNormEpilogue), option A's `Slice -> Pad` is the 0/1 selection conv of
 * ZeroPadShortcut, `GlobalAveragePool -> Flatten` one mean, `MaxPool` core's NaN-keeping max pooling.
 *
 * Only modules whose exporter was registered `sameInTraining` are accepted (a block with dropout or
 * stochastic depth would export its eval-mode graph): anything else, and
 * any operator not below, throws {@link PlanUnsupportedError} and the layers run one by one.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GraphEmitter,
  GraphAttr,
  Linear,
  Module,
  ResNet,
  emitLayerSequence,
  emitResNetGraph,
  graphExporterFor,
  graphIsSameInTraining,
} from '@resnet-ts/core';
import { PlanUnsupportedError, selectionConv } from './plan-lower.js';
import { maxPoolCase } from './kernels-conv.js';

/** One op of the training plan; value ids index the plan's activations (0 is the NHWC input). */
export type TrainOp =
  | {
      kind: 'conv';
      x: number;
      out: number;
      weight: tf.Variable | null;
      filter: Float32Array | null;
      bias: tf.Variable | null;
      params: number[];
    }
  | { kind: 'bn'; x: number; out: number; bn: BatchNorm2d; residual: number; relu: boolean }
  | { kind: 'relu'; x: number; out: number }
  | { kind: 'maxpool'; x: number; out: number; params: number[]; geometry: number[] }
  | { kind: 'add'; a: number; b: number; out: number; relu: boolean }
  | { kind: 'gap'; x: number; out: number }
  | { kind: 'gemm'; x: number; out: number; fc: Linear };

/** The lowered plan: ops in execution order, each value's NHWC (or [N, F]) shape, the logits' value. */
export interface TrainPlanOps {
  ops: TrainOp[];
  shapes: number[][];
  output: number;
}

interface Node {
  op: string;
  name: string;
  inputs: string[];
  output: string;
  attrs: Record<string, GraphAttr>;
  module?: Module;
}

/** Refuses a module whose exporter does not declare that it trains as exported (core's `sameInTraining`). */
function assertSameInTraining(module: Module, path: string): void {
  if (!graphIsSameInTraining(module))
    throw new PlanUnsupportedError(`${module.typeName} '${path}' is not declared the same in training as exported`);
}

/** Collects the train-mode graph with the modules behind each Conv, BatchNormalization and Gemm. */
class TrainGraphEmitter implements GraphEmitter {
  readonly foldBatchNorm = false;
  readonly nodes: Node[] = [];
  readonly ints = new Map<string, number[]>();
  private count = 0;

  node(op: string, name: string, inputs: string[], attrs: Record<string, GraphAttr> = {}, module?: Module): string {
    const output = `v${this.count++}`;
    this.nodes.push({ op, name, inputs, output, attrs, module });
    return output;
  }

  floatConstant(name: string): string {
    // A constant the plan would not differentiate (a plug-in's own weight, a branch scale): not expressible.
    throw new PlanUnsupportedError(`constant '${name}'`);
  }

  int64Constant(_name: string, v: number[]): string {
    const key = `i${this.count++}`;
    this.ints.set(key, v);
    return key;
  }

  module(path: string, module: Module, x: string): string {
    assertSameInTraining(module, path);
    if (module instanceof Linear) return this.node('Gemm', path, [x], {}, module);
    return graphExporterFor(module, path)(this, module, path, x);
  }

  conv(path: string, conv: Conv2d, bn: BatchNorm2d | null, x: string): string {
    const p = conv.padding;
    const attrs = { k: { int: conv.kernelSize }, s: { int: conv.stride }, pads: { ints: [p, p, p, p] } };
    const y = this.node('Conv', path, [x], attrs, conv);
    return bn ? this.batchNorm(`${path}.bn`, bn, y) : y;
  }

  batchNorm(path: string, bn: BatchNorm2d, x: string): string {
    if (bn.frozenStatistics) throw new PlanUnsupportedError(`batch norm '${path}' with frozen statistics`);
    return this.node('BatchNormalization', path, [x], {}, bn);
  }

  sequence(path: string, named: [string, Module][], x: string): string {
    for (const [name, m] of named) assertSameInTraining(m, path ? `${path}.${name}` : name);
    return emitLayerSequence(this, path, named, x);
  }
}

const intsOf = (a: GraphAttr | undefined): number[] | null => (a && 'ints' in a ? a.ints : null);
const intOf = (a: GraphAttr | undefined): number | null => (a && 'int' in a ? a.int : null);

/** The lowering of one collected graph; see {@link lowerTrainingGraph}. */
class TrainLowering {
  readonly ops: TrainOp[] = [];
  readonly shapes: number[][] = [];
  private readonly ids = new Map<string, number>();
  private readonly consumers = new Map<string, Node[]>();
  /** Batch norms run at their Add (with the other addend as residual), and nodes folded into the one before. */
  private readonly deferredBn = new Map<Node, Node>();
  private readonly absorbed = new Set<Node>();

  constructor(
    private readonly nodes: Node[],
    private readonly ints: Map<string, number[]>,
    input: string,
    inputShape: readonly number[],
  ) {
    this.define(input, [...inputShape]);
    for (const n of nodes) for (const v of n.inputs) this.consumers.set(v, [...(this.consumers.get(v) ?? []), n]);
  }

  private define(v: string, shape: number[]): number {
    this.ids.set(v, this.shapes.length);
    this.shapes.push(shape);
    return this.shapes.length - 1;
  }

  id(v: string): number {
    const id = this.ids.get(v);
    if (id === undefined) throw new PlanUnsupportedError(`value ${v} is used before it is computed`);
    return id;
  }

  private sole(v: string, op: string): Node | null {
    const c = this.consumers.get(v);
    return c && c.length === 1 && c[0].op === op ? c[0] : null;
  }

  /** Value `output` after the Relu it absorbs (when that Relu is its only consumer). */
  private withRelu(output: string): { name: string; relu: boolean } {
    const relu = this.sole(output, 'Relu');
    if (!relu) return { name: output, relu: false };
    this.absorbed.add(relu);
    return { name: relu.output, relu: true };
  }

  lower(output: string): TrainPlanOps {
    for (const n of this.nodes) {
      if (n.op === 'BatchNormalization' && !this.absorbed.has(n)) {
        const add = this.sole(n.output, 'Add');
        if (add && add.inputs[0] !== add.inputs[1] && ![...this.deferredBn.values()].includes(add)) this.deferredBn.set(n, add);
      }
    }
    for (const n of this.nodes) this.emit(n);
    return { ops: this.ops, shapes: this.shapes, output: this.id(output) };
  }

  private emit(n: Node): void {
    if (this.absorbed.has(n) || this.deferredBn.has(n)) return;
    const bnHere = [...this.deferredBn].find(([, add]) => add === n);
    if (bnHere) return this.batchNorm(bnHere[0], n);
    switch (n.op) {
      case 'Conv':
        return this.conv(n);
      case 'BatchNormalization':
        return this.batchNorm(n, null);
      case 'Relu':
        return void this.ops.push({ kind: 'relu', x: this.id(n.inputs[0]), out: this.define(n.output, this.shapes[this.id(n.inputs[0])]) });
      case 'Add':
        return this.add(n);
      case 'Slice':
      case 'Pad':
        return this.selector(n);
      case 'GlobalAveragePool':
        return this.globalAverage(n);
      case 'MaxPool':
        return this.maxPool(n);
      case 'Gemm':
        return this.gemm(n);
      default:
        throw new PlanUnsupportedError(`operator ${n.op} in training`);
    }
  }

  private conv(n: Node): void {
    const conv = n.module as Conv2d;
    const x = this.id(n.inputs[0]);
    const [b, h, w, c] = this.shapes[x];
    const k = intOf(n.attrs.k)!,
      s = intOf(n.attrs.s)!,
      [pt, pl, pb, pr] = intsOf(n.attrs.pads)!;
    if (c !== conv.inChannels) throw new PlanUnsupportedError('Conv shape');
    const oh = Math.floor((h + pt + pb - k) / s) + 1,
      ow = Math.floor((w + pl + pr - k) / s) + 1;
    const co = conv.outChannels;
    const params = [b, h, w, c, k, k, co, oh, ow, s, s, pt, pl, pb, pr, 1, 1];
    const out = this.define(n.output, [b, oh, ow, co]);
    this.ops.push({ kind: 'conv', x, out, weight: conv.weight, filter: null, bias: conv.bias ?? null, params });
  }

  private batchNorm(n: Node, add: Node | null): void {
    const x = this.id(n.inputs[0]);
    const bn = n.module as BatchNorm2d;
    if (this.shapes[x].length !== 4 || this.shapes[x][3] !== bn.numFeatures) throw new PlanUnsupportedError('BatchNormalization shape');
    let residual = -1;
    let end = n.output;
    if (add) {
      const other = add.inputs[0] === n.output ? add.inputs[1] : add.inputs[0];
      residual = this.id(other);
      if (this.shapes[residual].join() !== this.shapes[x].join()) throw new PlanUnsupportedError('Add shapes differ');
      end = add.output;
    }
    const { name, relu } = this.withRelu(end);
    this.ops.push({ kind: 'bn', x, out: this.define(name, this.shapes[x]), bn, residual, relu });
  }

  private add(n: Node): void {
    const [a, b] = n.inputs.map((v) => this.id(v));
    if (this.shapes[a].join() !== this.shapes[b].join()) throw new PlanUnsupportedError('Add shapes differ');
    const { name, relu } = this.withRelu(n.output);
    this.ops.push({ kind: 'add', a, b, out: this.define(name, this.shapes[a]), relu });
  }

  /** Option A's shortcut: `Slice` [-> `Pad`] or a lone `Pad`, as ZeroPadShortcut's selection conv. */
  private selector(n: Node): void {
    const x = this.id(n.inputs[0]);
    const [b, h, w, c] = this.shapes[x];
    const pad = n.op === 'Pad' ? n : this.sole(n.output, 'Pad');
    if (pad && pad !== n) this.absorbed.add(pad);
    const sel = selectionConv(n.op === 'Slice' ? n : null, pad, this.ints, c, h, w);
    const params = [b, h, w, c, 1, 1, sel.co, sel.oh, sel.ow, sel.stride, sel.stride, 0, 0, 0, 0, 1, 1];
    const out = this.define((pad ?? n).output, [b, sel.oh, sel.ow, sel.co]);
    this.ops.push({ kind: 'conv', x, out, weight: null, filter: sel.filter, bias: null, params });
  }

  /** core's MaxPool2d (square window, the same padding on every side), where oneDNN takes its geometry. */
  private maxPool(n: Node): void {
    const x = this.id(n.inputs[0]);
    const [k, k2] = intsOf(n.attrs.kernel_shape) ?? [];
    const [s, s2] = intsOf(n.attrs.strides) ?? [];
    const pads = intsOf(n.attrs.pads) ?? [];
    const pool = k === k2 && s === s2 && pads.every((p) => p === pads[0]) ? maxPoolCase(this.shapes[x], k, s, pads[0]) : null;
    if (!pool) throw new PlanUnsupportedError('MaxPool geometry');
    this.ops.push({ kind: 'maxpool', x, out: this.define(n.output, pool.outShape), params: pool.params, geometry: pool.geometry });
  }

  private globalAverage(n: Node): void {
    const x = this.id(n.inputs[0]);
    const flatten = this.sole(n.output, 'Flatten');
    if (!flatten) throw new PlanUnsupportedError('GlobalAveragePool without Flatten');
    this.absorbed.add(flatten);
    const [b, , , c] = this.shapes[x];
    this.ops.push({ kind: 'gap', x, out: this.define(flatten.output, [b, c]) });
  }

  private gemm(n: Node): void {
    const x = this.id(n.inputs[0]);
    const fc = n.module as Linear;
    if (this.shapes[x].length !== 2 || this.shapes[x][1] !== fc.inFeatures) throw new PlanUnsupportedError('Gemm shape');
    this.ops.push({ kind: 'gemm', x, out: this.define(n.output, [this.shapes[x][0], fc.outFeatures]), fc });
  }
}

/** The training plan's ops for `model` on an NHWC input of `inputShape`; throws {@link PlanUnsupportedError} (or core's GraphExportError). */
export function lowerTrainingGraph(model: ResNet, inputShape: readonly number[]): TrainPlanOps {
  const g = new TrainGraphEmitter();
  const output = emitResNetGraph(g, model, 'input');
  return new TrainLowering(g.nodes, g.ints, 'input', inputShape).lower(output);
}
