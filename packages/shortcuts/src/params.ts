import { ShortcutOptions, SpecError } from '@resnet-ts/core';

/**
 * Refuses `spec.shortcutParams` for an option that takes none (B, C, D): a parameter meant for
 * another option (option A's `padding`, left over after switching to B) would otherwise be ignored.
 */
export function refuseShortcutParams(option: string, params: ShortcutOptions['params'] = {}): void {
  const keys = Object.keys(params);
  if (keys.length)
    throw new SpecError(
      `Shortcut option ${option} takes no parameters; got '${keys[0]}' in spec.shortcutParams: remove shortcutParams, or use the option it belongs to${keys[0] === 'padding' ? " (padding is option A's)" : ''}.`,
    );
}
