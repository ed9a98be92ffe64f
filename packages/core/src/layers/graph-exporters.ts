/**
 * The graph form of core's own layers (see graph-export.ts), registered when core loads so that every
 * {@link GraphEmitter} (the ONNX writer of @resnet-ts/onnx, a backend's inference compiler) describes
 * them the same way. Blocks and shortcuts register theirs next to their classes.
 */
import { registerGraphExporter, type GraphEmitter } from '../graph-export.js';
import { permuteValues, type Module } from '../module.js';
import { ResNet } from '../resnet.js';
import { BatchNorm2d } from './batchnorm.js';
import { Conv2d } from './conv2d.js';
import { GlobalAvgPool, Identity, Linear, MaxPool2d, ReLU, Sequential, layerRuns } from './simple.js';

/**
 * {@link GraphEmitter.sequence} for any emitter: named layers one after another, each `Conv2d
 * [BatchNorm2d] [ReLU]` run (core's `layerRuns`) as {@link GraphEmitter.conv} and a Relu, every
 * other layer through its exporter.
 */
export function emitLayerSequence(g: GraphEmitter, path: string, named: [string, Module][], x: string): string {
  const at = (i: number) => (path ? `${path}.${named[i][0]}` : named[i][0]);
  let y = x;
  for (const run of layerRuns(named.map(([, m]) => m))) {
    if (run.kind === 'layer') {
      y = g.module(at(run.indices[0]), run.layer, y);
      continue;
    }
    y = g.conv(at(run.indices[0]), run.conv, run.bn, y, run.bn ? at(run.indices[1]) : '');
    if (run.relu) y = g.node('Relu', at(run.indices[run.indices.length - 1]), [y]);
  }
  return y;
}

/** Core's layers compute in training exactly what they export (batch norm on batch statistics). */
const TRAINS_AS_EXPORTED = { sameInTraining: true };

registerGraphExporter(Conv2d, (g, m, path, x) => g.conv(path, m, null, x), TRAINS_AS_EXPORTED);
registerGraphExporter(BatchNorm2d, (g, m, path, x) => g.batchNorm(path, m, x), TRAINS_AS_EXPORTED);
registerGraphExporter(ReLU, (g, _m, path, x) => g.node('Relu', path, [x]), TRAINS_AS_EXPORTED);
registerGraphExporter(Identity, (_g, _m, _path, x) => x, TRAINS_AS_EXPORTED);
registerGraphExporter(
  MaxPool2d,
  (g, m, path, x) => {
    const { kernelSize: k, stride: s, padding: p } = m;
    return g.node('MaxPool', path, [x], { kernel_shape: { ints: [k, k] }, strides: { ints: [s, s] }, pads: { ints: [p, p, p, p] } });
  },
  TRAINS_AS_EXPORTED,
);
registerGraphExporter(Sequential, (g, m, path, x) => g.sequence(path, m.children(), x), TRAINS_AS_EXPORTED);
// Global average pooling to [N, C]: GlobalAveragePool keeps 1x1 spatial dims, Flatten drops them.
registerGraphExporter(
  GlobalAvgPool,
  (g, _m, path, x) => g.node('Flatten', 'flatten', [g.node('GlobalAveragePool', path, [x])], { axis: { int: 1 } }),
  TRAINS_AS_EXPORTED,
);
// Gemm with PyTorch's [out, in] weight (tfjs keeps [in, out]).
registerGraphExporter(
  Linear,
  (g, fc, path, x) => {
    const weight = permuteValues(fc.weight.dataSync() as Float32Array, [fc.inFeatures, fc.outFeatures], [1, 0]);
    const inputs = [x, g.floatConstant(`${path}.weight`, weight, [fc.outFeatures, fc.inFeatures])];
    if (fc.bias) inputs.push(g.floatConstant(`${path}.bias`, new Float32Array(fc.bias.dataSync() as Float32Array), [fc.outFeatures]));
    return g.node('Gemm', path, inputs, { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } });
  },
  TRAINS_AS_EXPORTED,
);
/**
 * The whole network as a graph: stem, stages, final norm, pooling and classifier. Returns the logits
 * value (the output of the last node). Registered as the ResNet exporter.
 */
export function emitResNetGraph(g: GraphEmitter, model: ResNet, x: string): string {
  const named = new Map(model.children().map(([n, m]) => [m, n] as const));
  const names = (modules: Module[]): [string, Module][] => modules.map((m) => [named.get(m)!, m]);
  let y = g.sequence('', names(model.stem), x);
  model.stages.forEach((stage, i) => (y = g.module(`layer${i + 1}`, stage, y)));
  y = g.sequence('', names(model.head), y);
  y = g.module('avgpool', model.pool, y);
  return g.module('fc', model.fc, y);
}

registerGraphExporter(ResNet, (g, model, _path, x) => emitResNetGraph(g, model, x), TRAINS_AS_EXPORTED);
