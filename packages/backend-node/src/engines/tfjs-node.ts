import { BackendAvailability, BackendPlugin } from '@resnet-ts/core';
import { silenceCpuBanner } from '../quiet.js';
import { isInstalled, setTfBackend } from './util.js';

/**
 * `@tensorflow/tfjs-node(-gpu)`: TensorFlow's C library under tfjs. Optional peer dependencies,
 * detected lazily: their install script downloads libtensorflow, so this repository never installs
 * them; a user adds one where that download works.
 */
function tfjsNodePlugin(
  pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu',
  name: string,
  priority: number,
  gpu: boolean,
): BackendPlugin {
  const install =
    `npm install ${pkg}@^4.22.0 (its install downloads libtensorflow, so it needs internet access` +
    (gpu ? '; GPU use needs CUDA 11.2 and cuDNN 8.1' : '') +
    ')';
  return {
    name,
    priority,
    description: gpu ? 'TensorFlow C library with CUDA (@tensorflow/tfjs-node-gpu)' : 'TensorFlow C library on CPU (@tensorflow/tfjs-node)',
    capabilities: { training: true },
    isAvailable: async (): Promise<BackendAvailability> => {
      if (!isInstalled(pkg)) return { available: false, reason: `${pkg} is not installed`, install };
      try {
        require(pkg);
        return { available: true };
      } catch (e) {
        return {
          available: false,
          reason: `${pkg} is installed but failed to load: ${(e as Error).message.split('\n')[0]}`,
          install: `reinstall it: ${install}`,
        };
      }
    },
    setup: async () => {
      require(pkg);
      silenceCpuBanner();
      await setTfBackend('tensorflow', name);
    },
  };
}

/**
 * The `tfjs-node-gpu` engine (priority 60): `@tensorflow/tfjs-node-gpu`, TensorFlow's C library with
 * CUDA. Available only where that optional package is installed and loads.
 */
export const tfjsNodeGpuPlugin = tfjsNodePlugin('@tensorflow/tfjs-node-gpu', 'tfjs-node-gpu', 60, true);
/**
 * The `tfjs-node` engine (priority 55): `@tensorflow/tfjs-node`, TensorFlow's C library on CPU.
 * Available only where that optional package is installed and loads.
 */
export const tfjsNodeCpuPlugin = tfjsNodePlugin('@tensorflow/tfjs-node', 'tfjs-node', 55, false);
