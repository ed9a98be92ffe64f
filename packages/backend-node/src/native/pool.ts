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
 *
 * A buffer that waits unused in the pool for longer than the idle time is dropped (left to the
 * garbage collector): a training loop reuses its buffers within a step, but after training ends
 * nothing may ask for those lengths again, and the pool would otherwise hold them (up to its cap) for
 * the life of the process.
 */
import * as os from 'node:os';

const MiB = 1024 * 1024;
const MIN_POOLED = 4096; // elements; smaller arrays are cheap to allocate
/** Bytes from which a new buffer comes from the large allocator (huge pages: see setLargeAllocator). */
const LARGE_BYTES = 2 * MiB;

/** $name as a number ≥ 0 (times `unit`), or undefined when it is unset or not such a number. */
function envAmount(name: string, unit: number): number | undefined {
  const raw = process.env[name];
  const v = Number(raw);
  return raw !== undefined && Number.isFinite(v) && v >= 0 ? v * unit : undefined;
}

/**
 * Most bytes kept for reuse: $RESNET_TS_NATIVE_POOL_MB, else a quarter of the machine's memory
 * (at most 4 GiB). A training step reuses about its own working set (ResNet-20, batch 128: ~1.2 GiB).
 */
function capBytes(): number {
  return envAmount('RESNET_TS_NATIVE_POOL_MB', MiB) ?? Math.min(4096 * MiB, Math.floor(os.totalmem() / 4));
}

/**
 * Milliseconds a pooled buffer may wait unused before it is dropped: $RESNET_TS_NATIVE_POOL_IDLE_S
 * (seconds), else 10 s: several training steps even at 224x224 (a ResNet-18 batch-16 fine-tuning step
 * took 0.83 s on two cores). A buffer dropped too early only costs its page faults again.
 */
function idleMs(): number {
  return envAmount('RESNET_TS_NATIVE_POOL_IDLE_S', 1000) ?? 10_000;
}

/** Buffers of one length waiting for reuse, oldest first, with the time each was released. */
interface FreeList {
  arrays: Float32Array[];
  releasedAt: number[];
}

export class BufferPool {
  private readonly free = new Map<number, FreeList>();
  private readonly owned = new WeakSet<Float32Array>();
  private readonly ownedBuffers = new WeakSet<ArrayBufferLike>();
  private readonly live = new WeakSet<Float32Array>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  readonly cap: number;
  readonly idleMs: number;
  hits = 0;
  misses = 0;
  dropped = 0;

  /** `cap` (bytes) and `idleMs` default to the environment's settings (see capBytes and idleMs). */
  constructor(options: { cap?: number; idleMs?: number } = {}) {
    this.cap = options.cap ?? capBytes();
    this.idleMs = options.idleMs ?? idleMs();
  }

  /**
   * Where buffers of 2 MiB and more come from, as a buffer and the byte offset of at least `bytes`
   * in it (null: Node's allocator). The native engine's puts them on huge pages (native/huge_pages.cc):
   * the ResNet-20 batch-128 training step's arrays are 2-8 MiB, and on 4 KiB pages the kernels streaming
   * them keep missing the TLB.
   */
  largeAllocator: ((bytes: number) => { buffer: ArrayBuffer; offset: number }) | null = null;

  /** An uninitialised Float32Array of n elements; the kernel must overwrite all of it. */
  alloc(n: number): Float32Array {
    if (n < MIN_POOLED) return new Float32Array(n);
    const list = this.free.get(n);
    const reused = list?.arrays.pop();
    if (reused) {
      list!.releasedAt.pop();
      this.pooledBytes -= reused.byteLength;
      this.hits++;
      return reused;
    }
    this.misses++;
    const large = n * 4 >= LARGE_BYTES && this.largeAllocator ? this.largeAllocator(n * 4) : null;
    const a = large ? new Float32Array(large.buffer, large.offset, n) : new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
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
    if (!list) this.free.set(values.length, (list = { arrays: [], releasedAt: [] }));
    list.arrays.push(values);
    list.releasedAt.push(performance.now());
    this.pooledBytes += values.byteLength;
    this.scheduleSweep(this.idleMs);
  }

  /** Drops every pooled buffer (they are then garbage-collected). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  /** Drops the buffers that have waited unused for the idle time or longer. */
  dropIdle(now = performance.now()): void {
    const cutoff = now - this.idleMs;
    for (const [length, list] of this.free) {
      let stale = 0;
      while (stale < list.releasedAt.length && list.releasedAt[stale] <= cutoff) stale++;
      if (stale === 0) continue;
      list.arrays.splice(0, stale);
      list.releasedAt.splice(0, stale);
      this.pooledBytes -= stale * length * 4;
      this.dropped += stale;
      if (list.arrays.length === 0) this.free.delete(length);
    }
  }

  /** A sweep in `ms` unless one is due; it keeps rescheduling itself while buffers wait. */
  private scheduleSweep(ms: number): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.dropIdle();
      const oldest = Math.min(...[...this.free.values()].map((l) => l.releasedAt[0]));
      if (Number.isFinite(oldest)) this.scheduleSweep(Math.max(1, oldest + this.idleMs - performance.now()));
    }, ms);
    this.sweepTimer.unref(); // never keeps the process alive
  }

  stats(): { pooledBytes: number; hits: number; misses: number; dropped: number; cap: number; idleMs: number } {
    return {
      pooledBytes: this.pooledBytes,
      hits: this.hits,
      misses: this.misses,
      dropped: this.dropped,
      cap: this.cap,
      idleMs: this.idleMs,
    };
  }
}

export const pool = new BufferPool();
