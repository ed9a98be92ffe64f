/**
 * Weights that can be read again from their file. Loading a model from a file leaves its weights
 * in memory twice once an engine compiles them into its own layout (the native engine's inference
 * plan); an engine may then let the loaded copy go, if it can get the values back when something
 * asks for them later. A reader registers each buffer that holds exactly one tensor's float32
 * values as read from a file, with a function that reads those values again (and fails with a
 * one-line error if the file has changed since).
 */

/** Reads a tensor's float32 values again from where they were first read. */
export type Rereader = () => Float32Array;

const rereaders = new WeakMap<ArrayBufferLike, Rereader>();

/** Registers `buffer` (all of it: one tensor's float32 values) as readable again by `reread`. */
export function setRereader(buffer: ArrayBufferLike, reread: Rereader): void {
  rereaders.set(buffer, reread);
}

/**
 * How to read `values` again, if they are the whole of a registered buffer; undefined otherwise
 * (values made or changed in memory, a view of a larger buffer).
 */
export function rereaderOf(values: Float32Array): Rereader | undefined {
  if (values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength) return undefined;
  return rereaders.get(values.buffer);
}
