import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GraphAttr,
  GraphEmitter,
  GraphExportError,
  Module,
  ResNet,
  ResNetError,
  emitLayerSequence,
  emitResNetGraph,
  graphExporterFor,
} from '@resnet-ts/core';
import { readTransposed } from './core-exporters.js';
import { OnnxPreprocessing, exportMetadata } from './metadata.js';
import { AttrType, DataType, modelProtoType } from './schema.js';

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** Fold every batch norm into the conv before it (default true: fewer ops, same numbers). */
  foldBatchNorm?: boolean;
  /** ONNX opset (default 13; 13 to 21 work: only ops stable since 13 are used). */
  opset?: number;
  /** Graph input name (default `input`). */
  inputName?: string;
  /** Graph output name (default `logits`). */
  outputName?: string;
  /** Input layout: `nchw` (default, like PyTorch exports) or `nhwc` (resnet-ts's own; a Transpose is added). */
  layout?: 'nchw' | 'nhwc';
  /** Symbolic batch dimension (default true). False fixes it to `batchSize`. */
  dynamicBatch?: boolean;
  /** Batch size when `dynamicBatch` is false (default 1). */
  batchSize?: number;
  /**
   * Input [height, width]: fixed in the graph. Default: symbolic (`height`, `width`): the network
   * takes any size, as resnet-ts's does.
   */
  inputSize?: [number, number];
  /**
   * How images are prepared for the network, stored as `resnet-ts.preprocessing` (JSON) so that a
   * runtime feeding the file prepares them the same way. Default: a classifier's own (see
   * {@link OnnxSource}) unless its normalisation is only assumed (`origin.normalisation`: weights that
   * do not store it); none for a bare model.
   */
  preprocessing?: OnnxPreprocessing;
  /** Class names, one per output, stored as `resnet-ts.labels` (JSON). Default: a classifier's named labels; none for a bare model. */
  labels?: readonly string[];
  /** Extra `metadata_props` entries; keys starting with `resnet-ts.` are the exporter's own and refused. */
  metadata?: Record<string, string>;
}

/**
 * What can be exported: a model, or a classifier (what the zoo's `fromPretrained` returns), whose
 * preprocessing and named labels are then stored with the graph: a runtime reading them gives the
 * classifier's answers.
 */
export type OnnxSource =
  | ResNet
  | {
      model: ResNet;
      preprocessing: OnnxPreprocessing;
      labels: readonly string[];
      origin?: { labels?: 'named' | 'numbers'; normalisation?: 'known' | 'assumed' };
    };

/** The network of `source`, and the preprocessing and labels to store (options first, then a classifier's own). */
function unpackSource(source: OnnxSource, options: OnnxExportOptions): { model: ResNet; preprocessing?: OnnxPreprocessing; labels?: readonly string[] } {
  if (source instanceof ResNet) return { model: source, preprocessing: options.preprocessing, labels: options.labels };
  if (!source || !(source.model instanceof ResNet))
    throw new OnnxExportError('exportOnnx takes a ResNet, or a classifier from fromPretrained (an object with a ResNet `model`).');
  // Labels nobody named ('0', '1', ...) would read as class names; a guessed normalisation as a known one.
  const named = source.origin?.labels !== 'numbers';
  const known = source.origin?.normalisation !== 'assumed';
  return {
    model: source.model,
    preprocessing: options.preprocessing ?? (known ? source.preprocessing : undefined),
    labels: options.labels ?? (named ? source.labels : undefined),
  };
}

/** A model the exporter cannot describe in ONNX. */
export class OnnxExportError extends ResNetError {
  constructor(message: string) {
    super(message, 'ONNX_EXPORT');
  }
}

interface Attr {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
  s?: Uint8Array;
}

interface Node {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: Attr[];
}

interface Initializer {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

const ints = (name: string, v: number[]): Attr => ({ name, type: AttrType.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: AttrType.INT, i: v });
const float = (name: string, v: number): Attr => ({ name, type: AttrType.FLOAT, f: v });

/** An exporter's attribute as an ONNX AttributeProto. */
function toAttr(name: string, a: GraphAttr): Attr {
  if ('int' in a) return int(name, a.int);
  if ('ints' in a) return ints(name, a.ints);
  if ('float' in a) return float(name, a.float);
  return { name, type: AttrType.STRING, s: new TextEncoder().encode(a.string) };
}

/**
 * The folded Conv weights (OIHW) and bias of `conv` with `bn` folded in, or null where the fold is
 * not exact (a ±Inf `gamma / sqrt(var + eps)`: the same rule as core's `Conv2d.inferenceWeights`), so
 * the graph keeps the BatchNormalization node and its NaN/Inf behaviour.
 */
function foldedConv(conv: Conv2d, bn: BatchNorm2d, w: Float32Array): { weight: Float32Array; bias: Float32Array } | null {
  const bias = conv.bias ? (conv.bias.dataSync() as Float32Array) : null;
  const gamma = bn.weight.dataSync();
  const beta = bn.bias.dataSync();
  const mean = bn.runningMean.dataSync();
  const variance = bn.runningVar.dataSync();
  const per = w.length / conv.outChannels;
  const weight = new Float32Array(w.length);
  const folded = new Float32Array(conv.outChannels);
  for (let o = 0; o < conv.outChannels; o++) {
    const scale = gamma[o] / Math.sqrt(variance[o] + bn.eps);
    // Not exact where the runtime's float32 scale gamma * rsqrt(var + eps) is ±Inf (core's fold refuses the same).
    const scale32 = Math.fround(gamma[o] * Math.fround(1 / Math.sqrt(Math.fround(variance[o] + Math.fround(bn.eps)))));
    if (scale32 === Infinity || scale32 === -Infinity) return null;
    for (let i = 0; i < per; i++) weight[o * per + i] = w[o * per + i] * scale;
    folded[o] = beta[o] + ((bias ? bias[o] : 0) - mean[o]) * scale;
  }
  return { weight, bias: folded };
}

/** Builds the node list and initializers of the graph; the {@link GraphEmitter} the registered exporters write to. */
class GraphBuilder implements GraphEmitter {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();

  constructor(readonly foldBatchNorm: boolean) {}

  private unique(name: string): string {
    let n = name;
    for (let i = 1; this.used.has(n); i++) n = `${name}_${i}`;
    this.used.add(n);
    return n;
  }

  module(path: string, module: Module, x: string): string {
    return graphExporterFor(module, path)(this, module, path, x);
  }

  node(opType: string, name: string, inputs: string[], attrs: Record<string, GraphAttr> | Attr[] = []): string {
    const attribute = Array.isArray(attrs) ? attrs : Object.entries(attrs).map(([k, a]) => toAttr(k, a));
    const n = this.unique(name || opType);
    const out = this.unique(`${n}_out`);
    this.nodes.push({ name: n, op_type: opType, input: inputs, output: [out], attribute });
    return out;
  }

  floatConstant(name: string, data: Float32Array, dims: number[]): string {
    const n = this.unique(name);
    this.initializers.push({
      name: n,
      dims,
      data_type: DataType.FLOAT,
      raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return n;
  }

  int64Constant(name: string, values: number[]): string {
    const n = this.unique(name);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name: n, dims: [values.length], data_type: DataType.INT64, raw_data: new Uint8Array(data.buffer) });
    return n;
  }

  conv(path: string, conv: Conv2d, bn: BatchNorm2d | null, x: string, bnPath = ''): string {
    const k = conv.kernelSize;
    const w = readTransposed(conv.weight, [3, 2, 0, 1]); // torch layout OIHW
    const dims = [conv.outChannels, conv.inChannels, k, k];
    const attrs = [
      ints('kernel_shape', [k, k]),
      ints('strides', [conv.stride, conv.stride]),
      ints('pads', [conv.padding, conv.padding, conv.padding, conv.padding]),
    ];
    const folded = bn && this.foldBatchNorm ? foldedConv(conv, bn, w) : null;
    if (folded) {
      const inputs = [x, this.floatConstant(`${path}.weight`, folded.weight, dims), this.floatConstant(`${path}.bias`, folded.bias, [conv.outChannels])];
      return this.node('Conv', path, inputs, attrs);
    }
    const inputs = [x, this.floatConstant(`${path}.weight`, w, dims)];
    if (conv.bias) inputs.push(this.floatConstant(`${path}.bias`, new Float32Array(conv.bias.dataSync() as Float32Array), [conv.outChannels]));
    const y = this.node('Conv', path, inputs, attrs);
    return bn ? this.batchNorm(bnPath || `${path}.bn`, bn, y) : y;
  }

  batchNorm(path: string, bn: BatchNorm2d, x: string): string {
    const c = bn.numFeatures;
    const f = (v: tf.Variable) => new Float32Array(v.dataSync() as Float32Array);
    const stats = [
      this.floatConstant(`${path}.weight`, f(bn.weight), [c]),
      this.floatConstant(`${path}.bias`, f(bn.bias), [c]),
      this.floatConstant(`${path}.running_mean`, f(bn.runningMean), [c]),
      this.floatConstant(`${path}.running_var`, f(bn.runningVar), [c]),
    ];
    return this.node('BatchNormalization', path, [x, ...stats], [float('epsilon', bn.eps)]);
  }

  sequence(path: string, named: [string, Module][], x: string): string {
    return emitLayerSequence(this, path, named, x);
  }
}

/** Exports the ResNet's layers (core's ResNet exporter); the logits are named `outputName`. */
function emitResNet(g: GraphBuilder, model: ResNet, x: string, outputName: string): void {
  emitResNetGraph(g, model, x);
  // The classifier's output is the graph's output.
  g.nodes[g.nodes.length - 1].output = [outputName];
}

/** The ONNX opsets an export may name: only operators stable since opset 13 are used; 21 is the newest tested. */
export const ONNX_OPSETS = { min: 13, max: 21 } as const;

/**
 * Exports a ResNet (eval mode: batch norm uses its running statistics) as an ONNX model. Returns the
 * serialised `ModelProto`. Input `[batch, 3, H, W]` float32 (or NHWC with `layout: 'nhwc'`), output
 * logits `[batch, classes]`. The file's `metadata_props` hold the spec and layout, and for a
 * classifier (or with the `preprocessing`/`labels` options) how to prepare its input and the class
 * names: see `readOnnxMetadata`.
 */
export function exportOnnx(source: OnnxSource, options: OnnxExportOptions = {}): Uint8Array {
  const { model, preprocessing, labels } = unpackSource(source, options);
  const {
    foldBatchNorm = true,
    opset = 13,
    inputName = 'input',
    outputName = 'logits',
    layout = 'nchw',
    dynamicBatch = true,
    batchSize = 1,
    inputSize,
    metadata = {},
  } = options;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max)
    throw new OnnxExportError(`opset must be an integer from ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max}; got ${opset}.`);
  const metadataProps = exportMetadata(model.spec, layout, { preprocessing, labels, extra: metadata });
  const g = new GraphBuilder(foldBatchNorm);
  const c = model.spec.inChannels;
  let x = inputName;
  if (layout === 'nhwc') x = g.node('Transpose', 'to_nchw', [x], [ints('perm', [0, 3, 1, 2])]);
  try {
    emitResNet(g, model, x, outputName);
  } catch (e) {
    // A module without a registered exporter: the same one-line message, as this package's error.
    if (e instanceof GraphExportError) throw new OnnxExportError(e.message);
    throw e;
  }

  const batch = dynamicBatch ? { dim_param: 'batch' } : { dim_value: batchSize };
  const [h, wd] = inputSize
    ? [{ dim_value: inputSize[0] }, { dim_value: inputSize[1] }]
    : [{ dim_param: 'height' }, { dim_param: 'width' }];
  const inputDims = layout === 'nhwc' ? [batch, h, wd, { dim_value: c }] : [batch, { dim_value: c }, h, wd];
  const tensorType = (dims: object[]) => ({ tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims } } });

  const message = {
    ir_version: opset <= 14 ? 7 : opset <= 18 ? 8 : 9,
    producer_name: 'resnet-ts',
    producer_version: '0.1.0',
    opset_import: [{ domain: '', version: opset }],
    doc_string: 'ResNet exported by resnet-ts (eval mode)',
    graph: {
      name: 'resnet',
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: inputName, type: tensorType(inputDims) }],
      output: [{ name: outputName, type: tensorType([batch, { dim_value: model.spec.numClasses }]) }],
    },
    metadata_props: metadataProps,
  };
  const type = modelProtoType();
  const err = type.verify(message);
  if (err) throw new OnnxExportError(`Internal error building the ONNX model: ${err}`);
  return type.encode(type.fromObject(message)).finish();
}
