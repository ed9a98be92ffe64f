/**
 * How many values per channel the batch norm layers of a model see, from the model's own shape
 * description (`describe`, as `summary()` uses it; no tensor is run): train-mode batch norm needs more
 * than one value per channel (N * H * W > 1), so a batch of one image fails where a layer's maps are
 * 1x1 (resnet18 on 32x32 images: layer4). A trainer asks before it starts instead of failing mid-run.
 */
import { Module, Shape, Tracer } from './module.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { ShapeError, SpecError, fmtShape, fmtValue } from './errors.js';
import type { ResolvedSpec } from './resnet.js';

/** The batch norm layer with the smallest input, as {@link smallestBatchNormInput} finds it. */
export interface BatchNormInput {
  /** Dotted path of the layer, e.g. `layer4.0.bn1`. */
  layer: string;
  /** The layer's input per image, [h, w, c]. */
  shape: Shape;
  /** h * w: the values per channel one image gives it; a batch of N images gives N times as many. */
  spatialSize: number;
  /** The smallest batch that trains (more than one value per channel): 2 when `spatialSize` is 1, else 1. */
  minBatchSize: number;
}

/**
 * The batch norm layer that sees the fewest values per channel when `model` takes images of
 * `inputShape` ([h, w, c]; for a `ResNet`, [h, w] takes the spec's channels, and leaving it out
 * takes the spec's `inputSize` and `inChannels`), from the model's shape description: no tensor is
 * run and no statistic changes. Layers with frozen statistics (`frozenStatistics`) are skipped, since
 * they never compute batch statistics. Null when no batch norm layer computes them (e.g.
 * `batchNorm: false`).
 *
 * Train-mode batch norm refuses input with one value per channel, so a batch of `n` images trains
 * only when `n * spatialSize > 1`, i.e. `n >= minBatchSize`:
 * `smallestBatchNormInput(createModel('resnet18'), [32, 32, 3])` is `layer4.0.bn1` with
 * `spatialSize` 1 and `minBatchSize` 2.
 */
export function smallestBatchNormInput(model: Module, inputShape?: Shape): BatchNormInput | null {
  const shape = modelInputShape(model, inputShape);
  const tracer = new Tracer();
  model.describe(shape, tracer);
  const modules = new Map(model.namedModules());
  let smallest: BatchNormInput | null = null;
  for (const row of tracer.rows) {
    if (row.type !== 'BatchNorm2d') continue;
    const module = modules.get(row.name);
    if (module instanceof BatchNorm2d && module.frozenStatistics) continue;
    const spatialSize = row.inputShape.length === 3 ? row.inputShape[0] * row.inputShape[1] : 1;
    if (smallest && spatialSize >= smallest.spatialSize) continue;
    smallest = { layer: row.name, shape: [...row.inputShape], spatialSize, minBatchSize: spatialSize > 1 ? 1 : 2 };
  }
  return smallest;
}

/** The spec of a `ResNet` (read by its field: this file does not import the class, which calls it). */
function specOf(model: Module): ResolvedSpec | null {
  const spec = (model as { spec?: ResolvedSpec }).spec;
  return spec && Array.isArray(spec.inputSize) && Number.isInteger(spec.inChannels) ? spec : null;
}

/** [h, w, c] for `model` from what the caller gave (see {@link smallestBatchNormInput}). */
function modelInputShape(model: Module, inputShape: Shape | undefined): Shape {
  const spec = specOf(model);
  if (spec) {
    if (inputShape === undefined) return [...spec.inputSize, spec.inChannels];
    if (Array.isArray(inputShape) && inputShape.length === 2) inputShape = [...inputShape, spec.inChannels];
  }
  const ok = Array.isArray(inputShape) && inputShape.length === 3 && inputShape.every((d) => Number.isInteger(d) && d >= 1);
  if (!ok) {
    throw new SpecError(
      `smallestBatchNormInput: the input shape must be [height, width, channels] of positive integers` +
        `${spec ? " (or [height, width], or left out for the spec's inputSize)" : ''}; got ${fmtValue(inputShape)}.`,
    );
  }
  return inputShape as Shape;
}

/**
 * Throws a `ShapeError` before a train-mode forward of `model` on `x` (NHWC) when one of its batch
 * norm layers would get one value per channel, so that no running statistic changes (the layer's own
 * check would come after the layers before it had updated theirs). Only a batch of one image can.
 */
export function assertBatchStatisticsFor(model: Module, x: { shape: number[] }, where: string): void {
  if (x.shape.length !== 4 || x.shape[0] !== 1) return;
  const smallest = smallestBatchNormInput(model, x.shape.slice(1));
  if (!smallest || smallest.spatialSize > 1) return;
  throw new ShapeError(
    `${where} in training got input ${fmtShape(x.shape)}, one image, and its batch norm ${smallest.layer} would get ` +
      `${fmtShape([1, ...smallest.shape])}, one value per channel: batch norm in training needs more than one to compute a batch variance; ` +
      'train with a batch of at least 2 images, or with larger images (eval mode takes this input).',
  );
}
