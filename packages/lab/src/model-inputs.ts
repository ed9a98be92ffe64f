/**
 * The inputs of the experiments that study a trained net (lesion, paths): the model named on the
 * command line with its weights, and the test set prepared the way the net was trained.
 */
import { ResNet } from '@resnet-ts/core';
import { DataPair, Preprocessing, channelStats, cifarPadTo, loadData, loadWeights, readWeightsInfo } from '@resnet-ts/train';
import { CommandHost, ExperimentInputError } from './command.js';

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
  let { model: modelArg, weights } = choice;
  let shippedName: string | undefined;
  const shipped = modelArg && !weights ? host.shippedWeights(modelArg) : undefined;
  if (shipped) {
    // `--model resnet20-fashion-mnist`: the zoo's trained weights, whose stored spec builds the model.
    shippedName = modelArg;
    modelArg = undefined;
    weights = shipped;
  }
  const info = weights ? readWeightsInfo(weights) : undefined;
  const pair = await loadData(choice.data, { imageSize: info?.preprocessing?.imageSize, channels: info?.spec?.inChannels === 3 ? 3 : 1 });
  const test = pair.test ?? pair.train;
  const overrides = { inChannels: test.shape[2], numClasses: info?.spec?.numClasses ?? test.classes.length };
  let model: ResNet;
  if (modelArg) model = host.loadModel(modelArg, overrides);
  else if (info?.spec) model = new ResNet(info.spec);
  else if (!weights) model = host.loadModel(choice.fallback, overrides);
  else throw new ExperimentInputError(`${weights} does not say which architecture it holds: give --model.`);
  if (weights) loadWeights(weights, model);
  else
    host.reporting.log?.(
      `warning: no --weights: running on the UNTRAINED ${modelArg ?? choice.fallback} (initial weights); train one with \`resnet train\` and pass --weights`,
    );
  model.eval();
  const stats = info?.preprocessing?.mean ? { mean: info.preprocessing.mean, std: info.preprocessing.std } : channelStats(pair.train);
  const padTo = cifarPadTo(model.spec.stem, test.shape, info?.preprocessing?.padTo);
  const blocks = model.blocks();
  const depth = blocks.length * (blocks[0]?.typeName.toLowerCase().includes('bottleneck') ? 3 : 2) + 2;
  const name = modelArg ?? (info?.spec ? `${model.spec.residual ? 'ResNet' : 'plain'}-${depth}` : choice.fallback);
  const label = `${name} ${shippedName ? `(the zoo's ${shippedName} weights)` : weights ? `(weights ${weights})` : '(untrained)'} on ${pair.kind}`;
  return { model, pair, prep: { ...stats, ...(padTo ? { padTo } : {}) }, label };
}

/** The options of the experiments that study one trained net. */
export const MODEL_OPTION_HELP =
  "zoo name, shipped weights' name or spec file (default: the spec stored in --weights; on fashion-mnist without --weights: the zoo's resnet20-fashion-mnist)";
