/**
 * @resnet-ts/core: the minimal core. Module tree and layers, registries for blocks, shortcuts and
 * backends, the ResNet assembler, analysis without running tensors, and weight formats.
 */
import './tfjs-setup.js';
import './io/conventions/index.js';

export { ensureGradientsRegistered } from './tfjs-setup.js';
export {
  batchNormTrain,
  registerBatchNormTrainGradient,
  type BatchNormEpilogue,
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
} from './kernels/batchnorm-train.js';
export { sgdStep, type SgdStepOptions, SGD_STEP } from './kernels/sgd-step.js';
export { maxPool2d, MAX_POOL_NAN } from './kernels/max-pool.js';
export { deferredTranspose, DEFERRED_TRANSPOSE } from './kernels/deferred-transpose.js';
export * from './errors.js';
export { Rng } from './rng.js';
export {
  Module,
  Tracer,
  assertNHWC,
  toTorchLayout,
  fromTorchLayout,
  type ForwardContext,
  type LayerRow,
  type LoadReport,
  type LoadStateDictOptions,
  type ParamLayout,
  type Shape,
  type StateDictOptions,
  type TensorLayout,
} from './module.js';
export { Conv2d, convOutSize, type Conv2dOptions, type FoldedWeights } from './layers/conv2d.js';
export { convBnAct, convBnAddRelu, canFuse, setInferenceFusion, CONV2D_ADD_RELU } from './layers/fuse.js';
export { BatchNorm2d, type BatchNorm2dOptions } from './layers/batchnorm.js';
export {
  ReLU,
  Identity,
  MaxPool2d,
  GlobalAvgPool,
  Linear,
  Sequential,
  forwardSequence,
  layerRuns,
  type LayerRun,
  type LinearOptions,
} from './layers/simple.js';
export { ResidualBlock } from './block.js';
export {
  registerInferenceCompiler,
  setInferencePlan,
  compiledForward,
  clearInferencePlans,
  type CompiledInference,
  type InferenceCompiler,
} from './inference-plan.js';
export {
  registerTrainingCompiler,
  setTrainingPlan,
  compiledTrainingForward,
  clearTrainingPlans,
  type CompiledTraining,
  type TrainingCompiler,
} from './training-plan.js';
export { emitLayerSequence, emitResNetGraph } from './layers/graph-exporters.js';
export {
  registerGraphExporter,
  graphExporterFor,
  graphIsSameInTraining,
  GraphExportError,
  type GraphExporterOptions,
  type GraphEmitter,
  type GraphExporter,
  type GraphAttr,
  type ModuleClass,
} from './graph-export.js';
export {
  registerBlock,
  registerShortcut,
  getBlock,
  getShortcut,
  type BlockFactory,
  type BlockOptions,
  type ShortcutFactory,
  type ShortcutOptions,
  type ShortcutParams,
  type StrideMode,
  type RegisterOptions,
} from './registry.js';
export {
  ResNet,
  resolveSpec,
  type NormPlacement,
  type ResNetSpec,
  type ResolvedSpec,
  type StageSpec,
  type ModelSummary,
} from './resnet.js';
export { formatSummary, formatCount, formatMacs } from './summary.js';
export { smallestBatchNormInput, type BatchNormInput } from './batch-statistics.js';
export { closestNames, didYouMean } from './closest-names.js';
export {
  registerBackend,
  listBackends,
  probeBackends,
  useBackend,
  currentBackend,
  type BackendPlugin,
  type BackendAvailability,
  type UseBackendOptions,
} from './backends.js';
export * from './io/safetensors.js';
export * from './io/npy.js';
export * from './io/checkpoint.js';
export { assertSameArchitecture, specDifferences } from './io/checkpoint-schema.js';
export { halfToFloat, floatToHalf, bf16ToFloat, floatToBf16 } from './io/half.js';
export {
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeMaxPoolGrad,
  makeFastTile,
  registerMissingKernels,
} from './kernels/portable.js';
export { makeNonFiniteFaithful, NON_FINITE_WRAPPED_KERNELS, nonFiniteScans } from './kernels/nonfinite.js';
export * from './io/finite.js';
export { setRereader, rereaderOf, type Rereader } from './io/rereadable.js';
export { openZip, bytesZipSource, type ZipSource, type ZipArchive } from './io/zip.js';
export * from './io/weights.js';
export { type ElementType, ELEMENT_BYTES, decodeElements } from './io/elements.js';
export * from './io/conventions.js';
export { inferSpec, UnsupportedArchitectureError } from './io/infer-spec.js';
export { loadRawStateDict, type LoadRawOptions } from './io/load-raw.js';
export {
  lossAndGradients,
  softmaxCrossEntropyLoss,
  type LossAndGradients,
  type LossAndGradientsOptions,
  type LossFn,
  type TrainableModel,
} from './training-step.js';
