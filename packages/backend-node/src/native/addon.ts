/**
 * Loads the oneDNN addon (build/Release/resnet_native.node, built by scripts/build-native.mjs).
 * Loading is lazy and remembered: a missing or broken addon is reported once, not thrown on import.
 */
import * as path from 'node:path';

/** The functions exported by the addon (native/resnet_native.cc; the kernels in native/*.cc). All are synchronous and write into `out`. */
export interface NativeAddon {
  /**
   * With `sum`, `out` holds a residual on entry and receives relu?(conv + bias + residual). `layout`
   * (here and in the two backward passes): 1 when the input side (x, dx) and 2 when the output side
   * (out, dy) is channel-blocked (nChw16c) instead of NHWC.
   */
  conv2dForward(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    out: Float32Array,
    params: number[],
    relu: boolean,
    sum?: boolean,
    layout?: number,
  ): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, params: number[], layout?: number): void;
  conv2dBackwardFilter(
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
    dbias: Float32Array | null,
    params: number[],
    layout?: number,
  ): void;
  matmul(a: Float32Array, b: Float32Array, bias: Float32Array | null, out: Float32Array, params: number[], relu: boolean): void;
  poolForward(x: Float32Array, out: Float32Array, params: number[], isMax: boolean): void;
  /** Sets each output of max pooling `y` (NHWC, poolForward's params) whose window in `x` holds a NaN to it. */
  maxPoolPropagateNaN(x: Float32Array, y: Float32Array, params: number[]): void;
  poolBackward(dy: Float32Array, x: Float32Array | null, dx: Float32Array, params: number[], isMax: boolean): void;
  binary(op: string, a: Float32Array, aMode: number, b: Float32Array, bMode: number, out: Float32Array, outer: number, inner: number): void;
  unary(op: string, x: Float32Array, out: Float32Array, alpha?: number): void;
  reduce(op: 'Sum' | 'Mean', x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void;
  batchNormInference(
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    offset: Float32Array | null,
    scale: Float32Array | null,
    out: Float32Array,
    channels: number,
    eps: number,
  ): void;
  tile(x: Float32Array, xShape: number[], reps: number[], out: Float32Array): void;
  /** `out` = `x` (of `xShape`) with its axes reordered as `perm` says. */
  transpose(x: Float32Array, xShape: number[], perm: number[], out: Float32Array): void;
  batchNormGrad(
    dy: Float32Array,
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | null,
    eps: number,
    channels: number,
    dx: Float32Array,
    dmean: Float32Array,
    dvariance: Float32Array,
    dscale: Float32Array,
    doffset: Float32Array,
  ): void;
  /**
   * Train-mode batch norm over x viewed as [rows, channels]: writes y and the batch mean and (biased)
   * variance; y = relu(y + residual) when asked (core's BatchNormEpilogue). `hw` and `layout` (here
   * and in the gradient): the rows per image, and 1 | 2 | 4 when the input (x, dx), output (y, dy) or
   * residual is channel-blocked (nChw16c) instead of NHWC.
   */
  batchNormTrain(
    x: Float32Array,
    scale: Float32Array,
    offset: Float32Array,
    eps: number,
    channels: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    residual: Float32Array | null,
    relu: boolean,
    hw?: number,
    layout?: number,
  ): void;
  /**
   * Gradient of batchNormTrain (statistics as functions of x): writes dx, dscale, doffset. With `y`
   * (the output of a ReLU-ending forward) dy is masked first, and that masked dy is written to
   * `dresidual` when given. For a ReLU-ending batch norm without a residual, the forward's `offset`
   * (and no y) recomputes the ReLU's mask from x instead of reading y. `dy2` (with y and dresidual): a
   * second gradient of the output, added first (dy + dy2, as an Add would) instead of in a pass of its own.
   */
  batchNormTrainGrad(
    dy: Float32Array,
    dmean: Float32Array,
    dvariance: Float32Array,
    x: Float32Array,
    scale: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    eps: number,
    channels: number,
    dx: Float32Array,
    dscale: Float32Array,
    doffset: Float32Array,
    y: Float32Array | null,
    dresidual: Float32Array | null,
    hw?: number,
    layout?: number,
    offset?: Float32Array | null,
    dy2?: Float32Array | null,
  ): void;
  /** oneDNN implementation picked for a conv pass ('fwd' | 'bwd_data' | 'bwd_weights'), e.g. "brgconv:avx512_core". */
  convImpl(params: number[], pass: string, bias?: boolean, relu?: boolean): string;
  /**
   * Advises the whole 2 MiB pages of the `bytes` of `buffer` from its first 2 MiB boundary as
   * transparent huge pages (Linux); returns that boundary's byte offset (0 when it has none).
   */
  adviseHugePages(buffer: ArrayBuffer, bytes: number): number;
  /**
   * Builds a compiled inference plan (native/plan.cc) for an NHWC input of `inputDims` from the op
   * list of src/native/plan-lower.ts; returns an opaque handle. `options.winograd` (default true) lets
   * 3x3 stride-1 convs of 32+ channels run as oneDNN Winograd convs where that is faster (native/plan.cc);
   * `options.deferWinograd` builds those direct for now and counts them in `planInfo().winogradDeferred`.
   */
  planCreate(
    inputDims: number[],
    numValues: number,
    ops: object[],
    output: number,
    options?: { winograd?: boolean; deferWinograd?: boolean },
  ): NativePlanHandle;
  /** Runs a plan: `x` NHWC of the planned shape, `out` receives the logits [N, classes]. */
  planRun(plan: NativePlanHandle, x: Float32Array, out: Float32Array): void;
  /** What a plan is made of: the oneDNN implementation of each primitive, activation reorders per run, buffer bytes. */
  planInfo(plan: NativePlanHandle): NativePlanInfo;
  /** Frees a plan's primitives, weights and buffers now (idempotent; otherwise the garbage collector does). */
  planDispose(plan: NativePlanHandle): void;
  /**
   * torch.optim.SGD's update of one parameter (core's ResnetSgdStep): writes `outParam` and, with
   * momentum, `outBuf` (`buf` null on the first step). Same float32 rounding as core's tfjs composite.
   */
  sgdStep(
    param: Float32Array,
    grad: Float32Array,
    buf: Float32Array | null,
    outParam: Float32Array,
    outBuf: Float32Array | null,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
  /** oneDNN version, e.g. "2.6.3". */
  version(): string;
  /** Drops all cached primitives. */
  clearCache(): void;
  /** One full garbage collection now (for large buffers just let go: see releaseFileBackedSources). */
  collectGarbage(): void;
  /**
   * Pins OpenMP worker thread t (t >= 1) to the t-th CPU the process may use, when the team has one
   * thread per usable CPU (Linux). Returns each thread's CPU (-1: not pinned), [] when none was.
   */
  pinWorkerThreads(): number[];
}

/** An opaque native plan (a Node-API External). */
export type NativePlanHandle = { readonly __nativePlan: unique symbol };

/** See {@link NativeAddon.planInfo}. */
export interface NativePlanInfo {
  primitives: string[];
  reorders: number;
  bytes: number;
  /** Convs built direct that would run as Winograd convs without `deferWinograd`. */
  winogradDeferred: number;
}

/** Where the addon is looked for: $RESNET_TS_NATIVE_ADDON, else <package root>/build/Release. */
export function addonPath(): string {
  const fromEnv = process.env.RESNET_TS_NATIVE_ADDON;
  if (fromEnv) return path.resolve(fromEnv);
  // This file is src/native/addon.ts (tests) or dist/native/addon.js (build): two levels below the root.
  return path.resolve(__dirname, '..', '..', 'build', 'Release', 'resnet_native.node');
}

let cached: { addon: NativeAddon | null; error?: string } | undefined;
let pinnedCpus: number[] = [];

/**
 * Whether loading the addon pins the OpenMP worker threads (native/threads.cc says why): yes unless
 * `RESNET_TS_PIN_THREADS=0`, or the user placed the threads already (`OMP_PROC_BIND`, `OMP_PLACES`,
 * `GOMP_CPU_AFFINITY`: their choice wins).
 */
export function shouldPinWorkers(env: NodeJS.ProcessEnv): boolean {
  if (env.RESNET_TS_PIN_THREADS === '0') return false;
  return env.OMP_PROC_BIND === undefined && env.OMP_PLACES === undefined && env.GOMP_CPU_AFFINITY === undefined;
}

/** The CPU each OpenMP thread of the native engine was pinned to when it loaded (-1: free); [] when none was. */
export function pinnedWorkerCpus(): number[] {
  return [...pinnedCpus];
}

/** The addon, or null with the reason it could not be loaded. */
export function loadAddon(): { addon: NativeAddon | null; error?: string } {
  if (cached) return cached;
  const file = addonPath();
  // oneDNN runs on OpenMP threads (libgomp), which wait for the next parallel region by spinning
  // GOMP_SPINCOUNT times, then sleeping. A forward is hundreds of short regions: with no spin
  // (OMP_WAIT_POLICY=PASSIVE) every region pays a futex wake-up of the other thread, and on a
  // virtual machine that wake-up is slow enough that the threads keep missing each other: measured
  // on 2 vCPUs, ResNet-50 batch 1 ran at 70 ms with one core busy, 45 ms with a short spin (onnxruntime:
  // 43 ms); ResNet-18 b1 34 -> 19 ms, ResNet-20 b128 77 -> 59 ms. 10000 spins was as slow as none, 30000
  // and more all fast; 100000 spins is ~3 ms of one core after the last kernel before the threads
  // sleep (libgomp's own default, 300000, ~10 ms), so other processes still get idle cores. libgomp
  // reads this when it is loaded, i.e. on the require below; a value set by the user (either
  // variable) wins. It is removed again afterwards, so child processes (the PyTorch peer, Python
  // scripts) keep their own OpenMP settings.
  const setSpin = process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined;
  if (setSpin) process.env.GOMP_SPINCOUNT = '100000';
  try {
    const addon = require(file) as NativeAddon;
    pinnedCpus = shouldPinWorkers(process.env) ? addon.pinWorkerThreads() : [];
    cached = { addon };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = err.code === 'MODULE_NOT_FOUND';
    cached = {
      addon: null,
      error: missing ? 'addon not built (oneDNN not found at build time)' : `addon failed to load: ${err.message}`,
    };
  } finally {
    if (setSpin) delete process.env.GOMP_SPINCOUNT;
  }
  return cached;
}

/** The addon, or throws with the reason. */
export function requireAddon(): NativeAddon {
  const { addon, error } = loadAddon();
  if (!addon) throw new Error(`native backend unavailable: ${error}`);
  return addon;
}
