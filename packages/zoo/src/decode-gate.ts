/**
 * libvips keeps one error buffer for all its threads: when a decode fails while other decodes run,
 * its message can be lost (sharp then says only "Unknown error"; a truncated PNG among 7 good images
 * decoded at once lost its "libpng read error" about 1 time in 8). Decodes run {@link shared}ly; one
 * whose reason was lost is run again {@link alone}, when no other decode of this module runs, where
 * libvips keeps its reason.
 */

/** Decodes in flight (through {@link shared}). */
let running = 0;
/** Settles when the decode running {@link alone} ends; null when none does. */
let exclusive: Promise<void> | null = null;
/** Wakes {@link alone}, waiting for the decodes in flight to end. */
let onIdle: (() => void) | null = null;

/** Runs `decode` beside other shared decodes, once no decode runs {@link alone}. */
export async function shared<T>(decode: () => Promise<T>): Promise<T> {
  while (exclusive) await exclusive;
  running++;
  try {
    return await decode();
  } finally {
    running--;
    if (running === 0) onIdle?.();
  }
}

/**
 * Runs `decode` when no other decode runs: waits for those in flight to end, and holds new ones
 * back until it ends. Must not be called from inside {@link shared} (it would wait for itself).
 */
export async function alone<T>(decode: () => Promise<T>): Promise<T> {
  while (exclusive) await exclusive;
  let release!: () => void;
  exclusive = new Promise<void>((resolve) => (release = resolve));
  try {
    while (running > 0) await new Promise<void>((resolve) => (onIdle = resolve));
    onIdle = null;
    return await decode();
  } finally {
    exclusive = null;
    release();
  }
}

/** Whether a decoder's error lost its reason (libvips' error buffer emptied by another thread). */
export function reasonLost(e: unknown): boolean {
  const message = e instanceof Error ? e.message.trim() : '';
  return message === '' || /^Unknown error$/i.test(message);
}
