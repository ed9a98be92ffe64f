/**
 * `--mean`, `--std`, `--resize` and `--crop`: how images were prepared when the weights were trained,
 * for weights that do not store it (a `.pth` from elsewhere) or store something else. What is given
 * replaces those fields of the stored (or architecture's default) preprocessing; the rest is kept.
 */
import type { Command } from 'commander';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { channelValues, imageSize, opt } from './options.js';
import { UserError } from './util.js';

/** The parsed flags. */
export interface PreprocessingFlags {
  mean?: number[];
  std?: number[];
  resize?: number | [number, number];
  crop?: number | [number, number];
}

/**
 * Adds `--mean` and `--std`, and with `sizes` also `--resize` and `--crop`, to `command` (a repeat
 * with another value, `--mean 0.5 --mean 0.4`, is refused as for every option).
 */
export function addPreprocessingOptions(command: Command, sizes: boolean): Command {
  command
    .addOption(
      opt(
        '--mean <m>',
        "per-channel mean the weights were trained with, [0, 1] scale (e.g. 0.5,0.5,0.5; default: stored, else the architecture's usual)",
        channelValues(false),
      ),
    )
    .addOption(opt('--std <s>', 'per-channel standard deviation, [0, 1] scale (e.g. 0.5,0.5,0.5)', channelValues(true)));
  if (sizes) {
    command
      .addOption(
        opt(
          '--resize <N|HxW>',
          "resize the short side to N (torchvision's Resize(N)), or to exactly HxW; without --crop, no centre crop",
          imageSize('short side, or exact size'),
        ),
      )
      .addOption(opt('--crop <N|HxW>', 'centre crop to NxN or HxW after resizing', imageSize('crop size')));
  }
  return command;
}

/**
 * The fields to override (for `fromPretrained`'s `preprocessing`), or undefined when no flag was given;
 * refuses --mean without --std and the reverse.
 */
export function preprocessingOverride(flags: PreprocessingFlags): Partial<ImagePreprocessing> | undefined {
  const { mean, std, resize, crop } = flags;
  if ((mean === undefined) !== (std === undefined))
    throw new UserError(`give --mean and --std together (as torchvision's Normalize takes them); got only --${mean ? 'mean' : 'std'}`);
  const given: Partial<ImagePreprocessing> = {
    ...(mean ? { mean } : {}),
    ...(std ? { std } : {}),
    ...(resize !== undefined ? { resize } : {}),
    ...(crop !== undefined ? { crop: typeof crop === 'number' ? [crop, crop] : crop } : {}),
  };
  return Object.keys(given).length ? given : undefined;
}
