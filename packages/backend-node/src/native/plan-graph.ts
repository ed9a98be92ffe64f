/**
 * Collects a model's graph for the native inference plan: a {@link GraphEmitter} (core's export
 * plug-in point) that keeps the nodes and constants in memory instead of writing ONNX. Every module
 * with a registered graph exporter (core's layers, the blocks and shortcuts plug-ins, a user's own)
 * is described this way, so the plan covers whatever the exporters describe; plan-lower.ts then
 * turns the nodes into the native op list.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GraphAttr,
  GraphEmitter,
  Linear,
  Module,
  ResNet,
  emitLayerSequence,
  emitResNetGraph,
  graphExporterFor,
} from '@resnet-ts/core';
import { deferredSource } from './deferred-transpose.js';

/** One operator node (ONNX operator names and attributes, NCHW semantics). */
export interface PlanNode {
  op: string;
  name: string;
  inputs: string[];
  output: string;
  attrs: Record<string, GraphAttr>;
}

/**
 * A float constant: its values, dims and layout (`tfjs`: a tfjs parameter's own, i.e. an HWIO conv
 * filter or an [in, out] Linear weight; `torch`: PyTorch's, OIHW or [out, in]). `dims` are in that
 * layout. A conv filter may carry `scale`, one factor per output channel that the plan multiplies in
 * while it copies the filter (a folded batch norm, see `Conv2d.foldFactors`): `data` is then the
 * model's own filter, read in place, and no folded copy is ever made.
 */
export interface PlanConstant {
  data: Float32Array;
  dims: number[];
  layout: 'tfjs' | 'torch';
  scale?: Float32Array;
}

/** The collected graph: nodes in execution order, constants by name, and the output value. */
export interface PlanGraph {
  nodes: PlanNode[];
  floats: Map<string, PlanConstant>;
  ints: Map<string, number[]>;
  input: string;
  output: string;
}

const values = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** The emitter behind {@link collectPlanGraph}. */
class PlanGraphEmitter implements GraphEmitter {
  readonly foldBatchNorm = true;
  readonly nodes: PlanNode[] = [];
  readonly floats = new Map<string, PlanConstant>();
  readonly ints = new Map<string, number[]>();
  private count = 0;

  private fresh(prefix: string): string {
    return `${prefix}${this.count++}`;
  }

  node(opType: string, name: string, inputs: string[], attrs: Record<string, GraphAttr> = {}): string {
    const output = this.fresh('v');
    this.nodes.push({ op: opType, name, inputs, output, attrs });
    return output;
  }

  floatConstant(_name: string, data: Float32Array, dims: number[]): string {
    const key = this.fresh('f');
    this.floats.set(key, { data, dims, layout: 'torch' });
    return key;
  }

  int64Constant(_name: string, v: number[]): string {
    const key = this.fresh('i');
    this.ints.set(key, v);
    return key;
  }

  /**
   * A parameter as a constant, read in place: in PyTorch's layout when it was loaded from there and
   * its transpose to tfjs's was deferred and has not run (see deferred-transpose.ts), else as stored.
   */
  private parameter(t: tf.Tensor, torchPerm: number[], scale?: Float32Array): string {
    const key = this.fresh('f');
    const source = deferredSource(t);
    if (source && same(source.perm, torchPerm))
      this.floats.set(key, { data: source.values, dims: [...source.shape], layout: 'torch', scale });
    else this.floats.set(key, { data: values(t), dims: t.shape, layout: 'tfjs', scale });
    return key;
  }

  module(path: string, module: Module, x: string): string {
    return module instanceof Linear ? this.linear(path, module, x) : graphExporterFor(module, path)(this, module, path, x);
  }

  /** core's Linear exporter transposes the weight to PyTorch's layout; the plan takes either as is. */
  private linear(path: string, fc: Linear, x: string): string {
    const inputs = [x, this.parameter(fc.weight, [1, 0])];
    if (fc.bias) inputs.push(this.floatConstant(`${path}.bias`, values(fc.bias), [fc.outFeatures]));
    return this.node('Gemm', path, inputs, { transB: { int: 1 } });
  }

  /**
   * The batch norm folded with core's factors (`Conv2d.foldFactors`; the plan scales the filter as
   * it copies it), else a Conv and a BatchNormalization.
   */
  conv(path: string, conv: Conv2d, bn: BatchNorm2d | null, x: string, bnPath = ''): string {
    const factors = bn ? conv.foldFactors(bn) : null;
    // Copies of the small factors: disposed tensors' storage may be recycled.
    const scale = factors ? values(factors.scale).slice() : undefined;
    const bias = factors ? values(factors.bias).slice() : conv.bias ? values(conv.bias) : null;
    factors?.scale.dispose();
    factors?.bias.dispose();
    const inputs = [x, this.parameter(conv.weight, [2, 3, 1, 0], scale)];
    if (bias) inputs.push(this.floatConstant(`${path}.bias`, bias, [conv.outChannels]));
    const k = conv.kernelSize;
    const p = conv.padding;
    const y = this.node('Conv', path, inputs, {
      kernel_shape: { ints: [k, k] },
      strides: { ints: [conv.stride, conv.stride] },
      pads: { ints: [p, p, p, p] },
    });
    return bn && !factors ? this.batchNorm(bnPath || `${path}.bn`, bn, y) : y;
  }

  batchNorm(path: string, bn: BatchNorm2d, x: string): string {
    const c = bn.numFeatures;
    const stats = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((v, i) => this.floatConstant(`${path}.${i}`, values(v), [c]));
    return this.node('BatchNormalization', path, [x, ...stats], { epsilon: { float: bn.eps } });
  }

  sequence(path: string, named: [string, Module][], x: string): string {
    return emitLayerSequence(this, path, named, x);
  }
}

/**
 * The eval-mode graph of `model` (batch norms folded where exact). Throws core's GraphExportError
 * for a module type without a graph exporter.
 */
export function collectPlanGraph(model: ResNet): PlanGraph {
  const g = new PlanGraphEmitter();
  const input = 'input';
  const output = emitResNetGraph(g, model, input);
  return { nodes: g.nodes, floats: g.floats, ints: g.ints, input, output };
}
