import { ResNetError } from '@resnet-ts/core';

/** A data set that is missing, truncated, corrupt or inconsistent. The message names the file. */
export class DataError extends ResNetError {
  constructor(message: string) {
    super(message, 'DATA');
  }
}

/** Training stopped for a reason the user must act on (NaN loss, bad checkpoint, bad options). */
export class TrainError extends ResNetError {
  constructor(message: string, code = 'TRAIN') {
    super(message, code);
  }
}
