import type { Command } from 'commander';

/** Adds one sub-command to the program. */
export type RegisterCommand = (program: Command) => void;

/**
 * Every sub-command, one file each, by name. A command's module (and the packages it needs: the
 * trainer, the lab, the ONNX writer...) is loaded only when that command runs or the full list is
 * needed (help, an unknown name), so that `resnet predict` does not pay for loading `resnet lab`.
 * To add one: write `commands/<name>.ts` exporting `register<Name>(program)`, and add a line here.
 */
export const commandLoaders: Record<string, () => RegisterCommand> = {
  models: () => (require('./models.js') as typeof import('./models.js')).registerModels,
  summary: () => (require('./summary.js') as typeof import('./summary.js')).registerSummary,
  forward: () => (require('./forward.js') as typeof import('./forward.js')).registerForward,
  'export-onnx': () => (require('./export-onnx.js') as typeof import('./export-onnx.js')).registerExportOnnx,
  convert: () => (require('./convert.js') as typeof import('./convert.js')).registerConvert,
  train: () => (require('./train.js') as typeof import('./train.js')).registerTrain,
  eval: () => (require('./eval.js') as typeof import('./eval.js')).registerEval,
  predict: () => (require('./predict.js') as typeof import('./predict.js')).registerPredict,
  lab: () => (require('./lab.js') as typeof import('./lab.js')).registerLab,
  backends: () => (require('./backends.js') as typeof import('./backends.js')).registerBackends,
  bench: () => (require('./bench.js') as typeof import('./bench.js')).registerBench,
};

/** The registrations for a command line: only the named command's, or every one when it names none of them. */
export function commandsFor(name?: string): RegisterCommand[] {
  if (name !== undefined && Object.hasOwn(commandLoaders, name)) return [commandLoaders[name]()];
  return Object.values(commandLoaders).map((load) => load());
}
