/**
 * The export plug-in point: how a module type is written as a computation graph (ONNX today).
 *
 * Core defines the interface a graph writer offers ({@link GraphEmitter}) and a registry from module
 * classes to their exporters; it emits nothing itself. `@resnet-ts/onnx` implements the emitter and
 * registers the exporters of core's own layers; a block or shortcut plug-in registers its exporter
 * next to its class (`registerGraphExporter(MyBlock, ...)`). Lookup is by the module's exact class,
 * never by a parent class or a type name: a subclass that changes `forward` without registering an
 * exporter is refused, not exported with its parent's graph.
 */
import type { Module } from './module.js';
import type { Conv2d } from './layers/conv2d.js';
import type { BatchNorm2d } from './layers/batchnorm.js';
import { ResNetError } from './errors.js';

/** A node attribute: an integer, a list of integers, a float or a string (ONNX's INT, INTS, FLOAT, STRING). */
export type GraphAttr = { int: number } | { ints: number[] } | { float: number } | { string: string };

/**
 * What an exporter may write into the graph. Values are named by strings (the graph's edge names);
 * every method returns the name of the value it produced.
 */
export interface GraphEmitter {
  /** Whether batch norms after convs are folded into them (the export option). */
  readonly foldBatchNorm: boolean;
  /** Emits `module` (at state-dict path `path`) through its registered exporter; refuses a module type without one. */
  module(path: string, module: Module, x: string): string;
  /** One operator node, e.g. `node('Add', 'layer1.0.add', [a, b])`; the ONNX operator names are used. */
  node(opType: string, name: string, inputs: string[], attrs?: Record<string, GraphAttr>): string;
  /** A float32 constant with `dims` (PyTorch layout) and its values. */
  floatConstant(name: string, data: Float32Array, dims: number[]): string;
  /** An int64 vector constant (shapes, pads, axes). */
  int64Constant(name: string, values: number[]): string;
  /**
   * `bn(conv(x))`, or `conv(x)` with `bn` null: one Conv with the batch norm folded in when the export
   * folds and the fold is exact (see `Conv2d.inferenceWeights`), else a Conv and a BatchNormalization
   * named `bnPath`.
   */
  conv(path: string, conv: Conv2d, bn: BatchNorm2d | null, x: string, bnPath?: string): string;
  /** A BatchNormalization node with the running statistics (eval mode). */
  batchNorm(path: string, bn: BatchNorm2d, x: string): string;
  /**
   * Named layers one after another (paths `path.name`, or `name` at the top): each `Conv2d
   * [BatchNorm2d] [ReLU]` run (core's `layerRuns`, the grouping of the eval-mode fusion) through
   * {@link GraphEmitter.conv} and a Relu, every other layer through its exporter.
   */
  sequence(path: string, named: [string, Module][], x: string): string;
}

/** Writes one module of type `M` into the graph; returns the name of its output value. */
export type GraphExporter<M extends Module = Module> = (g: GraphEmitter, module: M, path: string, x: string) => string;

/** A module class (any constructor signature): the key of the exporter registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor signature: the key is the class itself
export type ModuleClass<M extends Module> = abstract new (...args: any[]) => M;

const exporters = new Map<unknown, GraphExporter>();
const sameInTraining = new Set<unknown>();

/** Options of {@link registerGraphExporter}. */
export interface GraphExporterOptions {
  /**
   * The module computes in training mode exactly what its graph describes, given train-mode batch
   * norms (no dropout, stochastic depth or other train-only behaviour), so a backend's compiled
   * training plan may run it from the graph. Default false: a model containing it trains layer by layer.
   */
  sameInTraining?: boolean;
}

/**
 * Registers how modules of class `type` are exported (exactly that class: subclasses register their
 * own). Re-registering replaces.
 */
export function registerGraphExporter<M extends Module>(
  type: ModuleClass<M>,
  exporter: GraphExporter<M>,
  options: GraphExporterOptions = {},
): void {
  exporters.set(type, exporter as GraphExporter);
  if (options.sameInTraining) sameInTraining.add(type);
  else sameInTraining.delete(type);
}

/** Whether `module`'s exact class was registered with `sameInTraining` (see {@link GraphExporterOptions}). */
export function graphIsSameInTraining(module: Module): boolean {
  return sameInTraining.has(module.constructor);
}

/** A module the graph writer has no exporter for. */
export class GraphExportError extends ResNetError {
  constructor(message: string) {
    super(message, 'GRAPH_EXPORT');
  }
}

/** The exporter registered for `module`'s exact class; a {@link GraphExportError} naming the type and path if there is none. */
export function graphExporterFor(module: Module, path: string): GraphExporter {
  const exporter = exporters.get(module.constructor);
  if (!exporter) {
    throw new GraphExportError(
      `Cannot export '${path || '(model)'}' (${module.typeName}): no graph exporter is registered for ${module.typeName}. ` +
        `Register one next to the class with registerGraphExporter(${module.typeName}, (g, module, path, x) => ...).`,
    );
  }
  return exporter;
}
