import { BackendPlugin } from '@resnet-ts/core';
import { silenceCpuBanner } from '../quiet.js';
import { setTfBackend } from './util.js';

/** The tfjs reference backend: plain JavaScript, always present, slow (the conformance reference). */
export const cpuPlugin: BackendPlugin = {
  name: 'cpu',
  priority: 10,
  description: 'tfjs cpu backend: plain JavaScript, the reference (slow)',
  capabilities: { training: true },
  isAvailable: async () => ({ available: true, reason: 'always available (reference)' }),
  setup: async () => {
    require('@tensorflow/tfjs-backend-cpu');
    silenceCpuBanner();
    await setTfBackend('cpu', 'cpu');
  },
};
