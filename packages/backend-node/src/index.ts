/**
 * @resnet-ts/backend-node: backend plug-ins for Node, registered with core on import.
 * (Minimal version: the cpu reference. Other engines are added by the backends work.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendPlugin, registerBackend } from '@resnet-ts/core';

export const cpuPlugin: BackendPlugin = {
  name: 'cpu',
  priority: 10,
  description: 'tfjs reference cpu backend (pure JavaScript, slow, always available)',
  capabilities: { training: true },
  isAvailable: async () => ({ available: true }),
  setup: async () => {
    require('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
  },
};

registerBackend(cpuPlugin);
