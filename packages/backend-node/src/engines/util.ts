import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '@resnet-ts/core';

/** Whether `pkg` can be resolved from here, without loading it. */
export function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** `tf.setBackend(name)`, turning tfjs's `false` (it only logs the cause) into a clear error. */
export async function setTfBackend(name: string, engine: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendError(`Engine '${engine}' failed to start the tfjs '${name}' backend: ${(e as Error).message}`);
  }
  if (!ok) throw new BackendError(`Engine '${engine}' failed to start the tfjs '${name}' backend (tfjs logged the cause above).`);
}
