import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';

/** Whether a backend can run here, and if not, why and what to do. */
export interface BackendAvailability {
  available: boolean;
  /** Why it is not available (or a note, e.g. "software adapter: lavapipe"). */
  reason?: string;
  /** What to install or run to make it available. */
  install?: string;
  /** Effective priority if it differs from the plug-in's (e.g. a software GPU adapter ranks lower). */
  priority?: number;
}

/**
 * A backend plug-in. Packages such as @resnet-ts/backend-node register these; core knows none by
 * name. `setup()` registers the tfjs backend (if needed) and makes it current.
 */
export interface BackendPlugin {
  /** Name users type: 'native', 'wasm', 'webgpu', 'cpu', ... */
  name: string;
  /** Higher wins in `useBackend('auto')`. */
  priority: number;
  description: string;
  capabilities: { training: boolean };
  /** Whether the engine really runs here (and if not, why and what to install); never throws. */
  isAvailable(): Promise<BackendAvailability>;
  /** Registers the tfjs backend if needed and makes it the current one. */
  setup(): Promise<void>;
}

const plugins = new Map<string, BackendPlugin>();

/** Registers a backend plug-in (re-registering a name replaces it). */
export function registerBackend(plugin: BackendPlugin): void {
  plugins.set(plugin.name, plugin);
}

/** Registered plug-ins, highest priority first. */
export function listBackends(): BackendPlugin[] {
  return [...plugins.values()].sort((a, b) => b.priority - a.priority);
}

/** Each registered plug-in with its availability, in the order auto would try them. */
export async function probeBackends(): Promise<{ plugin: BackendPlugin; availability: BackendAvailability; priority: number }[]> {
  const out = [];
  for (const plugin of listBackends()) {
    let availability: BackendAvailability;
    try {
      availability = await plugin.isAvailable();
    } catch (e) {
      availability = { available: false, reason: (e as Error).message };
    }
    out.push({ plugin, availability, priority: availability.priority ?? plugin.priority });
  }
  return out.sort((a, b) => b.priority - a.priority);
}

/** Options of {@link useBackend}. */
export interface UseBackendOptions {
  /** With 'auto', skip backends that cannot train. */
  training?: boolean;
}

/**
 * Makes a backend current. `'auto'` picks the highest-priority available plug-in; a name picks that
 * one or throws a {@link BackendError} saying why it is unavailable and what to install.
 * Returns the plug-in's name.
 */
export async function useBackend(name: string = 'auto', options: UseBackendOptions = {}): Promise<string> {
  if (plugins.size === 0) {
    throw new BackendError("No backend plug-ins are registered. Import '@resnet-ts/backend-node' (Node) or '@resnet-ts/backend-web' (browser) first.");
  }
  if (name === 'auto') {
    const probed = await probeBackends();
    const errors: string[] = [];
    for (const { plugin, availability } of probed) {
      if (!availability.available) continue;
      if (options.training && !plugin.capabilities.training) continue;
      try {
        await plugin.setup();
        return plugin.name;
      } catch (e) {
        errors.push(`${plugin.name}: ${(e as Error).message}`);
      }
    }
    throw new BackendError(`No usable backend found. ${errors.join('; ')}`);
  }
  const plugin = plugins.get(name);
  if (!plugin) {
    throw new BackendError(`Unknown backend '${name}'. Registered: ${[...plugins.keys()].join(', ')}, or 'auto'.`);
  }
  const availability = await plugin.isAvailable();
  if (!availability.available) {
    throw new BackendError(
      `Backend '${name}' is not available: ${availability.reason ?? 'unknown reason'}.` + (availability.install ? ` To use it: ${availability.install}` : ''),
    );
  }
  await plugin.setup();
  return plugin.name;
}

/** The tfjs backend currently in use. */
export function currentBackend(): string {
  return tf.getBackend();
}
