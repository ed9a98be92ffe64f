import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm2d,
  Conv2d,
  GlobalAvgPool,
  Identity,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  ResNet,
  ResNetError,
  ResidualBlock,
  Sequential,
} from '@resnet-ts/core';
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
  /** Extra `metadata_props` entries (the spec is always stored under `resnet-ts.spec`). */
  metadata?: Record<string, string>;
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

/** The values of `v` transposed by `perm` (to PyTorch's layout). Not returned from a tidy: tidy walks arrays element by element. */
function readTransposed(v: tf.Tensor, perm: number[]): Float32Array {
  const t = tf.transpose(v, perm);
  try {
    return new Float32Array(t.dataSync() as Float32Array);
  } finally {
    t.dispose();
  }
}

const ints = (name: string, v: number[]): Attr => ({ name, type: AttrType.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: AttrType.INT, i: v });
const float = (name: string, v: number): Attr => ({ name, type: AttrType.FLOAT, f: v });

/** Builds the node list and initializers of the graph. */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();

  constructor(readonly fold: boolean) {}

  private unique(name: string): string {
    let n = name;
    for (let i = 1; this.used.has(n); i++) n = `${name}_${i}`;
    this.used.add(n);
    return n;
  }

  node(opType: string, name: string, inputs: string[], attrs: Attr[] = []): string {
    const n = this.unique(name || opType);
    const out = this.unique(`${n}_out`);
    this.nodes.push({ name: n, op_type: opType, input: inputs, output: [out], attribute: attrs });
    return out;
  }

  floatInit(name: string, data: Float32Array, dims: number[]): string {
    const n = this.unique(name);
    this.initializers.push({
      name: n,
      dims,
      data_type: DataType.FLOAT,
      raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return n;
  }

  int64Init(name: string, values: number[]): string {
    const n = this.unique(name);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name: n, dims: [values.length], data_type: DataType.INT64, raw_data: new Uint8Array(data.buffer) });
    return n;
  }

  /** Conv (+ following batch norm, folded or as a node); returns the output name. */
  conv(path: string, conv: Conv2d, bn: BatchNorm2d | null, x: string, bnPath = ''): string {
    const k = conv.kernelSize;
    // torch layout OIHW
    const w = readTransposed(conv.weight, [3, 2, 0, 1]);
    const dims = [conv.outChannels, conv.inChannels, k, k];
    const bias = conv.bias ? (conv.bias.dataSync() as Float32Array) : null;
    const attrs = [
      ints('kernel_shape', [k, k]),
      ints('strides', [conv.stride, conv.stride]),
      ints('pads', [conv.padding, conv.padding, conv.padding, conv.padding]),
    ];
    if (bn && this.fold) {
      const gamma = bn.weight.dataSync();
      const beta = bn.bias.dataSync();
      const mean = bn.runningMean.dataSync();
      const variance = bn.runningVar.dataSync();
      const per = w.length / conv.outChannels;
      const fw = new Float32Array(w.length);
      const fb = new Float32Array(conv.outChannels);
      for (let o = 0; o < conv.outChannels; o++) {
        const scale = gamma[o] / Math.sqrt(variance[o] + bn.eps);
        for (let i = 0; i < per; i++) fw[o * per + i] = w[o * per + i] * scale;
        fb[o] = beta[o] + ((bias ? bias[o] : 0) - mean[o]) * scale;
      }
      const wn = this.floatInit(`${path}.weight`, fw, dims);
      const bn_ = this.floatInit(`${path}.bias`, fb, [conv.outChannels]);
      return this.node('Conv', path, [x, wn, bn_], attrs);
    }
    const inputs = [x, this.floatInit(`${path}.weight`, w, dims)];
    if (bias) inputs.push(this.floatInit(`${path}.bias`, new Float32Array(bias), [conv.outChannels]));
    const y = this.node('Conv', path, inputs, attrs);
    return bn ? this.batchNorm(bnPath || `${path}.bn`, bn, y) : y;
  }

  batchNorm(path: string, bn: BatchNorm2d, x: string): string {
    const c = bn.numFeatures;
    const f = (v: tf.Variable) => new Float32Array(v.dataSync() as Float32Array);
    return this.node(
      'BatchNormalization',
      path,
      [
        x,
        this.floatInit(`${path}.weight`, f(bn.weight), [c]),
        this.floatInit(`${path}.bias`, f(bn.bias), [c]),
        this.floatInit(`${path}.running_mean`, f(bn.runningMean), [c]),
        this.floatInit(`${path}.running_var`, f(bn.runningVar), [c]),
      ],
      [float('epsilon', bn.eps)],
    );
  }

  /** A Sequential/chain of Conv2d, BatchNorm2d, ReLU, MaxPool2d modules. */
  chain(path: string, modules: [string, Module][], x: string): string {
    let y = x;
    for (let i = 0; i < modules.length; i++) {
      const [name, m] = modules[i];
      const p = path ? `${path}.${name}` : name;
      if (m instanceof Conv2d) {
        const next = modules[i + 1];
        if (next && next[1] instanceof BatchNorm2d) {
          y = this.conv(p, m, next[1], y, path ? `${path}.${next[0]}` : next[0]);
          i++;
        } else y = this.conv(p, m, null, y);
      } else if (m instanceof BatchNorm2d) y = this.batchNorm(p, m, y);
      else if (m instanceof ReLU) y = this.node('Relu', p, [y]);
      else if (m instanceof MaxPool2d) {
        const { kernelSize: k, stride: s, padding: pd } = m;
        y = this.node('MaxPool', p, [y], [ints('kernel_shape', [k, k]), ints('strides', [s, s]), ints('pads', [pd, pd, pd, pd])]);
      } else if (m instanceof Identity) continue;
      else if (m instanceof ResidualBlock) y = this.block(p, m, y);
      else if (m instanceof Sequential) y = this.chain(p, m.children(), y);
      else if (isZeroPad(m)) y = this.zeroPad(p, m, y);
      else throw unsupported(p, m);
    }
    return y;
  }

  /** Option A shortcut: subsample by the stride (Slice with steps) and append zero channels (Pad). */
  zeroPad(path: string, m: ZeroPadLike, x: string): string {
    let y = x;
    if (m.stride > 1) {
      y = this.node('Slice', `${path}.subsample`, [
        y,
        this.int64Init(`${path}.starts`, [0, 0]),
        this.int64Init(`${path}.ends`, [2147483647, 2147483647]),
        this.int64Init(`${path}.axes`, [2, 3]),
        this.int64Init(`${path}.steps`, [m.stride, m.stride]),
      ]);
    }
    const extra = m.outChannels - m.inChannels;
    const before = m.padBefore ?? 0;
    if (!Number.isInteger(before) || before < 0 || before > extra) {
      throw new OnnxExportError(`Cannot export '${path}': option A pads ${before} channels before the identity but only ${extra} are new.`);
    }
    if (extra > 0) {
      y = this.node(
        'Pad',
        `${path}.pad`,
        // NCHW pads [begins..., ends...]: option A's zero channels go before (padBefore) and after the identity channels.
        [y, this.int64Init(`${path}.pads`, [0, before, 0, 0, 0, extra - before, 0, 0])],
        [{ name: 'mode', type: AttrType.STRING, s: new TextEncoder().encode('constant') }],
      );
    }
    return y;
  }

  /** relu(branch(x) + shortcut(x)) for blocks whose children are convK/bnK (+ downsample). */
  block(path: string, block: ResidualBlock, x: string): string {
    const children = block.children();
    const branch = children.filter(([n]) => n !== 'downsample');
    const downsample = children.find(([n]) => n === 'downsample')?.[1];
    if (!branch.every(([n, m]) => (/^conv\d+$/.test(n) && m instanceof Conv2d) || (/^bn\d+$/.test(n) && m instanceof BatchNorm2d))) {
      throw new OnnxExportError(
        `Cannot export block '${path}' (${block.typeName}): only blocks made of convK/bnK units (the basic and bottleneck blocks) are supported.`,
      );
    }
    let shortcut = x;
    if (downsample)
      shortcut =
        downsample instanceof Sequential
          ? this.chain(`${path}.downsample`, downsample.children(), x)
          : this.chain(path, [['downsample', downsample]], x);
    if (!block.branchEnabled) return block.residual ? this.node('Relu', `${path}.relu`, [shortcut]) : x;
    let y = x;
    const convs = branch.filter(([, m]) => m instanceof Conv2d);
    for (let i = 0; i < convs.length; i++) {
      const [name, conv] = convs[i];
      const bnName = name.replace('conv', 'bn');
      const bn = branch.find(([n]) => n === bnName)?.[1] as BatchNorm2d | undefined;
      y = this.conv(`${path}.${name}`, conv as Conv2d, bn ?? null, y, `${path}.${bnName}`);
      if (i < convs.length - 1) y = this.node('Relu', `${path}.relu${i + 1}`, [y]);
    }
    if (block.branchScale !== 1) {
      if (typeof block.branchScale !== 'number')
        throw new OnnxExportError(`Block '${path}' has a tensor branchScale; export supports numbers only.`);
      y = this.node('Mul', `${path}.scale`, [y, this.floatInit(`${path}.branch_scale`, Float32Array.of(block.branchScale), [])]);
    }
    if (block.residual) y = this.node('Add', `${path}.add`, [y, shortcut]);
    return this.node('Relu', `${path}.relu`, [y]);
  }
}

interface ZeroPadLike extends Module {
  inChannels: number;
  outChannels: number;
  stride: number;
  /** Zero channels placed before the identity channels (option A 'split'); absent means 0. */
  padBefore?: number;
}

/** Option A's parameter-free shortcut (from @resnet-ts/shortcuts), recognised by shape. */
function isZeroPad(m: Module): m is ZeroPadLike {
  const z = m as unknown as Record<string, unknown>;
  return (
    (m.typeName === 'ZeroPadShortcut' || /zeropad/i.test(m.typeName)) &&
    typeof z.inChannels === 'number' &&
    typeof z.outChannels === 'number' &&
    typeof z.stride === 'number' &&
    m.namedParameters().length === 0
  );
}

/** The ONNX opsets an export may name: only operators stable since opset 13 are used; 21 is the newest tested. */
export const ONNX_OPSETS = { min: 13, max: 21 } as const;

function unsupported(path: string, m: Module): OnnxExportError {
  return new OnnxExportError(`Cannot export '${path}' (${m.typeName}) to ONNX: no mapping for this module type.`);
}

/**
 * Exports a ResNet (eval mode: batch norm uses its running statistics) as an ONNX model. Returns the
 * serialised `ModelProto`. Input `[batch, 3, H, W]` float32 (or NHWC with `layout: 'nhwc'`), output
 * logits `[batch, classes]`.
 */
export function exportOnnx(model: ResNet, options: OnnxExportOptions = {}): Uint8Array {
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
  const g = new GraphBuilder(foldBatchNorm);
  const c = model.spec.inChannels;
  let x = inputName;
  if (layout === 'nhwc') x = g.node('Transpose', 'to_nchw', [x], [ints('perm', [0, 3, 1, 2])]);
  const stem = model.children().filter(([n]) => !n.startsWith('layer') && n !== 'avgpool' && n !== 'fc');
  x = g.chain('', stem, x);
  model.stages.forEach((stage, i) => (x = g.chain(`layer${i + 1}`, stage.children(), x)));
  if (!(model.pool instanceof GlobalAvgPool)) throw unsupported('avgpool', model.pool);
  x = g.node('GlobalAveragePool', 'avgpool', [x]);
  x = g.node('Flatten', 'flatten', [x], [int('axis', 1)]);
  const fc: Linear = model.fc;
  const w = readTransposed(fc.weight, [1, 0]);
  const gemmInputs = [x, g.floatInit('fc.weight', w, [fc.outFeatures, fc.inFeatures])];
  if (fc.bias) gemmInputs.push(g.floatInit('fc.bias', new Float32Array(fc.bias.dataSync() as Float32Array), [fc.outFeatures]));
  g.node('Gemm', 'fc', gemmInputs, [float('alpha', 1), float('beta', 1), int('transB', 1)]);
  // The classifier's output is the graph's output.
  g.nodes[g.nodes.length - 1].output = [outputName];

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
    metadata_props: Object.entries({ 'resnet-ts.spec': JSON.stringify(model.spec), 'resnet-ts.layout': layout, ...metadata }).map(
      ([key, value]) => ({ key, value }),
    ),
  };
  const type = modelProtoType();
  const err = type.verify(message);
  if (err) throw new OnnxExportError(`Internal error building the ONNX model: ${err}`);
  return type.encode(type.fromObject(message)).finish();
}
