import { SpecError } from '@resnet-ts/core';
import { createModel, getEntry, SpecOverrides, findPretrained } from '@resnet-ts/zoo';
import { pretrainedWeightsPath } from '@resnet-ts/zoo/node';
import { ResNet, ResNetSpec } from '@resnet-ts/core';
import fs from 'node:fs';
import { loadWeightsInto, openSafetensors, parseCheckpointMetadata } from '@resnet-ts/core/node';
import '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';

/** Makes `name` ('auto' or an engine) the tfjs backend; returns the engine's name. */
export async function selectBackend(name = 'auto', training = false): Promise<string> {
  return useBackend(name, { training });
}

/** A mistake in how the command was called: printed without a stack trace. */
export class UserError extends Error {
  readonly isUserError = true;
}

/**
 * A model from a zoo name or a JSON spec file (`{"stem": "cifar", "stages": [...], ...}` or
 * `{"model": "resnet20", "overrides": {...}}`).
 */
export function loadModel(nameOrFile: string, overrides: SpecOverrides = {}): ResNet {
  if (nameOrFile.endsWith('.json') || fs.existsSync(nameOrFile)) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(nameOrFile, 'utf8'));
    } catch (e) {
      throw new UserError(`Cannot read spec file '${nameOrFile}': ${(e as Error).message}`);
    }
    const obj = json as { model?: string; overrides?: SpecOverrides } & Partial<ResNetSpec>;
    if (typeof obj.model === 'string') return createModel(obj.model, { ...obj.overrides, ...overrides });
    if (!obj.stages) throw new SpecError(`Spec file '${nameOrFile}' has neither "model" nor "stages".`);
    return new ResNet({ ...(obj as ResNetSpec), ...overrides });
  }
  getEntry(nameOrFile);
  return createModel(nameOrFile, overrides);
}

/**
 * The model a weights file is for: built from `--model` (zoo name or spec file) when given, else
 * from the spec stored in a resnet-ts checkpoint; then the weights are loaded strictly (torchvision
 * names and layouts; `num_batches_tracked` and a checkpoint's optimizer tensors tolerated).
 */
export function loadModelWithWeights(modelArg: string | undefined, weights: string): ResNet {
  let model: ResNet;
  if (modelArg) {
    model = loadModel(modelArg);
  } else {
    const f = openSafetensors(weights);
    const info = (() => {
      try {
        return parseCheckpointMetadata(f.metadata, weights);
      } finally {
        f.close();
      }
    })();
    if (!info.spec) {
      throw new UserError(`'${weights}' has no architecture metadata (a plain torchvision state dict?): say which model it is with --model <name|spec.json>.`);
    }
    model = new ResNet(info.spec);
  }
  try {
    loadWeightsInto(model, weights, { strict: true });
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return model;
}

/**
 * `--model resnet20-fashion-mnist` (a zoo name with shipped weights) and no `--weights`: use the
 * shipped weights file, whose stored spec builds the model. Returns the options to use.
 */
export function withShippedWeights<O extends { model?: string; weights?: string }>(opts: O): O {
  if (!opts.model || opts.weights || !findPretrained(opts.model)) return opts;
  return { ...opts, model: undefined, weights: pretrainedWeightsPath(opts.model) };
}
