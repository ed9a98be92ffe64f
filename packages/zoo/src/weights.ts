/**
 * Weight bytes -> a ready model, on core's one reader (`readWeights`: safetensors, PyTorch zip and
 * legacy), its naming conventions (`adaptStateDict`), `inferSpec` and the one loader
 * (`loadRawStateDict`). The single place the zoo turns any supported file into a {@link ResNet}.
 */
import {
  ResNet,
  ResNetSpec,
  StateDictError,
  UnsupportedArchitectureError,
  adaptStateDict,
  assertSameArchitecture,
  inferSpec,
  loadRawStateDict,
  parseCheckpointMetadata,
  readWeights,
} from '@resnet-ts/core';
import type { CheckpointInfo, RawStateDict } from '@resnet-ts/core';
import { getModelSpec } from './index.js';

/** A state dict in torchvision names and PyTorch layouts, with what its file says. */
export interface LoadedStateDict {
  stateDict: RawStateDict;
  /** resnet-ts checkpoint metadata (spec, classes, preprocessing) where the file has it. */
  info: CheckpointInfo;
  /** The naming convention the keys were in (`resnet-ts` for our checkpoints). */
  convention: string;
  /** Architecture options the convention implies (e.g. option A's padding placement). */
  hints: Partial<ResNetSpec>;
}

/**
 * Reads weight bytes (safetensors, resnet-ts checkpoint, PyTorch `.pth`/`.bin`; or takes the state dict
 * core already read from them) and renames the keys
 * to torchvision's. `convention` forces a naming convention (default: detected).
 */
export function readStateDict(weights: Uint8Array | RawStateDict, source: string, convention?: string): LoadedStateDict {
  const raw = weights instanceof Uint8Array ? readWeights(weights, { source }) : weights;
  const info = parseCheckpointMetadata(raw.format === 'safetensors' ? raw.metadata : {}, source);
  if (info.spec && !convention) return { stateDict: raw, info, convention: 'resnet-ts', hints: {} };
  const adapted = adaptStateDict(raw, { convention });
  return { stateDict: adapted.stateDict, info, convention: adapted.convention, hints: adapted.hints };
}

/** Number of classes and input channels a torchvision-named state dict implies, where it says. */
export function headShape(sd: RawStateDict): { numClasses?: number; inChannels?: number } {
  return { numClasses: sd.tensors.get('fc.weight')?.shape[0], inChannels: sd.tensors.get('conv1.weight')?.shape[1] };
}

/**
 * The architecture of a state dict: `model` (zoo name or spec) with the head size and input channels
 * taken from the weights; else the spec stored in a resnet-ts checkpoint; else the one the weights
 * imply (`inferSpec`). `numClasses` (the user's `classes`) overrides the head size.
 */
export function specFor(sd: LoadedStateDict, source: string, model?: string | ResNetSpec, numClasses?: number): ResNetSpec {
  const head = headShape(sd.stateDict);
  const fixed: Partial<ResNetSpec> = { ...sd.hints };
  if (numClasses !== undefined) fixed.numClasses = numClasses;
  else if (head.numClasses !== undefined) fixed.numClasses = head.numClasses;
  if (head.inChannels !== undefined) fixed.inChannels = head.inChannels;
  if (typeof model === 'string') return getModelSpec(model, fixed);
  if (model) return { ...model, ...fixed };
  if (sd.info.spec) return numClasses !== undefined ? { ...sd.info.spec, numClasses } : sd.info.spec;
  // inferSpec's errors say what to do on the command line and in the JS API (or that nothing can be done).
  return inferSpec(sd.stateDict, { ...sd.hints, ...(numClasses !== undefined ? { numClasses } : {}) });
}

/**
 * A state dict that does not fit the model named for it may be of an architecture resnet-ts does
 * not build at all (wide or grouped bottlenecks): then that is the error, not the key mismatch,
 * whose remedy (another model) cannot work.
 */
function unbuildable(sd: LoadedStateDict): UnsupportedArchitectureError | undefined {
  try {
    inferSpec(sd.stateDict, { ...sd.hints, numClasses: 1 });
  } catch (e) {
    if (e instanceof UnsupportedArchitectureError) return e;
  }
  return undefined;
}

/** Builds the model of `spec`, loads the state dict strictly, and returns it in eval mode. */
export function buildModel(spec: ResNetSpec, sd: LoadedStateDict, source: string): ResNet {
  const model = new ResNet(spec, { initialize: false }); // every weight is loaded, strictly
  try {
    loadRawStateDict(model, sd.stateDict, { strict: true, source });
    // Keys can match while the meaning differs (plain-20 vs ResNet-20): the stored spec must agree.
    assertSameArchitecture(sd.info.spec, model.spec, source);
  } catch (e) {
    model.dispose();
    throw (e instanceof StateDictError && unbuildable(sd)) || e;
  }
  return model.eval();
}
