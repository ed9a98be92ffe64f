import type { BackendPlugin } from '@resnet-ts/core';

/**
 * The oneDNN `native` engine (src/native/, priority 40), loaded behind a guard: if its module is
 * missing from a build, or throws while loading, the other engines still register, and `native`
 * is listed as unavailable with the reason.
 */
export function loadNativePlugin(): BackendPlugin {
  try {
    const mod = require('../native/index.js') as { nativePlugin?: BackendPlugin };
    if (!mod.nativePlugin) throw new Error('src/native/index does not export nativePlugin');
    return mod.nativePlugin;
  } catch (e) {
    const reason = `the native engine failed to load: ${(e as Error).message.split('\n')[0]}`;
    return {
      name: 'native',
      priority: 40,
      description: 'oneDNN kernels in a Node-API addon',
      capabilities: { training: true },
      isAvailable: async () => ({
        available: false,
        reason,
        install: 'apt-get install libdnnl-dev, then npm rebuild @resnet-ts/backend-node',
      }),
      setup: async () => {
        throw new Error(reason);
      },
    };
  }
}
