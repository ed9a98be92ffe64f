/**
 * Recycles the Float32Arrays of native kernel outputs. A fresh multi-megabyte buffer costs a page
 * fault per 4 KiB on first write (measured here: more than the kernel itself), so buffers of
 * disposed tensors go back to a free list, keyed by length, and the next kernel output of that
 * length reuses one.
 *
 * Safety: a buffer is reused only if it never left the backend. It is marked escaped (and is then
 * left to the garbage collector) when its values are read out (readSync/read: dataSync(), data(),
 * moving to another backend), when a view of it is stored as another tensor's values (e.g. the cpu
 * Slice kernel's subarray), or when the same array is stored for two tensors.
 */
import * as os from 'node:os';

const MiB = 1024 * 1024;
const MIN_POOLED = 4096; // elements; smaller arrays are cheap to allocate

/**
 * Most bytes kept for reuse: $RESNET_TS_NATIVE_POOL_MB, else a quarter of the machine's memory
 * (at most 4 GiB). A training step reuses about its own working set (ResNet-20, batch 128: ~1.2 GiB).
 */
function capBytes(): number {
  const v = Number(process.env.RESNET_TS_NATIVE_POOL_MB);
  if (process.env.RESNET_TS_NATIVE_POOL_MB !== undefined && Number.isFinite(v) && v >= 0) return v * MiB;
  return Math.min(4096 * MiB, Math.floor(os.totalmem() / 4));
}

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owned = new WeakSet<Float32Array>();
  private readonly ownedBuffers = new WeakSet<ArrayBufferLike>();
  private readonly live = new WeakSet<Float32Array>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  readonly cap = capBytes();
  hits = 0;
  misses = 0;

  /** An uninitialised Float32Array of n elements; the kernel must overwrite all of it. */
  alloc(n: number): Float32Array {
    if (n < MIN_POOLED) return new Float32Array(n);
    const list = this.free.get(n);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      this.hits++;
      return reused;
    }
    this.misses++;
    const a = new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
    this.owned.add(a);
    this.ownedBuffers.add(a.buffer);
    return a;
  }

  /** Called when values are stored for a tensor (backend.write / move). */
  onStore(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const buf = values.buffer;
    if (!this.ownedBuffers.has(buf)) return;
    const a = values as Float32Array;
    if (!this.owned.has(a) || this.live.has(a)) this.escaped.add(buf);
    else this.live.add(a);
  }

  /** Called when values leave the backend (readSync / read). */
  onRead(values: unknown): void {
    if (ArrayBuffer.isView(values) && this.ownedBuffers.has(values.buffer)) this.escaped.add(values.buffer);
  }

  /** Called when the tensor holding `values` is freed. */
  release(values: unknown): void {
    if (!(values instanceof Float32Array) || !this.owned.has(values)) return;
    this.live.delete(values);
    if (this.escaped.has(values.buffer) || this.pooledBytes + values.byteLength > this.cap) return;
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }

  /** Drops every pooled buffer (they are then garbage-collected). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): { pooledBytes: number; hits: number; misses: number; cap: number } {
    return { pooledBytes: this.pooledBytes, hits: this.hits, misses: this.misses, cap: this.cap };
  }
}

export const pool = new BufferPool();
