/** The gradient sums of the native training plan's backward pass (see train-plan.ts). */
import type { NativeAddon } from './addon.js';
import { size } from './kernel-args.js';
import { pool } from './pool.js';

/**
 * The gradient of each value, summed over its consumers as the backward pass reaches them. A value's
 * first gradient may be another's buffer (an Add passes its gradient on unchanged); later ones are
 * added into a buffer of its own. Buffers come from the engine's pool and go back to it.
 *
 * For the values in `pairable` (outputs of batch norms that take two gradients, see
 * {@link GradientSums.pairOf}) a second gradient waits unadded; anything else that reads it gets the sum.
 */
export class GradientSums {
  private readonly refs: (Float32Array | null)[];
  /** A second gradient not yet added (pairable values only), and whether this object owns it. */
  private readonly seconds: ({ g: Float32Array; own: boolean } | null)[];
  private readonly owned: Float32Array[] = [];
  private readonly inputWrites: ((dx: Float32Array) => void)[] = [];

  constructor(
    private readonly addon: NativeAddon,
    private readonly shapes: number[][],
    acts: Float32Array[],
    dy: Float32Array,
    output: number,
    private readonly pairable: ReadonlySet<number> = new Set(),
  ) {
    this.refs = acts.map(() => null);
    this.seconds = acts.map(() => null);
    this.refs[output] = dy;
  }

  /** The gradient of value `v` (its parts added now), or null when nothing reached it. */
  of(v: number): Float32Array | null {
    const second = this.seconds[v];
    if (second) {
      this.seconds[v] = null;
      this.add2(v, second.g, second.own);
    }
    return this.refs[v];
  }

  /** The gradient of `v` as one buffer and, for a pairable value reached twice, the second one (not added). */
  pairOf(v: number): [Float32Array | null, Float32Array | null] {
    return [this.refs[v], this.seconds[v]?.g ?? null];
  }

  /** The gradient of value `v` for a tensor handed to tfjs: its own buffer (no longer released here), else a copy. */
  take(v: number): Float32Array {
    const g = this.of(v);
    if (!g) return new Float32Array(size(this.shapes[v]));
    const i = this.owned.indexOf(g);
    if (i < 0) return g.slice();
    this.owned.splice(i, 1);
    return g;
  }

  /** Adds the gradient that `write` writes into a buffer of the value's size (for the input, value 0: later, on demand). */
  add(v: number, write: (dx: Float32Array) => void): void {
    if (v === 0) {
      this.inputWrites.push(write);
      return;
    }
    const dx = pool.alloc(size(this.shapes[v]));
    write(dx);
    this.addOwned(v, dx);
  }

  /** Whether some of the input's gradient waits for {@link GradientSums.inputGradient}. */
  hasDeferredInput(): boolean {
    return this.inputWrites.length > 0;
  }

  /** The input's gradient, its deferred parts computed now (a fresh array for a tensor handed to tfjs). */
  inputGradient(): Float32Array {
    for (const write of this.inputWrites.splice(0)) {
      const dx = pool.alloc(size(this.shapes[0]));
      write(dx);
      this.addOwned(0, dx);
    }
    return this.take(0);
  }

  /** Adds `g`, a buffer this object now owns and nothing else refers to (a sum may be written into it). */
  addOwned(v: number, g: Float32Array): void {
    this.owned.push(g);
    this.sum(v, g, true);
  }

  /** Adds `g`, a buffer owned elsewhere that stays unchanged until the pass ends. */
  alias(v: number, g: Float32Array): void {
    this.sum(v, g);
  }

  /** Keeps `g` until the pass ends (then it goes back to the pool). */
  keep(g: Float32Array): void {
    this.owned.push(g);
  }

  /** Adds `g` to the gradient of `v` (or keeps it aside, see pairable). */
  private sum(v: number, g: Float32Array, own = false): void {
    if (!this.refs[v]) {
      this.refs[v] = g;
      return;
    }
    if (this.pairable.has(v) && !this.seconds[v]) {
      this.seconds[v] = { g, own };
      return;
    }
    this.of(v);
    this.add2(v, g, own);
  }

  /** Adds `g` to the gradient of `v` now; into `g` itself when it is `own` (no third buffer to bring into cache). */
  private add2(v: number, g: Float32Array, own: boolean): void {
    const prev = this.refs[v]!;
    const total = own ? g : pool.alloc(g.length);
    this.addon.binary('Add', prev, 0, g, 0, total, 1, total.length);
    if (!own) this.owned.push(total);
    this.refs[v] = total;
  }

  release(): void {
    for (const g of this.owned) pool.release(g);
    this.owned.length = 0;
  }
}
