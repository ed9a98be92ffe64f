import { Module } from './module.js';
import { Rng } from './rng.js';
import { RegistryError } from './errors.js';
import type { ResidualBlock } from './block.js';
import type { NormPlacement } from './resnet.js';

/** Where a bottleneck puts its stride: `v1` on the first 1x1 (the paper), `v1.5` on the 3x3 (torchvision). */
export type StrideMode = 'v1' | 'v1.5';

/** Parameters of a shortcut option (e.g. option A's `{padding: 'split'}`), stored in the spec. */
export type ShortcutParams = Readonly<Record<string, string | number | boolean>>;

/** What a shortcut factory is asked to build. */
export interface ShortcutOptions {
  /** The spec's `shortcutParams` (empty when it has none). */
  params?: ShortcutParams;
  inChannels: number;
  outChannels: number;
  stride: number;
  /** Follow a projection with batch norm (default true). */
  batchNorm: boolean;
  rng: Rng;
}

/**
 * A shortcut option. `create` returns the module registered as the block's `downsample` child, or
 * null for a plain identity (no module, no state-dict keys, as in torchvision).
 */
export interface ShortcutFactory {
  description: string;
  /** Builds the shortcut module for one block, or returns null for a parameter-free identity. */
  create(options: ShortcutOptions): Module | null;
}

/** What a block factory is asked to build. */
export interface BlockOptions {
  inChannels: number;
  /** The block's base width; it outputs `width * expansion` channels. */
  width: number;
  stride: number;
  /** False builds the plain counterpart (no shortcut at all). */
  residual: boolean;
  /** Name of the registered shortcut option to use when residual. */
  shortcut: string;
  /** The spec's parameters of that shortcut option, passed on to its factory. */
  shortcutParams?: ShortcutParams;
  strideMode: StrideMode;
  batchNorm: boolean;
  /** Initialise the last batch-norm gamma of the residual branch to zero. */
  zeroInitResidual: boolean;
  rng: Rng;
}

/** A residual block type: `basic`, `bottleneck`, or a user's own. */
export interface BlockFactory {
  description: string;
  /** Output channels = width * expansion (1 for basic, 4 for bottleneck). */
  expansion: number;
  /** Builds one block of this type. */
  create(options: BlockOptions): ResidualBlock;
  /**
   * The network-level norms this block type is designed for, used by builders (the zoo's `resnet()`)
   * when the caller does not say; e.g. a pre-activation block wants `{stemNorm: 'none', finalNorm: 'bn-relu'}`.
   * The spec still stores what was built, so a checkpoint never depends on this default.
   */
  networkNorms?: { stemNorm?: NormPlacement; finalNorm?: NormPlacement };
}

const blocks = new Map<string, BlockFactory>();
const shortcuts = new Map<string, ShortcutFactory>();

/** Options of {@link registerBlock} and {@link registerShortcut}. */
export interface RegisterOptions {
  /** Replace the factory registered under the name (else taking a registered name is an error). */
  replace?: boolean;
}

/**
 * Registers a block type under `name` (a plug-in calls this when imported). A name already taken by
 * another factory ('basic', say) is refused unless `{ replace: true }`: a plug-in must not change
 * every model built from that name by accident. Registering the same factory again does nothing.
 */
export function registerBlock(name: string, factory: BlockFactory, options: RegisterOptions = {}): void {
  checkFactory('registerBlock', name, factory);
  if (!(Number.isInteger(factory.expansion) && factory.expansion >= 1))
    throw new RegistryError(
      `registerBlock('${name}'): expansion must be a whole number >= 1 (1 basic, 4 bottleneck); got ${String(factory.expansion)}.`,
    );
  register('registerBlock', blocks, name, factory, options);
}

/** Registers a shortcut option under `name` (e.g. 'A', 'B', 'C'); a taken name as in {@link registerBlock}. */
export function registerShortcut(name: string, factory: ShortcutFactory, options: RegisterOptions = {}): void {
  checkFactory('registerShortcut', name, factory);
  register('registerShortcut', shortcuts, name, factory, options);
}

function register<F extends { description: string }>(
  what: string,
  map: Map<string, F>,
  name: string,
  factory: F,
  options: RegisterOptions,
): void {
  const taken = map.get(name);
  if (taken && taken !== factory && !options.replace) {
    const which = taken.description ? ` (${taken.description})` : '';
    throw new RegistryError(
      `${what}('${name}'): '${name}' is already registered${which}; register under another name, or pass { replace: true } to replace it.`,
    );
  }
  map.set(name, factory);
}

/** A factory with a name and a `create` function: a malformed one failed later, at build, with a TypeError. */
function checkFactory(what: string, name: unknown, factory: { create?: unknown } | undefined): void {
  if (typeof name !== 'string' || name === '')
    throw new RegistryError(`${what}: the name must be a non-empty string; got ${String(name)}.`);
  if (typeof factory?.create !== 'function')
    throw new RegistryError(`${what}('${name}'): the factory must have a create(options) function that builds the module.`);
}

/** The block factory called `name`; a clear error if none is registered. */
export function getBlock(name: string): BlockFactory {
  const f = blocks.get(name);
  if (!f) {
    throw new RegistryError(
      `Unknown block '${name}'. Registered blocks: ${[...blocks.keys()].sort().join(', ') || 'none'}. ` +
        `Import '@resnet-ts/blocks' (it registers the paper's 'basic' and 'bottleneck' and more) or call registerBlock('${name}', ...).`,
      'UNKNOWN_BLOCK',
    );
  }
  return f;
}

/** The shortcut factory called `name`; a clear error if none is registered. */
export function getShortcut(name: string): ShortcutFactory {
  const f = shortcuts.get(name);
  if (!f) {
    throw new RegistryError(
      `Unknown shortcut option '${name}'. Registered options: ${[...shortcuts.keys()].sort().join(', ') || 'none'}. ` +
        `Import '@resnet-ts/shortcuts' (it registers the paper's 'A', 'B' and 'C' and more) or call registerShortcut('${name}', ...).`,
      'UNKNOWN_SHORTCUT',
    );
  }
  return f;
}
