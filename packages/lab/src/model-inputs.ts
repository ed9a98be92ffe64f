/**
 * The inputs of the experiments that study a trained net (lesion, paths): the model named on the
 * command line with its weights, and the test set prepared the way the net was trained.
 */
import type { ResNet, ResNetSpec } from '@resnet-ts/core';
import { DataPair, Preprocessing, channelStats, cifarPadTo, loadData } from '@resnet-ts/train';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { CommandHost } from './command.js';

/** A (trained) model, its data and preprocessing, and a label for reports. */
export interface ModelAndData {
  model: ResNet;
  pair: DataPair;
  prep: Preprocessing;
  /** e.g. `resnet20-fashion-mnist (the zoo's ... weights) on fashion-mnist`. */
  label: string;
}

/** Which net to load: a zoo name, shipped weights' name or spec file, and/or a weights file. */
export interface ModelChoice {
  model?: string;
  weights?: string;
  /** The data set (name or folder) the test images come from. */
  data: string;
  /** The zoo name used when neither `model` nor `weights` is given (untrained, with a warning). */
  fallback: string;
}

/**
 * Loads the model (its spec from the weights file when `model` is absent; the zoo's shipped
 * weights for a name like `resnet20-fashion-mnist`) and the data, with the preprocessing stored with
 * the weights (else the training set's channel statistics; 28x28 images padded to 32x32 for CIFAR stems).
 * The caller disposes the model.
 */
export async function loadModelAndData(choice: ModelChoice, host: CommandHost): Promise<ModelAndData> {
  const { model: modelArg, weights } = choice;
  const shippedName = modelArg && !weights && host.shippedWeights(modelArg) ? modelArg : undefined;
  const source = weights ?? shippedName;
  if (!source) return untrained(choice, host);
  // The one resolver of weights, architecture and preprocessing (as `resnet eval` uses it).
  const clf = await fromPretrained(source, { model: weights && modelArg ? modelSpecArg(modelArg, host) : undefined });
  try {
    const prep = clf.preprocessing;
    const imageSize = Array.isArray(prep.resize) ? prep.resize : prep.crop;
    const pair = await loadData(choice.data, { imageSize, channels: prep.channels });
    const test = pair.test ?? pair.train;
    // Weights without stored preprocessing: normalise with the data set's own statistics.
    const stats = clf.origin.preprocessing === 'default' ? channelStats(pair.train) : { mean: prep.mean, std: prep.std };
    const padTo = cifarPadTo(clf.model.spec.stem, test.shape, prep.padTo);
    const name = modelArg && !shippedName ? modelArg : depthName(clf.model);
    const label = `${name} ${shippedName ? `(the zoo's ${shippedName} weights)` : `(weights ${weights})`} on ${pair.kind}`;
    return { model: clf.model, pair, prep: { ...stats, ...(padTo ? { padTo } : {}) }, label };
  } catch (e) {
    clf.dispose();
    throw e;
  }
}

/** `--model` next to `--weights`: a zoo name as is, a spec file through the host (as the CLI reads it). */
function modelSpecArg(modelArg: string, host: CommandHost): string | ResNetSpec {
  return modelArg.endsWith('.json') ? host.loadModel(modelArg, {}).spec : modelArg;
}

/** No weights: the named (or fallback) architecture with its initial weights, and a warning. */
async function untrained(choice: ModelChoice, host: CommandHost): Promise<ModelAndData> {
  const name = choice.model ?? choice.fallback;
  const pair = await loadData(choice.data, {});
  const test = pair.test ?? pair.train;
  const model = host.loadModel(name, { inChannels: test.shape[2], numClasses: test.classes.length });
  host.reporting.log?.(`warning: no --weights: running on the UNTRAINED ${name} (initial weights); train one with \`resnet train\` and pass --weights`);
  model.eval();
  const padTo = cifarPadTo(model.spec.stem, test.shape);
  return { model, pair, prep: { ...channelStats(pair.train), ...(padTo ? { padTo } : {}) }, label: `${name} (untrained) on ${pair.kind}` };
}

/** `ResNet-20`, `plain-56`, ... from the blocks of a model. */
function depthName(model: ResNet): string {
  const blocks = model.blocks();
  const depth = blocks.length * (blocks[0]?.typeName.toLowerCase().includes('bottleneck') ? 3 : 2) + 2;
  return `${model.spec.residual ? 'ResNet' : 'plain'}-${depth}`;
}

/** The options of the experiments that study one trained net. */
export const MODEL_OPTION_HELP =
  "zoo name, shipped weights' name or spec file (default: the spec stored in --weights; on fashion-mnist without --weights: the zoo's resnet20-fashion-mnist)";
