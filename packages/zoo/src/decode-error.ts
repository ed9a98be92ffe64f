/**
 * The error of an image that cannot be decoded, with its parts as fields, so that callers word it for
 * their users (a command line that takes no tensors, a data loader's one-line notes) without reading
 * the message's text.
 */
import { SpecError } from '@resnet-ts/core';

/** Why an image could not be decoded: not an image the decoder reads, one over its pixel limit, or an empty file (0 bytes). */
export type ImageDecodeProblem = 'format' | 'size' | 'empty';

/**
 * What an image file of 0 bytes is, in every message about one: `'x.jpg' is an empty file (0 bytes),
 * not an image` (`resnet predict`), `skipped cat/x.jpg: it is an empty file (0 bytes), not an image`
 * (an image folder's note), `Cannot decode 'x.jpg': it is ...` ({@link ImageDecodeError}).
 */
export const EMPTY_IMAGE_FILE = 'an empty file (0 bytes), not an image';

/**
 * An image that cannot be decoded (`decodeRgb`, `decodeRgbBrowser`, and so `Classifier.classify` of
 * a file, bytes or a URL). A `SpecError` (code `SPEC`) whose message is one line:
 * `Cannot decode 'x.png' as an image (<reason>). Give a JPEG, PNG, ... file, or a tensor.` for a
 * `format` problem, `Cannot decode 'x.png': <reason>` for a `size` one, `Cannot decode 'x.png': it
 * is an empty file (0 bytes), not an image.` for an `empty` one.
 */
export class ImageDecodeError extends SpecError {
  /**
   * The message for callers whose users give image files or bytes only, never tensors (a command
   * line): the same sentence without "or a tensor".
   */
  readonly fileMessage: string;

  constructor(
    /** The image as messages name it: `'photo.jpg'` (a path, quoted), `the image bytes`, a URL. */
    readonly image: string,
    /**
     * Why, in one line: the decoder's own words for a `format` problem ("Input file contains
     * unsupported image format", "the BMP header is cut short"); for a `size` problem the image's
     * size, the limit and what to do.
     */
    readonly reason: string,
    /** `format`: another kind of file, a damaged one or a variant the decoder does not read; `size`: over the pixel limit; `empty`: 0 bytes. */
    readonly problem: ImageDecodeProblem,
    /** The formats to give instead (`format` only), e.g. `JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM`; none: no advice. */
    formats?: string,
  ) {
    const say = (tensors: boolean) =>
      problem === 'size'
        ? `Cannot decode ${image}: ${reason}`
        : problem === 'empty'
          ? `Cannot decode ${image}: ${reason}.`
          : `Cannot decode ${image} as an image (${reason}).${formats ? ` Give a ${formats} file${tensors ? ', or a tensor' : ''}.` : ''}`;
    super(say(true));
    this.fileMessage = say(false);
  }
}

/**
 * Why sharp (libvips) could not decode a file, in words a user can act on. Its own messages name its
 * internals ("vipspng: libpng read error", "Warning treated as error due to failOn setting"), repeat
 * the same line several times, stop at a colon ("Input file has corrupt header:"), or say "Unknown
 * error".
 */
export function sharpFailureReason(message: string): string {
  const lines = [...new Set(message.split('\n').map((l) => l.trim()))].filter(Boolean);
  const first = lines[0] ?? message;
  const detail = (text: string) => text.replace(/^(Vips\w+|vips\w+|\w+load):\s*/, '').trim();
  if (/^Input file has corrupt header:?\s*$/.test(first) && lines.length === 1) return 'its header is damaged';
  const damaged = /corrupt header|read error|premature end|failOn setting|^vips\w*:|^Vips\w+:/i;
  if (damaged.test(first)) {
    const why = detail(first.replace(/^Input file has corrupt header:\s*/, ''));
    return `it is damaged or cut short${why && !/failOn/.test(why) ? `: ${why}` : ''}`;
  }
  // libvips keeps one error buffer for all threads: a failure while others decode can lose its text.
  if (/^Unknown error$/i.test(first)) return 'it could not be read (no reason given): it may be damaged or cut short';
  return first;
}
