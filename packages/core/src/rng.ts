// Module-level bindings: in sandboxed runtimes (jest's vm contexts) every global lookup such as
// `imul` is slow, and initialising ResNet-152 draws 60 million numbers.
const { imul, sqrt, log, cos, sin, floor, PI } = Math;

/**
 * A small seeded random number generator (xoshiro128**), so model initialisation is reproducible
 * and identical on every backend (tfjs's own random ops depend on the backend).
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | null = null;
  /**
   * True for {@link Rng.placeholder}: layers built with it allocate zeros instead of drawing their
   * initial weights, for a model whose every weight is loaded right after.
   */
  readonly placeholder: boolean = false;

  /**
   * An Rng that draws nothing: every array it returns is zeros. Building a model with it skips the
   * random initialisation (most of the time it takes to build ResNet-50), for weights that are
   * loaded next and strictly, so none of the zeros survives.
   */
  static placeholder(): Rng {
    const rng = new Rng(0);
    (rng as { placeholder: boolean }).placeholder = true;
    return rng;
  }

  constructor(seed = 0) {
    // splitmix32 expands the seed into the four state words.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = imul(rotl(imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A standard normal sample (Box-Muller). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = sqrt(-2 * log(u));
    this.spareNormal = r * sin(2 * PI * v);
    return r * cos(2 * PI * v);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return floor(this.uniform() * n);
  }

  /** `size` normal samples with the given standard deviation. */
  normalArray(size: number, std = 1): Float32Array {
    const out = new Float32Array(size);
    if (this.placeholder) return out;
    let i = 0;
    if (this.spareNormal !== null && size > 0) out[i++] = this.normal() * std;
    // Box-Muller in pairs, inlined: this loop initialises every conv of a model.
    while (i < size) {
      let u = 0;
      while (u === 0) u = this.nextUint32() / 4294967296;
      const v = this.nextUint32() / 4294967296;
      const r = sqrt(-2 * log(u));
      out[i++] = r * cos(2 * PI * v) * std;
      if (i < size) out[i++] = r * sin(2 * PI * v) * std;
      else this.spareNormal = r * sin(2 * PI * v);
    }
    return out;
  }

  /** `size` uniform samples in [low, high). */
  uniformArray(size: number, low: number, high: number): Float32Array {
    const out = new Float32Array(size);
    if (this.placeholder) return out;
    for (let i = 0; i < size; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** Fisher-Yates shuffle of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The full generator state, for checkpoints. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal ?? NaN];
  }

  /** Restores a state from {@link Rng.getState}. */
  setState(state: readonly number[]): void {
    [this.s0, this.s1, this.s2, this.s3] = state.map((v) => v >>> 0);
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
