import type { Command } from 'commander';
import { registerModels } from './models.js';
import { registerSummary } from './summary.js';
import { registerForward } from './forward.js';
import { registerExportOnnx } from './export-onnx.js';
import { registerConvert } from './convert.js';
import { registerTrain } from './train.js';
import { registerEval } from './eval.js';
import { registerPredict } from './predict.js';
import { registerLab } from './lab.js';
import { registerBackends } from './backends.js';
import { registerBench } from './bench.js';

/**
 * Every sub-command, one file each. To add one: write `commands/<name>.ts` exporting
 * `register<Name>(program)`, and add it to this list.
 */
export const commands: ((program: Command) => void)[] = [
  registerModels,
  registerSummary,
  registerForward,
  registerExportOnnx,
  registerConvert,
  registerTrain,
  registerEval,
  registerPredict,
  registerLab,
  registerBackends,
  registerBench,
];
