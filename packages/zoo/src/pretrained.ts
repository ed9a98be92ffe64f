/** What a shipped set of trained weights is, how well it does, and how to make it again. */
export interface ModelCard {
  /** Zoo architecture the weights are for, e.g. `resnet20` (with `inChannels: 1`). */
  architecture: string;
  dataset: string;
  /** Measured on the data set's full test split by `resnet eval` (fractions, not percent). */
  top1: number;
  top5: number;
  testImages: number;
  /** The training recipe, in words. */
  recipe: string;
  /** The command that trained them. */
  command: string;
  /** Engine and wall time of that run. */
  engine: string;
  trainSeconds: number;
  date: string;
}

/** A named set of trained weights shipped inside this package. */
export interface PretrainedEntry {
  name: string;
  description: string;
  /** File name under the package's `weights/` folder (safetensors, resnet-ts checkpoint format). */
  file: string;
}

/** The trained weights shipped with the zoo. */
export const PRETRAINED: PretrainedEntry[] = [
  {
    name: 'resnet20-fashion-mnist',
    description: 'ResNet-20 (option A, 1-channel input) trained on Fashion-MNIST by resnet-ts',
    file: 'resnet20-fashion-mnist.safetensors',
  },
  {
    name: 'plain20-fashion-mnist',
    description:
      'plain-20 (ResNet-20 without shortcuts, 1-channel input) trained on Fashion-MNIST with the same recipe: the baseline for lesion studies',
    file: 'plain20-fashion-mnist.safetensors',
  },
];

/** The shipped-weights entry called `name`, or undefined. */
export function findPretrained(name: string): PretrainedEntry | undefined {
  return PRETRAINED.find((e) => e.name === name);
}
