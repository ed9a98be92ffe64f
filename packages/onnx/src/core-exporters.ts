/**
 * The ONNX form of core's own layers, registered with core's graph-export registry when this package
 * loads. Blocks and shortcuts register theirs next to their classes (@resnet-ts/blocks,
 * @resnet-ts/shortcuts); a module type nobody registered is refused by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, GlobalAvgPool, Identity, Linear, MaxPool2d, ReLU, Sequential, registerGraphExporter } from '@resnet-ts/core';

/** The values of `v` transposed by `perm` (to PyTorch's layout). */
export function readTransposed(v: tf.Tensor, perm: number[]): Float32Array {
  const t = tf.transpose(v, perm);
  try {
    return new Float32Array(t.dataSync() as Float32Array);
  } finally {
    t.dispose();
  }
}

registerGraphExporter(Conv2d, (g, m, path, x) => g.conv(path, m, null, x));
registerGraphExporter(BatchNorm2d, (g, m, path, x) => g.batchNorm(path, m, x));
registerGraphExporter(ReLU, (g, _m, path, x) => g.node('Relu', path, [x]));
registerGraphExporter(Identity, (_g, _m, _path, x) => x);
registerGraphExporter(MaxPool2d, (g, m, path, x) => {
  const { kernelSize: k, stride: s, padding: p } = m;
  return g.node('MaxPool', path, [x], { kernel_shape: { ints: [k, k] }, strides: { ints: [s, s] }, pads: { ints: [p, p, p, p] } });
});
registerGraphExporter(Sequential, (g, m, path, x) => g.sequence(path, m.children(), x));
// Global average pooling to [N, C]: GlobalAveragePool keeps 1x1 spatial dims, Flatten drops them.
registerGraphExporter(GlobalAvgPool, (g, _m, path, x) => g.node('Flatten', 'flatten', [g.node('GlobalAveragePool', path, [x])], { axis: { int: 1 } }));
registerGraphExporter(Linear, (g, fc, path, x) => {
  const inputs = [x, g.floatConstant(`${path}.weight`, readTransposed(fc.weight, [1, 0]), [fc.outFeatures, fc.inFeatures])];
  if (fc.bias) inputs.push(g.floatConstant(`${path}.bias`, new Float32Array(fc.bias.dataSync() as Float32Array), [fc.outFeatures]));
  return g.node('Gemm', path, inputs, { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } });
});
