/**
 * @resnet-ts/train: data sets (IDX, CIFAR binary, image folders), mini-batches with the paper's
 * augmentation, SGD with momentum and weight decay as PyTorch, learning-rate schedules, a trainer
 * with atomic resumable checkpoints, evaluation and prediction.
 */
export * from './errors.js';
export * from './data/index.js';
export * from './batches.js';
export * from './optimizer.js';
export * from './schedule.js';
export * from './checkpoint.js';
export * from './metrics.js';
/** The training-curves chart, from the one plotting module. */
export { curvesSvg, type CurvePoint } from '@resnet-ts/plot';
export * from './trainer.js';
export * from './health.js';
export * from './run-folder.js';
export {
  resumeDifferences,
  dataSourceKey,
  TRAIN_COMMAND_FLAGS,
  type ResumeFlags,
  type ResumeSetting,
  type RunSettings,
  type StoredSettings,
  type StoredOptimizer,
} from './resume-check.js';
export * from './finetune.js';
export * from './progress.js';
export * from './interrupt.js';
export { BestTracker, epochLine, hugeLossNote, type EpochNumbers } from './epoch-report.js';
