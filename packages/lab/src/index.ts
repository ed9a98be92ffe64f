/**
 * @resnet-ts/lab: the experiments that show why residual networks work, each writing result.json,
 * SVG plots and report.md into an output folder. Experiments register themselves in a registry
 * (`listExperiments`, `getExperiment`) that the CLI reads; adding one is one more file.
 */
export * from './report.js';
export * from './experiment.js';
export * from './evidence.js';
export * from './interrupt.js';
export * from './command.js';
export * from './model-inputs.js';
export * from './identity.js';
export * from './identity-report.js';
export * from './blocks.js';
export * from './lesion.js';
export * from './lesion-report.js';
export * from './paths.js';
export * from './paths-report.js';
export * from './data.js';
export * from './training.js';
export * from './degradation.js';
export * from './shortcuts.js';
export * from './gradflow.js';
export * from './gradflow-measure.js';
export * from './gradflow-report.js';
export * from './transfer.js';
